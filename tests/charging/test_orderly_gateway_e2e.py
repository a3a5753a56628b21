"""Orderly charging end to end, through the driver API: the cloud app, Mosquitto, ingest, a
provisioned `jc-gateway run` and the simulator (scenario `test`: 160 kVA, 20 kW base load;
pile 1 = 7 kW AC). The gateway and the simulator run the station's day 60 times faster
(tomorrow, from noon, Shanghai). The station's tariff is made when the driver is ready: its
valley begins eleven or twelve minutes of the station's day later and lasts two hours. The
car's on-board charger takes 16 A (3.7 kW on this 230 V pile: `EV`), which the pile map
cannot tell the gateway. A driver who leaves 100 minutes into the valley asks for 5 kWh by
then ("charge until departure"): the session waits through the peak at 0 W; the cloud link is
cut once the start is acknowledged and stays cut into the valley; the session charges in the
valley, the gateway learns that the car takes about 3.7 kW (not the pile's 7) and plans with
it, offline; the link comes back, the session has its energy before the departure, the
transformer stays under its 80 % target throughout, the records of the outage reach the cloud
once each, and the driver's order says how the plan stood.
(Command expiry runs on real time at both ends; only the station's wall clock is fast.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cloud.db import db, take_write_lock
from cloud.fakes.server import FakeServer
from cloud.models import StationState
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from edge.cli import format_status
from jcproto import parse_record
from tests.charging.support import ORDERS, new_driver, top_up
from tests.charging.test_gateway_e2e import SID, _wait
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.drivers_api.support import APPID, SECRET
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SPEED = 60.0  # 1 real second is one minute of the station's day
SH = ZoneInfo("Asia/Shanghai")
MINUTE_MS = 60_000


def tariff_with_valley_at(valley_ms: int, hours: int = 2) -> dict:
    """Peak all day but for a valley of `hours` beginning at `valley_ms` (a whole minute)."""
    start = datetime.fromtimestamp(valley_ms / 1000, SH)
    end = start + timedelta(hours=hours)
    a, b = start.strftime("%H:%M"), end.strftime("%H:%M")
    return {"currency": "CNY", "periods": [
        {"start": a, "end": b, "name": "valley", "energy_price_e4": 3_000, "service_price_e4": 4_000},
        {"start": b, "end": a, "name": "peak", "energy_price_e4": 10_000, "service_price_e4": 4_000}]}
WANTED_WH = 5_000
# The car: its on-board charger draws 16 A, whatever the pile offers (firmware_sim/ev.py)
EV = {"name": "slow-obc", "start_soc": 20, "ac_max_current_a": 16, "ac_phases": 1}
ACCEPT_W = (3_300, 3_900)  # 16 A at the simulator's 230 V ± its noise
TARGET_PCT = 80.0
CODE = "JCORD0001"


def noon(day: datetime) -> int:
    return int(day.replace(hour=12, minute=0, second=0, microsecond=0).timestamp() * 1000)


def test_an_orderly_order_waits_for_the_valley_and_has_its_energy_by_the_departure(
        tmp_path: Path, wechat: FakeServer) -> None:
    day = datetime.now(SH) + timedelta(days=1)  # ahead of the cloud's clock, as a departure must be
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test", speed=SPEED) as sim:
        app = cloud.app
        app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url,
                          WECHAT_TIMEOUT_S=2.0, CHARGING_START_TIMEOUT_S=10.0)
        gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1")
        tok = cloud.token(SID)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        done = subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                               "--url", cloud.url, "--token", tok["token"], "--ca-fingerprint", tok["ca_sha256"]],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        with app.app_context(), db.transaction() as s:
            take_write_lock(s)  # beside ingest's writers (SQLite)
            stations.set_station(s, SID, name="夜充站", lat=31.2304, lng=121.4737, address="测试路 2 号")
            stations.set_gun(s, SID, "P1-1", code=CODE, rated_power_w=7_000, kind="ac")
        # the station's clock from the moment the gateway starts
        gw.test_clock = clock = (time.time(), noon(day) / 1000, SPEED)

        def wall_ms() -> int:
            return int((clock[1] + (time.time() - clock[0]) * SPEED) * 1000)

        try:
            gw.start()
            gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", what="connected")
            sim.control("POST", "/piles/1/guns/1/plug", {"ev": EV})

            def plugged_at_cloud() -> bool:
                with app.app_context():
                    row = db.session.get(StationState, SID)
                    gun = stations.live_gun(db.session, SID, "P1-1")
                    db.session.rollback()
                    return bool(row and row.online and gun and gun["state"] == "plugged")

            _wait(plugged_at_cloud, what="P1-1 plugged in the cloud's telemetry")
            client = app.test_client()
            h, did = new_driver(client, wechat, "night-owl")
            top_up(app, did, 10_000)
            valley = (wall_ms() // MINUTE_MS + 12) * MINUTE_MS  # seconds of real time for the start
            # inside the valley: 5 kWh takes 43 minutes at the pile's 7 kW, 82 at the car's 3.7 (the
            # plan gives the pile's 7 kW for at least half an hour of the station's day, 30 s of
            # real time: room for the 25 s the gateway takes to learn the car)
            departure = valley + 100 * MINUTE_MS
            with app.app_context(), db.transaction() as s:
                take_write_lock(s)  # beside ingest's writers (SQLite): no lock upgrade to lose
                tariffs.assign(s, SID, tariffs.create(s, tariff_with_valley_at(valley), code="tou").tariff_id,
                               effective_from=0, backdate=True)
            r = client.post(ORDERS, json={"gun_code": CODE, "limit": {"mode": "energy", "value": WANTED_WH},
                                          "departure_at": departure}, headers=h)
            assert r.status_code == 201, r.json
            oid = r.json["order_id"]
            assert r.json["departure_at"] == departure

            # the peak: the session is open at the station and waits at 0 W, shown as waiting
            st = gw.wait(lambda s: (GatewayProcess.gun(s, "P1-1")["session"] or {}).get("orderly"),
                         what="the session's plan on the status page")
            ResponseChecker(load_spec("gateway"))(path="/api/status", method="get", status=200,
                                                   content_type="application/json", body=st)
            plan = GatewayProcess.gun(st, "P1-1")["session"]["orderly"]
            assert plan["waiting"] and plan["power_w"] == 0 and plan["slots"][0]["power_w"] == 0
            assert all(sl["start"] >= valley for sl in plan["slots"] if sl["power_w"] > 0)
            text = format_status(st)  # what `jc-gateway status` prints
            assert "orderly on_track" in text and "waiting for a cheaper slot" in text
            _wait(lambda: (client.get(f"{ORDERS}/{oid}", headers=h).json["orderly"] or {}).get("status")
                  == "on_track", what="the order shows the plan")

            # the start is acknowledged: the cloud link is cut, through the peak and into the valley
            cut_at = wall_ms()
            broker.stop()
            gw.wait(lambda s: not s["sync"]["connected"], timeout=30, what="the link cut")
            assert wall_ms() < valley - 60_000, "the start took too long: no peak left to wait through"
            loads = []
            while wall_ms() < valley - 20_000:
                g = sim.control("GET", "/piles/1")["guns"][0]
                assert g["power_w"] == 0, f"drew {g['power_w']} W in the peak"
                loads.append(gw.status()["load"]["load_pct"])
                time.sleep(0.25)

            # the valley, offline: it charges at what the car takes, and the gateway learns it
            def orderly_now() -> dict | None:
                st = gw.status()
                loads.append(st["load"]["load_pct"])
                return (GatewayProcess.gun(st, "P1-1")["session"] or {}).get("orderly")

            first_plan = None
            while True:
                o = orderly_now()
                assert o is not None and wall_ms() < departure, f"no acceptance learned: {o}"
                if first_plan is None and wall_ms() >= valley + 2 * MINUTE_MS and o["power_w"]:
                    first_plan = o  # charging, the car not known yet: the pile's 7 kW counted on
                    assert o["acceptance_w"] is None and o["power_w"] == 7_000
                if o["acceptance_w"] is not None:
                    learned = o
                    break
                time.sleep(0.25)
            assert first_plan is not None
            assert ACCEPT_W[0] <= learned["acceptance_w"] <= ACCEPT_W[1], learned
            assert learned["status"] == "on_track" and learned["expected_wh"] == WANTED_WH
            # planned again with it: after the time the pile's power would finish by, still before the
            # departure, the slot in hand still at the pile's power (the car may take more)
            assert first_plan["finish_at"] < learned["finish_at"] <= departure
            assert learned["finish_at"] >= valley + 75 * MINUTE_MS
            assert learned["slots"][0]["power_w"] == 7_000
            assert not gw.status()["sync"]["connected"]
            # (ingest may still store what was delivered before the cut; nothing made after it)
            late = [r["ts"] for r in cloud.rows("raw_records", sid=SID) if r["ts"] > cut_at + 2_000]
            assert not late, f"records made after the cut arrived over a cut link: {late}"

            # the link comes back; the session stops by itself with the energy wanted
            back_at = wall_ms()
            broker.start()
            seen_session = True
            while seen_session:
                assert wall_ms() < departure, "no end by the departure"
                st = gw.status()
                loads.append(st["load"]["load_pct"])
                seen_session = GatewayProcess.gun(st, "P1-1")["session"] is not None
                time.sleep(0.25)
            gw.wait(lambda s: s["sync"]["connected"], timeout=90, what="reconnected")
            seen: list[dict] = []

            def order_ended() -> dict | None:
                seen.append(v := client.get(f"{ORDERS}/{oid}", headers=h).json)
                return v if v["ended_at"] is not None else None

            try:
                view = _wait(order_ended, what="the order's session ended at the cloud")
            except AssertionError:
                raise AssertionError(f"the order: {seen[-1] if seen else None}") from None
            # the records as the cloud holds them (the gateway drops what the cloud acked)
            recs = [r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
                    for r in sorted(cloud.rows("raw_records", sid=SID), key=lambda r: r["seq"])]
        finally:
            gw.stop()
            gw.kill()

    # each record once, none missing: the outbox drained in order after the cut
    seqs = [r["seq"] for r in recs]
    assert len(seqs) == len(set(seqs)) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    sessions = [r for r in recs if r["type"].startswith("session_")]
    for r in sessions:
        parse_record(r)  # valid under the protocol's schemas, orderly fields included
    started = [r for r in sessions if r["type"] == "session_started"]
    progress = [r for r in sessions if r["type"] == "session_progress"]
    [ended] = [r for r in sessions if r["type"] == "session_ended"]
    assert started[0]["order_id"] == oid and started[0]["orderly"]["departure_at"] == departure
    delivered = ended["energy_stop_wh"] - ended["energy_start_wh"]
    assert ended["stop_reason"] == "limit" and delivered >= WANTED_WH
    assert valley < ended["ended_at"] <= departure, "not delivered by the departure"
    # at what the car takes: well over the 43 minutes the pile's power would have needed
    assert ended["ended_at"] - valley >= 70 * MINUTE_MS
    assert len(started) == 1 and [p["ts"] for p in progress] == sorted({p["ts"] for p in progress})
    # what the gateway recorded while the link was cut reached the cloud after it came back
    assert [p for p in progress if cut_at + 2_000 < p["ts"] < back_at]
    assert ended["orderly"]["status"] == "done" and ended["orderly"]["expected_wh"] == delivered
    # nothing drawn before the valley; every progress record said how the plan stood
    before = [p for p in progress if p["ts"] < valley]
    assert before and all(p["energy_wh"] == ended["energy_start_wh"] for p in before)
    assert all(p["orderly"]["status"] in ("on_track", "done") for p in progress)
    # the transformer stayed under its target throughout
    assert loads and max(x for x in loads if x is not None) <= TARGET_PCT
    # the driver's order: the energy, and the plan's last word
    assert view["energy_wh"] == delivered and view["orderly"]["status"] == "done"
