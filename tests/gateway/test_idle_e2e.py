"""The idle fee end to end: a real `jc-gateway run` against the simulator. A card session
ends at its energy limit, the car stays plugged past the grace, is unplugged, and the
outbox holds `gun_released` with the idle fee the tariff says — also when the gateway is
killed between the end and the unplug. Prices are given to four decimals (`_e4`), and the
session's cost is the sum of its per-fee lines."""

from __future__ import annotations

import time

from edge.cli import format_status
from jcproto import parse_record
from jcproto.tariff import CostMeter, Tariff
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

DC = 3
SPEED = 30.0  # simulator and gateway wall clock: 1 real second is 30 s
IDLE = {"grace_min": 1, "step_min": 1, "fen_per_step": 40, "cap_fen": 10_000}
TARIFF = {"id": "t-idle", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6855, "service_price_e4": 4321}],
    "idle": IDLE}


def idle_fee(ended_at: int, released_at: int) -> int:
    """The rule, written out: each started minute past the one-minute grace costs 40 fen."""
    over = released_at - ended_at - IDLE["grace_min"] * 60_000
    steps = 0 if over <= 0 else -(-over // (IDLE["step_min"] * 60_000))
    return min(steps * IDLE["fen_per_step"], IDLE["cap_fen"])


def run_session(gw: GatewayProcess, sim: SimProcess) -> dict:
    sim.control("POST", f"/piles/{DC}/guns/1/plug", {"ev": {"start_soc": 20}})
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "plugged", what="plugged")
    code, body = gw.post("/api/sessions/start", {"gun": "P3-1", "card": "C1",
                                                 "limit": {"mode": "energy", "value": 1_500}})
    assert code == 200, body
    recs = gw.wait_records(lambda r: any(x["type"] == "session_ended" for x in r), timeout=60,
                           what="the session ends at its energy limit")
    ended = next(x for x in recs if x["type"] == "session_ended")
    assert ended["stop_reason"] == "limit" and ended["session_id"] == body["session_id"]
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "finishing", what="the car stays plugged")
    return ended


def check_release(gw: GatewayProcess, ended: dict, unplugged_ms: int) -> dict:
    recs = gw.wait_records(lambda r: any(x["type"] == "gun_released" for x in r), timeout=20,
                           what="gun_released after the unplug")
    [rel] = [x for x in recs if x["type"] == "gun_released"]
    parse_record(rel)  # valid against the protocol's schema
    assert rel["session_id"] == ended["session_id"] and rel["gun"] == "P3-1"
    # seen within a few polls of the unplug (the gateway's wall clock runs 30x)
    assert unplugged_ms - 2_000 <= rel["released_at"] <= unplugged_ms + 3 * SPEED * 1000
    assert rel["idle_fen"] == idle_fee(ended["ended_at"], rel["released_at"]) > 0
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    return rel


def check_cost(gw: GatewayProcess, ended: dict) -> None:
    wh = ended["energy_stop_wh"] - ended["energy_start_wh"]
    meter = CostMeter(Tariff.from_dict(TARIFF), ended["started_at"], ended["energy_start_wh"])
    meter.feed(ended["ended_at"], ended["energy_stop_wh"])
    [line] = meter.lines()
    # one period: 电费 and 服务费 each rounded once, and they add up to the session's cost
    assert line.energy_fen == (2 * wh * 6855 + 100_000) // 200_000
    assert line.service_fen == (2 * wh * 4321 + 100_000) // 200_000
    assert ended["cost_fen"] == line.energy_fen + line.service_fen


def test_the_car_left_plugged_past_the_grace_pays_the_idle_fee(tmp_path):
    with SimProcess("test", speed=SPEED) as sim, GatewayProcess(sim, tmp_path, cards=["C1"], tariff=TARIFF) as gw:
        ended = run_session(gw, sim)
        check_cost(gw, ended)
        time.sleep(150 / SPEED)  # 2.5 simulated minutes plugged after the end
        assert gw.records("gun_released") == []
        # the status shows the car waiting and its fee so far, as the API document says
        st = gw.status()
        ResponseChecker(load_spec("gateway"))(path="/api/status", method="get", status=200,
                                               content_type="application/json", body=st)
        idle = GatewayProcess.gun(st, "P3-1")["idle"]
        assert idle["session_id"] == ended["session_id"] and idle["ended_at"] == ended["ended_at"]
        assert idle["idle_fen_now"] >= 2 * IDLE["fen_per_step"]
        text = format_status(st)  # what `jc-gateway status` prints
        assert f"idle after {ended['session_id'][:8]}: {idle['idle_fen_now'] / 100:.2f} CNY" in text
        unplugged_ms = int(_wall(gw) * 1000)
        sim.control("POST", f"/piles/{DC}/guns/1/unplug")
        rel = check_release(gw, ended, unplugged_ms)
        assert rel["idle_fen"] >= 2 * IDLE["fen_per_step"]
        gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["idle"] is None, what="no idle time shown once the car left")
        row = next(s for s in gw.sessions() if s["session_id"] == ended["session_id"])
        assert row["release_pending"] == 0 and row["idle_fen"] == rel["idle_fen"]


def test_a_restart_between_the_end_and_the_unplug_loses_nothing(tmp_path):
    with SimProcess("test", speed=SPEED) as sim:
        gw = GatewayProcess(sim, tmp_path, cards=["C1"], tariff=TARIFF)
        with gw:
            ended = run_session(gw, sim)
            time.sleep(60 / SPEED)
            gw.kill()
            time.sleep(0.5)
            gw.start()
            gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "finishing", what="seen again")
            time.sleep(90 / SPEED)
            assert gw.records("gun_released") == []
            unplugged_ms = int(_wall(gw) * 1000)
            sim.control("POST", f"/piles/{DC}/guns/1/unplug")
            rel = check_release(gw, ended, unplugged_ms)
        assert rel["idle_fen"] >= 2 * IDLE["fen_per_step"]


def _wall(gw: GatewayProcess) -> float:
    """The gateway's wall clock now (it runs SPEED times real time from its anchor)."""
    anchor, start, speed = gw.test_clock
    return start + (time.time() - anchor) * speed
