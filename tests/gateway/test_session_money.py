"""Session money at the edge on a fake clock and a real SQLite store: refusing an amount
start with no tariff, pricing an unpriced session once a tariff arrives, recomputing a lost
cost state from the recorded progress after a restart, time limits on the monotonic clock,
and the idle fee with its gun_released record (also across a restart)."""

from __future__ import annotations

import pytest

from edge.cache import SessionState
from edge.clock import FakeClock
from edge.drivers.base import CommandResult
from edge.gunstate import GunState, StopReason
from edge.release import WATCH_GAP_S
from edge.sessions import PRICING_CHECK_S, StartError
from jcproto import Limit
from jcproto.tariff import CostMeter, IdleFee, Tariff
from tests.gateway.money_support import TARIFF, WALL0, Pile, Rig

TARIFF_IDLE = IdleFee.from_dict(TARIFF["idle"])


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "s.db", FakeClock(start_wall=WALL0, autoadvance=True), Pile())
    yield r
    if not r.store.closed:
        r.store.close()


def set_station_tariff(rig: Rig, tariff: dict = TARIFF) -> None:
    rig.store.settings.set_tariff(tariff)


# ---- no session priced silently at 0 ----------------------------------------------------------

async def test_an_amount_start_without_a_tariff_is_refused_with_event_and_alarm(rig):
    with pytest.raises(StartError) as err:
        await rig.start(Limit(mode="amount", value=2_000))
    assert err.value.code == "no_tariff" and "set_tariff" in str(err.value)
    assert rig.store.sessions.open_sessions() == [] and rig.pile.tag is None  # the pile never heard
    [event] = rig.records("event")
    assert event["kind"] == "start_refused" and event["gun"] == "P1-1"
    assert event["detail"] == {"reason": "no_tariff", "limit": {"mode": "amount", "value": 2_000}}
    assert rig.alarm()
    # A tariff arrives: the alarm clears by itself, and the same start now goes through.
    set_station_tariff(rig)
    rig.clock.advance(PRICING_CHECK_S)
    rig.poll()
    assert not rig.alarm()
    row = await rig.start(Limit(mode="amount", value=2_000))
    assert row.state == SessionState.ACTIVE and row.cost_state["tariff"]["id"] == "t-e4"


async def test_a_session_without_a_tariff_raises_the_alarm_and_is_priced_from_its_start(rig):
    row = await rig.start(Limit(mode="full"))
    assert rig.sm.live(row.session_id).cost is None
    rig.poll()
    assert rig.alarm()
    rig.charge(5)  # 5 minutes, 500 Wh, progress written each minute
    set_station_tariff(rig)
    rig.clock.advance(PRICING_CHECK_S)
    rig.poll()
    cost = rig.sm.live(row.session_id).cost
    assert cost is not None and cost.energy_wh == 500
    # 08:00 → all flat: 500 Wh × 0.6855 = 34.275 → 34 fen; × 0.40 = 20 fen
    assert [ln.to_dict() for ln in cost.lines()] == [
        {"name": "flat", "wh": 500, "energy_fen": 34, "service_fen": 20}]
    assert not rig.alarm()
    assert any(e.kind == "cost_recomputed" for e in rig.store.events.recent(limit=20))


async def test_a_cost_state_lost_at_restart_is_recomputed_from_the_recorded_progress(rig):
    row = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(30, wh_per_min=117)
    live = rig.sm.live(row.session_id)
    expected = CostMeter.replay(live.cost.tariff, row.started_at, row.energy_start_wh,
                                rig.store.sessions.points(row.session_id))
    assert expected.cost_fen == live.cost.cost_fen > 0
    # The stored cost state is damaged (its Wh no longer match its registers) before a restart.
    stored = rig.store.sessions.get(row.session_id).cost_state
    stored["wh"] = {"flat": 1}
    rig.store.sessions.update(row.session_id, cost_state=stored)
    rig.restart(down_s=2)
    recovered = rig.sm.live(row.session_id).cost
    assert recovered is not None and recovered.cost_fen == expected.cost_fen
    assert recovered.lines() == expected.lines() and recovered.energy_wh == 30 * 117
    # and it goes on from there, not from 0
    rig.charge(1, wh_per_min=117)
    assert rig.sm.live(row.session_id).cost.energy_wh == 31 * 117


async def test_a_cost_state_with_an_unreadable_tariff_falls_back_to_the_station_tariff(rig):
    row = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(10)
    rig.store.sessions.update(row.session_id, cost_state={"tariff": {"id": "broken"}})
    set_station_tariff(rig)
    rig.restart()
    cost = rig.sm.live(row.session_id).cost
    assert cost is not None and cost.energy_wh == 1_000 and cost.cost_fen == 69 + 40  # 68.55 → 69, 40


