"""Every session obeys the load level, however it started: the session manager and the
control layer on a fake clock and a scripted line (tests/drivers/fakes.py), with a real
SQLite store. 100 kVA transformer, one 7 kW AC pile (reference map), meter unit 10."""

from __future__ import annotations

import re
import uuid

import pytest

from edge.cli import format_status
from edge.clock import FakeClock
from edge.config import parse_config
from edge.station import Station
from edge.sync.commands import HANDLERS
from jcproto import parse_command
from tests.drivers.fakes import FakeLine, arcm300t, reference_pile, u32

BASE = {
    "station": {"id": "ST-UNIT", "timezone": "Asia/Shanghai"},
    "bus": [{"name": "line", "host": "127.0.0.1:5020"}],
    "pile": [{"id": "P1", "unit": 1}],
    "meter": {"bus": "line", "unit": 10},
    "transformer": {"rated_kva": 100},
}
GUN = 100  # gun 1's input block
POWER_LIMIT = 101  # gun 1's holding power_limit (2 registers)
COMMAND = 100  # gun 1's holding command register


def make(tmp_path, load_policy=None):
    cfg = parse_config({**BASE, "load_policy": {"dwell_s": 0, **(load_policy or {})},
                        "store": {"path": str(tmp_path / "s.db")}}, "unit.toml")
    line = FakeLine()
    line.devices[1] = reference_pile()
    line.devices[10] = arcm300t(10, s_va=30_000)
    st = Station(cfg, clock=FakeClock(autoadvance=True), transports={"line": line})
    st.startup()
    return st, line


@pytest.fixture
def station(tmp_path):
    st, line = make(tmp_path)
    yield st, line
    if not st.store.closed:
        st.store.close()


def set_load(line, s_va):
    u32(line.devices[10].holding, 52, s_va)


def pile_starts(line, *, power_w=7000, limit_active=None, counter=1):
    """The pile starts a session by itself (button, unknown card, its own free vend)."""
    i = line.devices[1].input
    i[GUN + 0] = 2  # charging
    u32(i, GUN + 8, power_w)
    u32(i, GUN + 14, 5)  # session_seconds
    i[GUN + 16] = counter
    u32(i, GUN + 23, 0)  # session_tag 0: not ours
    if limit_active is not None:
        u32(i, GUN + 19, limit_active)


def limit_written(line):
    h = line.devices[1].holding
    return h[POWER_LIMIT] << 16 | h[POWER_LIMIT + 1]


async def tick(st, seconds=1.0):
    st.clock.advance(seconds)
    await st.meter_tick()
    await st.bus_tick(st.loops["line"])


def records(st, kind=None):
    out = [r for r in st.store.outbox.batch(after_seq=0, limit=1000)]
    return [r for r in out if kind is None or r.type == kind]


def events(st, kind):
    return [r.body for r in records(st, "event") if r.body["kind"] == kind]


def session(st):
    return st.status()["guns"][0]["session"]


# -- sessions the pile started ------------------------------------------------------------------


async def test_a_pile_session_while_capped_gets_the_start_cap_at_once(station):
    st, line = station
    set_load(line, 60_000)  # 60 %: capped
    await tick(st)
    assert st.status()["load"]["level"] == "capped"
    pile_starts(line)
    await tick(st)
    s = session(st)
    assert s["auth"] == "pile" and s["power_cap_w"] == 3500 and not s["waiting_for_load"]
    assert limit_written(line) == 3500  # never its rated 7000 W
    [started] = [r.body for r in records(st, "session_started")]
    assert started["auth"] == "pile" and started["power_cap_w"] == 3500
    # the load falls: the session keeps the cap it started with
    set_load(line, 10_000)
    for _ in range(3):
        await tick(st)
    assert st.status()["load"]["level"] == "normal" and limit_written(line) == 3500


