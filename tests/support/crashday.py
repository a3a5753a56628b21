"""The kill -9 day, shared by the crash test (tests/gateway/test_crash.py, 100 kills) and the
soak (bench/crash_soak.py, 1,000 kills as ten such days).

    scenario = day_scenario(tmp / "crashday.toml")
    truth, gw, kills = run_day(scenario, tmp / "gw", random.Random(seed), kills=100)
    summary = check_day(gw, truth, kills)    # the test's assertions; AssertionError on a violation

`run_day` starts the simulator at SPEED and the gateway (free vend on every gun), SIGKILLs
the gateway `kills` times at random moments (0.05..1 s apart) and restarts it each time on the
same store, lets the day end with it running, stops it, and returns the simulator's final
state (the truth), the gateway (its store stays on disk) and the number of kills.
A restart that fails raises `RestartFailed`.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateway import GatewayError, GatewayProcess
from tests.support.sim import SimProcess

SPEED = 240.0  # a simulated hour in 15 s


class RestartFailed(RuntimeError):
    def __init__(self, message: str, kills: int) -> None:
        super().__init__(message)
        self.kills = kills  # kills so far, the last one's restart failed


def day_scenario(path: Path) -> Path:
    """07:00-15:00: every gun gets an EV each hour for 40 minutes; a fault on the 22 kW
    pile at 10:10; the base load swings across 50 % and 80 % at midday."""
    evs = []
    guns = [(1, 1), (2, 1), (3, 1), (3, 2)]
    for hour in range(7, 15):
        for i, (unit, gun) in enumerate(guns):
            start = hour * 60 + 5 + 3 * i
            evs.append(f"""
[[ev]]
name = "ev-{unit}-{gun}-{hour}"
unit = {unit}
gun = {gun}
plug_in = "{start // 60:02d}:{start % 60:02d}"
unplug = "+40m"
battery_kwh = 80
start_soc = 20
dc_max_power_w = 50000
""")
    text = f"""
[scenario]
name = "crashday"
description = "a day of sessions for the crash test"
start_time = "07:00"
seed = 99

[timing]
start_delay_s = 0.3
limit_delay_s = 0.2

[transformer]
rated_kva = 250

[meter]
unit = 10

[base_load]
points = [["00:00", 30.0], ["11:30", 30.0], ["12:00", 120.0], ["12:30", 190.0], ["13:00", 60.0], ["23:00", 30.0]]

[[pile]]
unit = 1
id = "AC7"
current = "AC"
phases = 1
guns = 1
rated_power_w = 7000
max_current_a = 32
min_current_a = 6

[[pile]]
unit = 2
id = "AC22"
current = "AC"
phases = 3
guns = 1
rated_power_w = 22000
max_current_a = 32
min_current_a = 6

[[pile]]
unit = 3
id = "DC120"
current = "DC"
guns = 2
rated_power_w = 60000
max_current_a = 200

[[event]]
at = "10:10"
action = "fault"
unit = 2
fault = "over_temperature"
until = "10:20"

[[event]]
at = "10:25"
action = "reset"
unit = 2
{''.join(evs)}
"""
    path.write_text(text)
    return path


def sim_clock_minutes(sim: SimProcess) -> float:
    clock = sim.state()["clock"]
    h, m = clock["time_of_day"].split(":")[:2]
    return int(h) * 60 + int(m)


def run_day(scenario: Path, gw_dir: Path, rng: random.Random, kills: int,
            speed: float = SPEED) -> tuple[dict[str, Any], GatewayProcess, int]:
    """The scripted day with `kills` SIGKILLs; returns (simulator's final state, gateway, kills)."""
    with SimProcess(scenario, speed=speed) as sim:
        gw = GatewayProcess(sim, gw_dir, free_vend={"P1": [1], "P2": [1], "P3": [1, 2]},
                            poll_period_s=0.25)
        done = 0
        gw.start()
        try:
            while done < kills:
                time.sleep(rng.uniform(0.05, 1.0))
                gw.kill()
                done += 1
                try:
                    gw.start()
                except GatewayError as exc:
                    raise RestartFailed(f"restart {done} failed: {exc}", done) from exc
            # let the day end (every EV gone by 15:00) with the gateway running, then stop it
            deadline = time.monotonic() + 180
            while sim_clock_minutes(sim) < 15 * 60 + 5 and time.monotonic() < deadline:
                time.sleep(0.5)
            gw.wait(lambda s: all(g["session"] is None for g in s["guns"]), timeout=20,
                    what="all sessions closed")
            assert gw.stop() == 0
        finally:
            gw.kill()
        truth = sim.state()
    return truth, gw, done


def check_day(gw: GatewayProcess, truth: dict[str, Any], kills: int) -> dict[str, int]:
    """Nothing lost or duplicated (AssertionError otherwise); returns kills, records, sessions."""
    records = gw.records()
    # 1. every seq once, gapless from 1
    seqs = [r["seq"] for r in records]
    assert seqs == list(range(1, len(seqs) + 1))
    # 2. every session the piles ran, once, with the pile's energy
    started = [r for r in records if r["type"] == "session_started"]
    ended = [r for r in records if r["type"] == "session_ended"]
    assert len({r["session_id"] for r in started}) == len(started)
    assert sorted(r["session_id"] for r in ended) == sorted(r["session_id"] for r in started)
    conn = sqlite3.connect(gw.store_path)
    try:
        rows = conn.execute("SELECT gun, pile_session_counter, energy_start_wh, energy_last_wh, state "
                            "FROM sessions").fetchall()
        assert all(r[4] == "ended" for r in rows)
        by_gun: dict[str, list[int]] = defaultdict(list)
        for gun, counter, *_ in rows:
            by_gun[gun].append(counter)
        ends = {r["session_id"]: r for r in ended}
        energy_by_gun: dict[str, int] = defaultdict(int)
        for r in started:
            e = ends[r["session_id"]]
            energy_by_gun[r["gun"]] += e["energy_stop_wh"] - e["energy_start_wh"]
        piles = {p["unit"]: p for p in truth["piles"]}
        for gun_id, (unit, n) in {"P1-1": (1, 1), "P2-1": (2, 1), "P3-1": (3, 1), "P3-2": (3, 2)}.items():
            pg = piles[unit]["guns"][n - 1]
            assert sorted(by_gun[gun_id]) == list(range(1, pg["session"]["counter"] + 1)), gun_id
            # all the energy the gun delivered is billed to its sessions (estimates allowed a little)
            assert energy_by_gun[gun_id] == pytest.approx(pg["energy_total_wh"], rel=0.01, abs=5), gun_id
        assert sum(len(v) for v in by_gun.values()) >= 20
        # 3. event chains are unbroken: each change starts where the previous one ended
        events = [r for r in records if r["type"] == "event"]
        for gun_id in by_gun:
            chain = [e["detail"] for e in events if e["kind"] == "gun_state" and e["gun"] == gun_id]
            for a, b in zip(chain, chain[1:], strict=False):
                assert b["from"] == a["to"], (gun_id, a, b)
        levels = [e["detail"] for e in events if e["kind"] == "load_level"]
        for a, b in zip(levels, levels[1:], strict=False):
            assert b["from"] == a["level"], (a, b)
        assert {"capped", "blocked"} <= {lv["level"] for lv in levels}
        assert [e["detail"]["faults"] for e in events if e["kind"] == "fault_raised"] == [["over_temperature"]]
        # 4. the store is intact
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    return {"kills": kills, "records": len(records), "sessions": len(started)}