# ---- time limits on the monotonic clock -------------------------------------------------------

@pytest.mark.parametrize("jump_s", [3 * 3600, -3 * 3600])
async def test_a_wall_clock_jump_neither_ends_nor_extends_a_time_limit(rig, jump_s):
    await rig.start(Limit(mode="time", value=600), TARIFF)
    assert rig.pile.limits == (0, 600)  # the pile holds the limit too
    rig.clock.advance(300)
    rig.clock.set_wall(rig.clock.time() + jump_s)
    assert rig.poll() == []  # 300 s charged, whatever the wall clock says
    rig.clock.advance(299)
    assert rig.poll() == []
    rig.clock.advance(1)
    assert rig.poll() == [("P1-1", StopReason.LIMIT)]


async def test_a_time_limit_counts_the_time_before_a_restart(rig):
    await rig.start(Limit(mode="time", value=600), TARIFF)
    rig.charge(5)  # 300 s, progress written with the elapsed time
    rig.restart(down_s=20)  # 20 s down: only the wall clock spans it
    rig.clock.advance(279)
    assert rig.poll() == []
    rig.clock.advance(1)
    assert rig.poll() == [("P1-1", StopReason.LIMIT)]


# ---- the idle fee and gun_released -------------------------------------------------------------

def end_session(rig: Rig, state: GunState = GunState.FINISHING) -> dict:
    rig.pile.state = state
    rig.poll()
    [ended] = rig.records("session_ended")
    return ended


async def test_the_car_left_after_the_grace_pays_each_started_step(rig):
    row = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(3)
    ended = end_session(rig)
    assert rig.store.sessions.get(row.session_id).release_pending
    for _ in range(40):  # 40 minutes plugged after the end
        rig.clock.advance(60)
        rig.poll()
    assert rig.records("gun_released") == []
    rig.clock.advance(1)
    rig.pile.state = GunState.AVAILABLE
    rig.poll()
    [rel] = rig.records("gun_released")
    # 40 min + 1 s: 30 min + 1 s past the 10 min grace → 3 started 15-minute steps
    assert rel["session_id"] == row.session_id and rel["gun"] == "P1-1"
    assert rel["released_at"] == ended["ended_at"] + 40 * 60_000 + 1_000
    assert rel["idle_fen"] == 3 * 150
    stored = rig.store.sessions.get(row.session_id)
    assert not stored.release_pending and stored.idle_fen == 450
    rig.poll()
    assert len(rig.records("gun_released")) == 1  # once


async def test_a_session_ended_by_the_unplug_is_released_at_once_without_a_fee(rig):
    row = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig, GunState.AVAILABLE)
    assert ended["stop_reason"] == "unplugged"
    [rel] = rig.records("gun_released")
    assert rel["session_id"] == row.session_id and rel["idle_fen"] == 0
    assert rel["released_at"] == ended["ended_at"]


async def test_the_fee_is_capped(rig):
    await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(1)
    end_session(rig)
    for _ in range(24 * 60):
        rig.clock.advance(60)
        rig.poll()
    rig.pile.state = GunState.AVAILABLE
    rig.poll()
    assert rig.records("gun_released")[0]["idle_fen"] == 1_000


async def test_release_survives_a_restart_between_end_and_unplug(rig):
    row = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig)
    for _ in range(20):
        rig.clock.advance(60)
        rig.poll()
    rig.restart(down_s=5)
    assert rig.sm.release.pending["P1-1"].session_id == row.session_id
    for _ in range(10):  # watched again after the restart
        rig.clock.advance(60)
        rig.poll()
    rig.pile.state = GunState.AVAILABLE
    rig.clock.advance(1)
    rig.poll()
    [rel] = rig.records("gun_released")
    assert rel["released_at"] == ended["ended_at"] + (30 * 60 + 5 + 1) * 1000
    assert rel["idle_fen"] == 2 * 150  # 20 min + 6 s past the grace


async def test_an_unplug_not_watched_counts_only_until_the_car_was_last_seen(rig):
    await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig)
    for _ in range(20):
        rig.clock.advance(60)
        rig.poll()
    seen = int(rig.clock.time() * 1000)
    rig.pile.state = GunState.AVAILABLE  # unplugged while the gateway is down for an hour
    rig.restart(down_s=3600)
    rig.poll()
    [rel] = rig.records("gun_released")
    assert rel["released_at"] == seen == ended["ended_at"] + 20 * 60_000
    assert rel["idle_fen"] == 150  # 10 min past the grace, not 70


async def test_a_gap_in_the_readings_counts_until_the_car_was_last_seen(rig):
    await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig)
    rig.clock.advance(60)
    rig.poll()
    rig.clock.advance(WATCH_GAP_S + 600)  # the pile's line was down
    rig.pile.state = GunState.AVAILABLE
    rig.poll()
    assert rig.records("gun_released")[0]["released_at"] == ended["ended_at"] + 60_000


