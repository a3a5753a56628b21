"""The activity log (GET /log): timestamped writes, base-load steps, the meter's load change and
its S-total reads, which the benches use to time a gateway's reaction."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any

from firmware_sim import scenario as scenarios
from firmware_sim.app import Options, SimApp
from firmware_sim.clock import ManualClock
from firmware_sim.registers import meter_field, pile_field
from firmware_sim.station import S_TOTAL_ADDRESS, Station

LIMIT_G1, _ = pile_field("holding", "power_limit", 1)
_, S_TOTAL = meter_field("s_total")


def test_writes_base_load_steps_and_the_load_change_are_logged(clock: ManualClock,
                                                               station: Station) -> None:
    clock.advance(1.0)
    station.tick()
    assert station.write(1, LIMIT_G1, [0, 3500]) is None
    bad = station.write(1, 9, [1])  # offset 9 of the device block is not writable
    assert bad is not None
    log = station.activity_since()["entries"]
    assert [(e["kind"], e["unit"], e["address"], e["values"], e["error"]) for e in log] == [
        ("write", 1, LIMIT_G1, [0, 3500], None), ("write", 1, 9, [1], int(bad))]
    assert log[0]["t"] == clock.real()

    before = station.meter.load_pct
    station.set_base_load(100.0)  # 20 kW -> 100 kW on 160 kVA
    clock.advance(0.5)
    station.tick()
    station.tick()  # one load entry per step, not per tick
    after = station.activity_since(since=log[-1]["seq"])["entries"]
    assert [e["kind"] for e in after] == ["base_load", "load"]
    assert after[0]["kw"] == 100.0 and after[0]["source"] == "api"
    assert after[1]["t"] == clock.real() and after[1]["load_pct"] > before + 40
    assert after[1]["load_pct"] == round(station.meter.load_pct, 3)


def test_meter_reads_of_s_total_are_logged_with_what_they_carry(clock: ManualClock,
                                                                 station: Station) -> None:
    unit = station.scenario.meter.unit
    address = S_TOTAL_ADDRESS
    station.set_base_load(100.0)
    clock.advance(0.5)
    station.tick()
    seq = station.activity_since(since=10**9)["last_seq"]
    regs = station.read(unit, "input", address - 2, 4)
    station.read(unit, "input", 0, 2)  # not covering S total: not logged
    station.read(1, "input", address, 2)  # a pile's register at the same address: not logged
    log = station.activity_since(since=seq)["entries"]
    assert [(e["kind"], e["unit"], e["address"], e["count"]) for e in log] == [
        ("meter_read", unit, address - 2, 4)]
    assert log[0]["s_total_va"] == round(station.meter.s_total_va, 1)
    assert S_TOTAL.decode(regs[2:4]) == station.meter.values()["s_total"]  # the same moment's value


def test_filters_and_bounds(clock: ManualClock, station: Station) -> None:
    for unit in (1, 2, 3, 1):
        station.write(unit, LIMIT_G1, [0, 1000])
    station.set_base_load(None)
    answer = station.activity_since(kind="write", unit=1)
    assert [e["seq"] for e in answer["entries"]] == [1, 4]
    assert answer["last_seq"] == 5 and answer["first_seq"] == 1
    assert station.activity_since(since=4)["entries"][0]["kind"] == "base_load"
    station.activity = type(station.activity)(station.activity, maxlen=2)
    station.write(2, LIMIT_G1, [0, 1])
    assert station.activity_since()["first_seq"] == 5


async def test_get_log_over_the_control_api() -> None:
    app = SimApp(Options(scenario=scenarios.load("test"), tcp=("127.0.0.1", 0),
                         control=("127.0.0.1", 0)))
    await app.start()
    try:
        assert app.control is not None
        url = app.control.url

        def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(url + path, data=data, method=method)
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        status, _ = await asyncio.to_thread(call, "PUT", "/base-load", {"kw": 120})
        assert status == 200
        status, log = await asyncio.to_thread(call, "GET", "/log?kind=load")
        assert status == 200
        # the PUT itself brings the meter along: the load entry is there at once
        assert [e["kind"] for e in log["entries"]] == ["load"] and log["entries"][0]["load_pct"] > 70
        status, answer = await asyncio.to_thread(call, "GET", "/log?since=x")
        assert status == 400 and "since" in answer["error"]
        # digits str.isdigit takes and int() refuses: the same 400, not a crashed handler
        for q in ("/log?since=%C2%B2", "/log?unit=%EF%BC%95"):
            status, answer = await asyncio.to_thread(call, "GET", q)
            assert status == 400, (q, answer)
        status, answer = await asyncio.to_thread(call, "DELETE", "/link-faults?unit=%C2%B2")
        assert status == 400 and "unit" in answer["error"]
        status, answer = await asyncio.to_thread(call, "GET", "/log?kind=read")
        assert status == 400
    finally:
        await app.stop()
