"""Station pieces on a fake clock and a fake line: clock jumps, a damaged store, restarts
that remember what was recorded."""

from __future__ import annotations

import sqlite3

import pytest

from edge.clock import FakeClock
from edge.config import parse_config
from edge.station import Station
from tests.drivers.fakes import FakeLine, arcm300t, reference_pile

CONFIG = {
    "station": {"id": "ST-UNIT"},
    "bus": [{"name": "line", "host": "127.0.0.1:5020"}],
    "pile": [{"id": "P1", "unit": 1}],
    "meter": {"bus": "line", "unit": 10},
    "transformer": {"rated_kva": 100},
}


@pytest.fixture
def station(tmp_path):
    cfg = parse_config({**CONFIG, "store": {"path": str(tmp_path / "s.db")}}, "unit.toml")
    line = FakeLine()
    line.devices[1] = reference_pile()
    line.devices[10] = arcm300t(10, s_va=30_000)
    st = Station(cfg, clock=FakeClock(autoadvance=True), transports={"line": line})
    st.startup()
    yield st
    if not st.store.closed:
        st.store.close()


def test_a_wall_clock_jump_is_recorded(station):
    clock = station.clock
    watch = station.meter_service.clock_watch
    assert watch.check() == []
    clock.advance(1.0)
    assert watch.check() == []  # time passing is no jump
    clock.set_wall(clock.time() + 3600)
    [event] = watch.check()
    assert event.kind == "clock_skew" and event.detail["jump_s"] == pytest.approx(3600, abs=0.01)
    clock.set_wall(clock.time() - 1.0)  # a small correction is not worth an event
    assert watch.check() == []


async def test_one_tick_reads_decides_writes_and_records(station):
    await station.meter_tick()
    await station.bus_tick(station.loops["line"])
    status = station.status()
    assert status["load"]["level"] == "normal" and status["load"]["load_pct"] == pytest.approx(30.0)
    assert [g["id"] for g in status["guns"]] == ["P1-1"]
    # the idle gun holds the cap a new session would get
    assert status["guns"][0]["limit_w"] == 7000
    kinds = [r.type for r in station.store.outbox.batch(after_seq=0, limit=100)]
    assert kinds.count("event") >= 2


def test_a_damaged_store_stops_the_gateway_for_a_checked_restart(station):
    station._failed("bus tick", RuntimeError("a passing problem"))
    assert station.fatal is None and not station._stop.is_set()
    station._failed("bus tick", sqlite3.DatabaseError("database disk image is malformed"))
    assert isinstance(station.fatal, sqlite3.DatabaseError) and station._stop.is_set()
