"""The station's parts on their own: the recorder on a real SQLite store and a fake clock,
the limit writer on a scripted line."""

from __future__ import annotations

import asyncio

import pytest

from edge.cache import Store
from edge.clock import FakeClock
from edge.config import PileConfig, parse_config
from edge.control import REFRESH_S, LimitWrite, LoadController
from edge.drivers.errors import NoResponse
from edge.gunstate import GunState
from edge.loadctl import Policy
from edge.recorder import RECORDED_KEY, Recorder
from edge.reservations import ReservationHost
from edge.runtime import GunRuntime, MeterRuntime, PileRuntime, StationEvent
from edge.sessions import SessionManager
from edge.station import Station
from edge.statusweb import StatusHost
from edge.sync.commands import CommandHost
from tests.drivers.fakes import FakeLine, arcm300t, reference_pile, u32


def _recorder(store: Store, clock: FakeClock) -> Recorder:
    piles = {"P1": PileRuntime(PileConfig(id="P1", bus="line", unit=1), driver=None)}  # type: ignore[arg-type]
    guns: dict[str, GunRuntime] = {}
    meter_rt = MeterRuntime()
    sessions = SessionManager(store, clock, piles, None)
    control = LoadController(Policy(), 100.0, meter_rt, [], sessions, clock)
    return Recorder(store, clock, control, meter_rt, piles, guns)


@pytest.fixture
def store(tmp_path):
    clock = FakeClock()
    s = Store.open(tmp_path / "s.db", clock=clock)
    yield s, clock
    if not s.closed:
        s.close()


def test_recorder_keeps_history_sends_protocol_events_and_remembers_state(store):
    s, clock = store
    rec = _recorder(s, clock)
    rec.guns["P1-1"] = GunRuntime(id="P1-1", pile_id="P1", n=1, rated_power_w=7000, min_power_w=1380,
                                  state=GunState.PLUGGED)
    rec.piles["P1"].lost = True
    rec.meter_rt.lost = True
    rec.control.recorded_level = "capped"
    rec.record([StationEvent("gun_state", "P1-1", {"from": "idle", "to": "plugged"}),
                StationEvent("session_note", "P1-1", {"why": "local only"})])
    assert [e.kind for e in s.events.recent(10)] == ["session_note", "gun_state"]
    # only the protocol's kinds go to the cloud
    [rec_out] = s.outbox.batch(after_seq=0, limit=10)
    assert rec_out.type == "event" and rec_out.body["kind"] == "gun_state"
    assert rec_out.ts == rec.now_ms()

    # a restart finds what was recorded, and compares with it rather than a blank slate
    again = _recorder(s, clock)
    again.restore()
    assert again.control.recorded_level == "capped"
    assert again.meter_rt.lost and again.piles["P1"].lost
    assert again.saved_guns == {"P1-1": {"state": "plugged", "faults": []}}
    assert s.settings.get(RECORDED_KEY)["guns"] == again.saved_guns


def test_recorder_writes_nothing_for_no_events(store):
    s, clock = store
    rec = _recorder(s, clock)
    rec.record([])
    assert s.events.recent(10) == [] and s.settings.get(RECORDED_KEY) is None


def test_an_alarm_touches_the_store_only_when_it_changes(store):
    s, clock = store
    rec = _recorder(s, clock)
    rec.alarm("meter_stale", True, "first")
    clock.advance(5)
    rec.alarm("meter_stale", True, "second")  # unchanged: the store keeps the first wording
    [a] = s.alarms.active()
    assert (a.key, a.message) == ("meter_stale", "first")
    rec.alarm("meter_stale", False)
    assert s.alarms.active() == []
    rec.alarm("meter_stale", True, "again")
    rec.clear_alarm("meter_stale")  # by hand; the loops raise it again while the cause lasts
    assert s.alarms.active() == []
    rec.alarm("meter_stale", True, "back")
    assert [a.message for a in s.alarms.active()] == ["back"]