@pytest.mark.parametrize(("s_va", "level"), [(90_000, "blocked"), (None, "failsafe")])
async def test_a_pile_session_while_blocked_or_failsafe_waits_at_0_w_then_starts_capped(station, s_va, level):
    st, line = station
    if s_va is None:
        del line.devices[10]  # the meter stops answering
        for _ in range(5):
            await tick(st)
    else:
        set_load(line, s_va)
        await tick(st)
    assert st.status()["load"]["level"] == level
    pile_starts(line, limit_active=7000)
    await tick(st)
    s = session(st)
    assert s["auth"] == "pile" and s["power_cap_w"] is None and s["waiting_for_load"]
    assert limit_written(line) == 0
    text = format_status(st.status())  # what `jc-gateway status` prints
    assert "waiting for load" in text and st.status()["load"]["reason"] in text
    for _ in range(3):
        await tick(st)
        assert limit_written(line) == 0
    # the level allows starts again: capped first (one band at a time), at the 50 % cap
    if s_va is None:
        line.devices[10] = arcm300t(10, s_va=70_000)
    else:
        set_load(line, 70_000)
    for _ in range(60):  # a lost meter is probed again after a backoff
        await tick(st)
        if st.status()["load"]["level"] != level:
            break
    assert st.status()["load"]["level"] == "capped"
    s = session(st)
    assert s["power_cap_w"] == 3500 and not s["waiting_for_load"]
    assert limit_written(line) == 3500
    row = st.store.sessions.open_sessions()[0]
    assert row.power_cap_w == 3500  # durable: a restart keeps it


async def test_the_operator_may_choose_to_stop_pile_sessions_while_blocked(tmp_path):
    st, line = make(tmp_path, {"pile_sessions": "stop"})
    try:
        set_load(line, 90_000)
        await tick(st)
        pile_starts(line)
        await tick(st)
        stops = [e for e in line.log if e[0] == "write" and e[1] == 1 and e[3] == COMMAND and e[4] == [2]]
        assert stops, "the gateway sends the pile a stop"
        [refused] = events(st, "start_refused")
        assert refused["gun"] == "P1-1" and refused["detail"]["reason"] == "blocked_by_load"
        assert refused["detail"]["origin"] == "pile"
        assert limit_written(line) == 0
        await tick(st)
        assert len(events(st, "start_refused")) == 1  # recorded once
    finally:
        st.store.close()


async def test_after_a_restart_in_failsafe_a_running_session_is_held_at_what_the_pile_obeys(tmp_path):
    st, line = make(tmp_path)
    set_load(line, 10_000)
    await tick(st)
    pile_starts(line)
    await tick(st)
    assert session(st)["power_cap_w"] == 7000
    st.store.close()
    # the gateway restarts with the meter gone; the pile obeys 4 kW (its watchdog fallback)
    st2, _ = make(tmp_path)
    st2.loops["line"].bus.transport = line
    del line.devices[10]
    u32(line.devices[1].input, GUN + 19, 4000)
    try:
        for _ in range(5):
            await tick(st2)
        assert st2.status()["load"]["level"] == "failsafe"
        assert session(st2)["session_id"] == session(st2)["session_id"]
        assert limit_written(line) == 4000  # never raised to its cap or rated power
    finally:
        st2.store.close()


# -- shedding above the rating ------------------------------------------------------------------


async def test_above_the_rating_a_running_session_is_shed_and_it_is_recorded(station):
    st, line = station
    set_load(line, 10_000)
    await tick(st)
    pile_starts(line, power_w=7000)
    await tick(st)
    assert limit_written(line) == 7000
    set_load(line, 104_000)  # 104 % of 100 kVA
    await tick(st)
    status = st.status()
    assert limit_written(line) < 7000
    assert status["load"]["shed_w"] == {"P1-1": limit_written(line)}
    keys = {a["key"] for a in status["alarms"]}
    assert {"load_above_emergency", "load_shed"} <= keys
    shed = [e for e in events(st, "load_level") if e["detail"].get("shed")]
    assert shed and shed[0]["detail"]["ceilings_w"] == {"P1-1": limit_written(line)}
    chain = [e["detail"] for e in events(st, "load_level")]
    assert all(b["from"] == a["level"] for a, b in zip(chain, chain[1:], strict=False))
    # back under: given back (dwell 0), the alarm clears
    set_load(line, 30_000)
    u32(line.devices[1].input, GUN + 8, limit_written(line))
    for _ in range(4):
        await tick(st)
    assert limit_written(line) == 7000
    assert "load_shed" not in {a["key"] for a in st.status()["alarms"]}


