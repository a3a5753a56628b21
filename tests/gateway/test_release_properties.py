"""Properties of the idle-time watch (edge/release.py) over arbitrary sequences of gun
readings, time steps, reading gaps and gateway restarts, on a real store: one gun_released
per session, never before the car was seen gone, never counting time before the car was last
seen plugged (give or take the once-a-minute write), its fee the tariff's rule, capped."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.cache import SessionRow, SessionState, Store
from edge.clock import FakeClock
from edge.drivers.base import GunReading
from edge.gunstate import GunState
from edge.release import EMPTY, SEEN_WRITE_MS, WATCH_GAP_S, ReleaseWatch, idle_of
from jcproto.tariff import IdleFee

STATES = [GunState.PLUGGED, GunState.FINISHING, GunState.AVAILABLE, GunState.RESERVED,
          GunState.FAULTED, GunState.UNAVAILABLE]
idle_fees = st.builds(IdleFee, grace_min=st.integers(0, 120), step_min=st.integers(1, 120),
                      fen_per_step=st.integers(0, 5_000), cap_fen=st.integers(0, 50_000))
steps = st.lists(st.tuples(st.one_of(st.floats(0, 5), st.floats(20, 40), st.floats(0, 4 * 3600)),  # s to next
                           st.sampled_from(STATES),
                           st.booleans()),  # the gateway restarts before this reading
                 min_size=1, max_size=40)


def ended_row(idle: IdleFee, ended_at: int) -> SessionRow:
    tariff = {"id": "t", "currency": "CNY", "tz": "Asia/Shanghai", "idle": idle.to_dict(),
              "periods": [{"start": "00:00", "end": "24:00", "name": "f", "energy_price_e4": 1,
                           "service_price_e4": 1}]}
    return SessionRow(session_id=str(uuid.uuid4()), gun="P1-1", state=SessionState.ENDED, auth="free",
                      started_at=ended_at - 3_600_000, ended_at=ended_at, cost_state={"tariff": tariff},
                      reported=True, release_pending=True, plugged_seen_at=ended_at)


@settings(max_examples=150, deadline=None)
@given(idle=idle_fees, plugged_at_end=st.booleans(), ops=steps)
def test_one_release_never_early_never_counting_unseen_time(idle, plugged_at_end, ops):
    with tempfile.TemporaryDirectory() as tmp:
        clock = FakeClock(start_wall=1_780_272_000.0)
        path = Path(tmp) / "s.db"
        store = Store.open(path, clock=clock)
        row = store.sessions.upsert(ended_row(idle, int(clock.time() * 1000)))
        ended_at = row.ended_at
        watch = ReleaseWatch(store, clock)
        watch.ended(row, idle_of(row, None), plugged_at_end)
        last_plugged = ended_at if plugged_at_end else None  # wall ms of the last plugged reading
        # monotonic time of the last plugged reading this process saw (None: none since start)
        plugged_mono = clock.monotonic() if plugged_at_end else None
        first_empty = None
        for dt, state, restart in ops:
            clock.advance(dt)
            if restart:
                store.close()
                store = Store.open(path, clock=clock)
                watch = ReleaseWatch(store, clock)
                watch.load(None)
                plugged_mono = None
            now = int(clock.time() * 1000)
            watch.observe("P1-1", GunReading(gun=1, state=state), None)
            if first_empty is not None:
                continue
            if state in EMPTY:
                watched = plugged_mono is not None and clock.monotonic() - plugged_mono <= WATCH_GAP_S
                first_empty = (now, watched)
            elif state.has_vehicle:
                last_plugged, plugged_mono = now, clock.monotonic()
        released = [r for r in store.outbox.batch(after_seq=0, limit=100) if r.type == "gun_released"]
        stored = store.sessions.get(row.session_id)
        store.close()
    if first_empty is None:
        assert released == [] and stored.release_pending
        return
    [rec] = released
    at, fee = rec.body["released_at"], rec.body["idle_fen"]
    empty_at, was_watched = first_empty
    assert ended_at <= at <= empty_at
    if last_plugged is not None:
        assert at >= last_plugged - SEEN_WRITE_MS  # a restart may lose up to a minute of "seen"
    if was_watched:
        assert at == empty_at  # watched the whole time: the instant it was seen gone
    else:  # not watched up to the unplug: only until the car was last seen plugged
        assert at <= max(ended_at, last_plugged or ended_at)
    assert fee == idle.fen(ended_at, at) <= idle.cap_fen
    assert not stored.release_pending and stored.released_at == at and stored.idle_fen == fee