async def test_a_new_session_on_the_same_car_ends_the_idle_time(rig):
    first = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig, GunState.PLUGGED)
    rig.clock.advance(30 * 60)
    rig.poll()
    second = await rig.start(Limit(mode="full"), TARIFF)
    rig.poll()
    [rel] = rig.records("gun_released")
    assert rel["session_id"] == first.session_id and second.session_id != first.session_id
    assert rel["released_at"] == second.started_at == ended["ended_at"] + 30 * 60_000
    assert rel["idle_fen"] == 2 * 150


async def test_no_idle_terms_means_a_release_with_no_fee(rig):
    plain = {k: v for k, v in TARIFF.items() if k != "idle"}
    await rig.start(Limit(mode="full"), plain)
    rig.charge(1)
    end_session(rig)
    rig.clock.advance(5 * 3600)
    rig.poll()
    rig.pile.state = GunState.AVAILABLE
    rig.poll()
    assert rig.records("gun_released")[0]["idle_fen"] == 0


def test_idle_fee_terms_round_trip_through_the_cost_state():
    t = Tariff.from_dict(TARIFF)
    assert CostMeter.from_dict(CostMeter(t, 0, 0).to_dict()).tariff.idle == IdleFee(10, 15, 150, 1_000)


async def test_a_start_confirmed_by_the_poll_loop_meanwhile_is_recorded_once(rig):
    """The poll loop confirms the session while `start` waits on its own read of the gun."""
    real_read = rig.pile.read_gun

    async def read_while_the_loop_polls(n):
        rig.poll()  # the bus loop's poll runs during start's await
        return await real_read(n)

    rig.pile.read_gun = read_while_the_loop_polls
    row = await rig.start(Limit(mode="full"), TARIFF)
    assert row.state == SessionState.ACTIVE
    assert [r["session_id"] for r in rig.records("session_started")] == [row.session_id]


async def test_a_start_that_never_began_does_not_end_the_idle_time(rig):
    first = await rig.start(Limit(mode="full"), TARIFF)
    rig.charge(2)
    ended = end_session(rig, GunState.PLUGGED)
    rig.clock.advance(20 * 60)
    rig.poll()

    async def silent_start(n, **kw):  # the pile takes the command but never shows a session
        return CommandResult.ACCEPTED

    rig.pile.start = silent_start
    doubtful = await rig.start(Limit(mode="full"), TARIFF)
    assert doubtful.state == SessionState.STARTING
    for _ in range(30):  # past START_TIMEOUT_S: the start is dropped
        rig.clock.advance(1)
        rig.poll()
    assert rig.store.sessions.get(doubtful.session_id) is None
    assert rig.records("gun_released") == []
    rig.charge(10, wh_per_min=0)  # still plugged, watched
    rig.clock.advance(1)
    rig.pile.state = GunState.AVAILABLE
    rig.poll()
    [rel] = rig.records("gun_released")
    assert rel["session_id"] == first.session_id
    assert rel["released_at"] == int(rig.clock.time() * 1000)
    assert rel["released_at"] - ended["ended_at"] > 30 * 60_000
    assert rel["idle_fen"] == TARIFF_IDLE.fen(ended["ended_at"], rel["released_at"]) == 2 * 150


@pytest.mark.parametrize("seed", range(12))
async def test_the_cost_reported_is_what_the_records_replay_to_across_a_boundary(rig, seed):
    # The cloud bills by replaying start, progress and end (docs/money.md). Polls that do not
    # fall on the 12:00 boundary, a changing power, and an end just after the boundary: the
    # session_ended cost equals the replay of exactly what the records carry.
    import random

    rnd = random.Random(seed)
    rig.clock.advance(4 * 3600 - 185)  # 11:56:55
    row = await rig.start(Limit(mode="full"), TARIFF)
    for _ in range(rnd.randint(40, 90)):
        rig.clock.advance(rnd.uniform(0.4, 9.0))
        rig.pile.energy += rnd.randint(0, 40)
        rig.poll()
    rig.pile.state, rig.pile.tag = GunState.FINISHING, None
    rig.clock.advance(rnd.uniform(0.5, 5.0))
    rig.pile.energy += rnd.randint(0, 20)
    rig.poll()
    [ended] = rig.records("session_ended")
    points = [(p["ts"], p["energy_wh"]) for p in rig.records("session_progress")]
    replay = CostMeter.replay(Tariff.from_dict(TARIFF), ended["started_at"], ended["energy_start_wh"],
                              [*points, (ended["ended_at"], ended["energy_stop_wh"])])
    assert ended["cost_fen"] == replay.cost_fen
    assert row.session_id == ended["session_id"]
