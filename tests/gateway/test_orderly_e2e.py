"""Orderly charging end to end: a real `jc-gateway run` against the simulator (scenario
`test`: 160 kVA, 20 kW base load; pile 1 = 7 kW AC), both running a day 60 times faster.
The gateway's day starts at 22:50 in Shanghai; the valley begins at 23:00. A driver who
leaves at 23:45 wants 1.5 kWh: the session waits through the peak at 0 W, charges in the
valley, has its energy well before the departure, and the transformer stays under its 80 %
target the whole time. Judged by the gateway's status, its records, and what the simulated
pile draws. The cloud is not involved: the plan is the gateway's own (offline by design)."""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.cli import format_status
from jcproto import parse_record
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SPEED = 60.0  # 1 real second is one minute of the station's day
SH = ZoneInfo("Asia/Shanghai")
TARIFF = {"id": "t-night", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "07:00", "end": "23:00", "name": "peak", "energy_price_e4": 10_000, "service_price_e4": 4_000},
    {"start": "23:00", "end": "07:00", "name": "valley", "energy_price_e4": 3_000, "service_price_e4": 4_000}]}
WANTED_WH = 1_500
TARGET_PCT = 80.0


def ms(hh: int, mm: int) -> int:
    return int(datetime(2026, 6, 1, hh, mm, tzinfo=SH).timestamp() * 1000)


def pile_gun(sim):
    return sim.control("GET", "/piles/1")["guns"][0]


def test_an_orderly_session_waits_for_the_valley_and_has_its_energy_by_the_departure(tmp_path):
    valley, departure = ms(23, 0), ms(23, 45)
    with SimProcess("test", speed=SPEED) as sim:
        clock = (time.time(), ms(22, 50) / 1000, SPEED)  # starting up takes minutes of it
        with GatewayProcess(sim, tmp_path, cards=["C1"], tariff=TARIFF, test_clock=clock) as gw:
            def wall_ms() -> int:
                return int((clock[1] + (time.time() - clock[0]) * SPEED) * 1000)

            sim.control("POST", "/piles/1/guns/1/plug", {"ev": {"start_soc": 20}})
            gw.wait(lambda s: GatewayProcess.gun(s, "P1-1")["state"] == "plugged", what="plugged")
            assert wall_ms() < valley - 60_000, "the gateway took too long to start for this test"
            code, body = gw.post("/api/sessions/start", {"gun": "P1-1", "card": "C1", "departure_at": departure,
                                                         "limit": {"mode": "energy", "value": WANTED_WH}})
            assert code == 200, body
            assert body["orderly"]["status"] == "on_track" and body["orderly"]["finish_at"] <= departure
            # the peak: the session is open and waits at 0 W, shown as waiting
            st = gw.wait(lambda s: (GatewayProcess.gun(s, "P1-1")["session"] or {}).get("orderly"),
                         what="the session's plan on the status page")
            ResponseChecker(load_spec("gateway"))(path="/api/status", method="get", status=200,
                                                   content_type="application/json", body=st)
            plan = GatewayProcess.gun(st, "P1-1")["session"]["orderly"]
            assert plan["waiting"] and plan["power_w"] == 0 and plan["slots"][0]["power_w"] == 0
            assert any(sl["power_w"] > 0 and sl["start"] >= valley for sl in plan["slots"])
            text = format_status(st)  # what `jc-gateway status` prints
            assert "orderly on_track" in text and "waiting for a cheaper slot" in text
            loads = []
            while wall_ms() < valley - 20_000:
                g = pile_gun(sim)
                assert g["power_w"] == 0, f"drew {g['power_w']} W in the peak"
                loads.append(gw.status()["load"]["load_pct"])
                time.sleep(0.25)
            # the valley: it charges, and stops by itself with the energy wanted
            recs = gw.wait_records(lambda r: any(x["type"] == "session_ended" for x in r), timeout=60,
                                   what="the session ends with its energy")
            loads.append(gw.status()["load"]["load_pct"])

    started = [r for r in recs if r["type"] == "session_started"]
    progress = [r for r in recs if r["type"] == "session_progress"]
    [ended] = [r for r in recs if r["type"] == "session_ended"]
    for r in recs:
        parse_record(r)  # valid under the protocol's schemas, orderly fields included
    assert started[0]["orderly"]["departure_at"] == departure
    delivered = ended["energy_stop_wh"] - ended["energy_start_wh"]
    assert ended["stop_reason"] == "limit" and delivered >= WANTED_WH
    assert valley < ended["ended_at"] <= departure, "not delivered by the departure"
    assert ended["orderly"]["status"] == "done" and ended["orderly"]["expected_wh"] == delivered
    # nothing drawn before the valley; every progress record said how the plan stood
    before = [p for p in progress if p["ts"] < valley]
    assert before and all(p["energy_wh"] == ended["energy_start_wh"] for p in before)
    assert all(p["orderly"]["status"] in ("on_track", "done") for p in progress)
    # the transformer stayed under its target throughout
    assert loads and max(x for x in loads if x is not None) <= TARGET_PCT
