"""The station's parts on their own: the recorder on a real SQLite store and a fake clock,
the limit writer on a scripted line."""

from __future__ import annotations

import pytest

from edge.cache import Store
from edge.clock import FakeClock
from edge.config import PileConfig, parse_config
from edge.control import LimitWrite, LoadController
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
from tests.drivers.fakes import FakeLine, arcm300t, reference_pile


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