def test_recorder_starts_from_the_alarms_already_in_the_store(store):
    s, clock = store
    s.alarms.raise_("store_corrupt", "recovered", 1)
    rec = _recorder(s, clock)
    rec.alarm("store_corrupt", True, "reworded")  # already active: not touched
    assert s.alarms.get("store_corrupt").message == "recovered"


CONFIG = {
    "station": {"id": "ST-PARTS"},
    "bus": [{"name": "line", "host": "127.0.0.1:5020", "retries": 0, "lost_after": 10}],
    "pile": [{"id": "P1", "unit": 1}],
    "meter": {"bus": "line", "unit": 10},
    "transformer": {"rated_kva": 100},
}


@pytest.fixture
def wired(tmp_path):
    cfg = parse_config({**CONFIG, "store": {"path": str(tmp_path / "s.db")}}, "parts.toml")
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2)
    line.devices[10] = arcm300t(10, s_va=30_000)
    st = Station(cfg, clock=FakeClock(autoadvance=True), transports={"line": line})
    st.startup()
    yield st, line
    if not st.store.closed:
        st.store.close()


async def test_a_failed_limit_write_is_given_back_and_sent_next_time(wired):
    st, line = wired
    await st.meter_service.tick()
    await st.pile_service.poll_pile(st.piles["P1"])
    d, _ = st.control.decide()
    g1, g2 = st.guns["P1-1"], st.guns["P1-2"]
    line.faults.append(NoResponse("no answer", unit=1))  # the first write of the batch fails
    line.log.clear()
    await st.limits.apply(d)
    writes = [e for e in line.log if e[0] == "write"]
    assert len(writes) == 2
    failed, written = (g1, g2) if g1.limit_written_w is None else (g2, g1)
    assert failed.limit_written_w is None and written.limit_written_w == 7000
    line.log.clear()
    await st.limits.apply(d)  # only the one given back goes out again
    assert len([e for e in line.log if e[0] == "write"]) == 1
    assert failed.limit_written_w == 7000


def test_limits_coming_down_on_running_sessions_go_first(wired):
    st, _ = wired
    g = GunRuntime(id="P1-1", pile_id="P1", n=1, rated_power_w=7000, min_power_w=1380, limit_written_w=7000)
    plugged = GunRuntime(id="P1-2", pile_id="P1", n=2, rated_power_w=7000, min_power_w=1380,
                         state=GunState.PLUGGED)
    idle = GunRuntime(id="P2-1", pile_id="P1", n=1, rated_power_w=7000, min_power_w=1380)
    st.sessions.session_on = lambda gun: object() if gun == "P1-1" else None  # type: ignore[method-assign]
    order = st.limits.write_order
    assert order(LimitWrite(g, 3500)) == 0  # running, coming down
    assert order(LimitWrite(plugged, 7000)) == 1  # a start can come any moment
    assert order(LimitWrite(g, 7000)) == 2  # running, not coming down
    assert order(LimitWrite(idle, 7000)) == 3


def test_the_station_gives_each_user_what_its_protocol_names(wired):
    st, _ = wired
    assert isinstance(st, ReservationHost) and isinstance(st, StatusHost) and isinstance(st, CommandHost)


async def test_a_full_meter_reading_does_not_undo_a_fresher_fast_one(wired):
    """The full reading's S total block is read, the load changes, the fast read (urgent)
    goes ahead of the full reading's last block: the older S total must not overwrite it."""
    st, line = wired
    await st.meter_service.tick()
    assert st.meter_rt.s_total_va == 30_000
    real_read = line.read
    ticks = []

    async def read(unit, function, address, count, timeout):
        regs = await real_read(unit, function, address, count, timeout)
        if unit == 10 and address <= 52 < address + count and not ticks:
            u32(line.devices[10].holding, 52, 90_000)  # the load steps up right after
            ticks.append(asyncio.ensure_future(st.meter_service.tick()))
            for _ in range(10):
                await asyncio.sleep(0)  # the tick is waiting for the line now
        return regs

    line.read = read
    await st.meter_service.read_full()
    await ticks[0]
    reads = [(e[1], e[3]) for e in line.log if e[0] == "read" and e[1] == 10]
    assert reads[-3:] == [(10, 30), (10, 52), (10, 62)]  # the fast read came in between
    assert st.meter_rt.s_total_va == 90_000
    assert st.meter_rt.reading.s_total_va == 30_000  # the full reading itself is kept
    d, _ = st.control.decide()
    assert d.load_pct == pytest.approx(90.0)