# -- a meter that lies ---------------------------------------------------------------------------


async def test_a_meter_below_the_guns_draw_is_not_believed(tmp_path):
    st, line = make(tmp_path, {"meter_implausible_s": 3})
    try:
        set_load(line, 10_000)
        await tick(st)
        pile_starts(line, power_w=7000)
        await tick(st)
        set_load(line, 500)  # 0.5 kVA while the gun draws 7 kW (tolerance 5 kVA)
        for _ in range(5):
            await tick(st)
        status = st.status()
        assert status["load"]["level"] == "failsafe"
        assert "meter_implausible" in {a["key"] for a in status["alarms"]}
        [ev] = events(st, "meter_implausible")
        assert "below the guns" in ev["detail"]["reason"]
        set_load(line, 20_000)
        await tick(st)
        assert st.status()["load"]["level"] != "failsafe"
        assert events(st, "meter_back")[-1]["detail"] == {"after": "meter_implausible"}
    finally:
        st.store.close()


# -- the status line ------------------------------------------------------------------------------


async def test_the_level_reason_names_a_time_of_day(tmp_path):
    st, line = make(tmp_path, {"dwell_s": 10})
    try:
        set_load(line, 90_000)
        await tick(st)
        set_load(line, 70_000)
        await tick(st)
        await tick(st)
        reason = st.status()["load"]["reason"]
        assert re.search(r"below 75 % since \d\d:\d\d:\d\d, 10 s dwell", reason), reason
        assert str(int(st.clock.monotonic())) not in reason
    finally:
        st.store.close()


# -- set_load_policy ------------------------------------------------------------------------------


async def _command(st, body):
    body.pop("id")
    cmd = parse_command({"v": 1, "id": str(uuid.uuid4()), "type": "set_load_policy",
                         "expires_at": 4_102_444_800_000, **body})
    return await HANDLERS["set_load_policy"](st, cmd)


async def test_set_load_policy_changes_only_the_keys_it_carries(tmp_path):
    st, _ = make(tmp_path, {"cap_above_pct": 40, "cap_power_pct": 30, "mode": "share", "dwell_s": 7})
    try:
        reply = await _command(st, {"id": "c1", "rated_kva": 200, "block_above_pct": 70})
        assert reply.ok
        p = st.control.policy
        assert (p.block_above_pct, p.cap_above_pct, p.cap_power_pct, p.mode, p.dwell_s) == (70, 40, 30, "share", 7)
        assert st.rated_kva == 200
        reply = await _command(st, {"id": "c2", "rated_kva": 200, "emergency_above_pct": 110})
        assert reply.ok and st.control.policy.block_above_pct == 70
        assert st.control.policy.emergency_above_pct == 110
        st.store.close()
        # a restart comes back to every key set by both commands, over the config
        st2, _ = make(tmp_path, {"cap_above_pct": 40, "cap_power_pct": 30, "mode": "share", "dwell_s": 7})
        p = st2.control.policy
        assert (p.block_above_pct, p.emergency_above_pct, p.cap_power_pct, st2.rated_kva) == (70, 110, 30, 200)
        st2.store.close()
    finally:
        if not st.store.closed:
            st.store.close()


async def test_set_load_policy_refuses_a_bad_combination_and_changes_nothing(tmp_path):
    st, _ = make(tmp_path)
    try:
        reply = await _command(st, {"id": "c1", "rated_kva": 100, "cap_above_pct": 90})
        assert not reply.ok and "cap_above_pct" in reply.detail["message"]
        assert st.control.policy.cap_above_pct == 50 and st.store.settings.load_policy() in (None, {})
    finally:
        st.store.close()