async def test_the_meter_tick_keeps_the_line_from_its_read_to_its_last_limit_write(wired):
    """A pile poll waiting for the line while the meter's load is read does not slip in
    between that reading and the limit writes it calls for."""
    st, line = wired
    await st.meter_service.tick()
    await st.pile_service.poll_pile(st.piles["P1"])
    await st.meter_service.tick()  # every limit written for the load as it is
    real_read = line.read
    polls = []

    async def read(unit, function, address, count, timeout):
        regs = await real_read(unit, function, address, count, timeout)
        if unit == 10 and address == 52 and not polls:
            polls.append(asyncio.ensure_future(st.pile_service.poll_pile(st.piles["P1"])))
            for _ in range(10):
                await asyncio.sleep(0)  # the poll is waiting for the line now
        return regs

    line.read = read
    u32(line.devices[10].holding, 52, 90_000)  # 90 % of 100 kVA: blocked, every idle gun to 0 W
    line.log.clear()
    await st.meter_service.tick()
    await polls[0]
    ops = [(e[0], e[1]) for e in line.log]
    assert ops[:3] == [("read", 10), ("write", 1), ("write", 1)]
    assert ("read", 1) in ops[3:]
    assert [g.limit_written_w for g in st.piles["P1"].guns] == [0, 0]


async def test_the_meter_tick_writes_the_limits_of_other_lines_too(tmp_path):
    """The meter's line is held by the tick; piles on another line get their limits from a
    task of their own (no wait for the held line), and the tick ends once both are written."""
    raw = {**CONFIG, "store": {"path": str(tmp_path / "s.db")},
           "bus": [*CONFIG["bus"], {"name": "line2", "host": "127.0.0.1:5021", "retries": 0}],
           "pile": [{"id": "P1", "bus": "line", "unit": 1}, {"id": "P2", "bus": "line2", "unit": 2}]}
    cfg = parse_config(raw, "parts.toml")
    line, line2 = FakeLine(), FakeLine()
    line.devices[1] = reference_pile(guns=2)
    line.devices[10] = arcm300t(10, s_va=30_000)
    line2.devices[2] = reference_pile(guns=2)
    st = Station(cfg, clock=FakeClock(autoadvance=True), transports={"line": line, "line2": line2})
    st.startup()
    try:
        await st.meter_service.tick()
        for p in st.piles.values():
            await st.pile_service.poll_pile(p)
        await asyncio.wait_for(st.meter_service.tick(), 5)
        u32(line.devices[10].holding, 52, 90_000)
        line.log.clear()
        line2.log.clear()
        await asyncio.wait_for(st.meter_service.tick(), 5)
        assert [e[0] for e in line.log] == ["read", "write", "write"]
        assert [e[0] for e in line2.log] == ["write", "write"]
        assert [g.limit_written_w for g in st.guns.values()] == [0, 0, 0, 0]
    finally:
        st.store.close()


async def test_unchanged_limits_are_rewritten_by_the_bus_loop_not_the_meter_tick(wired):
    """The 60 s rewrite of a limit that did not change is routine work: the meter tick, which
    keeps its line for what it writes, leaves it to the bus loop (whose batches let the
    meter's read through)."""
    st, line = wired
    await st.meter_service.tick()
    await st.pile_service.poll_pile(st.piles["P1"])
    await st.meter_service.tick()
    assert [g.limit_written_w for g in st.piles["P1"].guns] == [7000, 7000]
    st.clock.advance(REFRESH_S + 1)
    line.log.clear()
    await st.meter_service.tick()
    assert [e[0] for e in line.log] == ["read"]
    await st.pile_service.bus_tick(st.loops["line"])
    assert len([e for e in line.log if e[0] == "write" and e[3] % 100 == 1]) == 2
