"""What became of a session, as a table: the pile's registers now → the verdict."""

from __future__ import annotations

import pytest

from edge.drivers.base import GunReading
from edge.gunstate import GunState, StopReason
from edge.reconcile import KnownSession, Outcome, judge, newest_session_start, sessions_since

T0 = 1_767_225_600_000
KNOWN = KnownSession(session_counter=41, energy_start_wh=10_000, energy_last_wh=14_000,
                     started_at_ms=T0, last_seen_ms=T0 + 600_000)
NOW = T0 + 3_600_000


def reading(state=GunState.CHARGING, counter=41, energy=15_000, session_energy=5_000, seconds=1800,
            stop="none"):
    return GunReading(gun=1, state=state, session_counter=counter, energy_total_wh=energy,
                      session_energy_wh=session_energy, session_seconds=seconds, stop_reason=stop)


CASES = [
    # label, reading, outcome, energy_stop, ended_at, stop_reason, uncertain
    ("still charging", reading(), Outcome.RUNNING, None, None, None, False),
    ("ev paused is still the session", reading(GunState.SUSPENDED_EV), Outcome.RUNNING, None, None, None, False),
    ("ev full", reading(GunState.FINISHING, stop="ev_full"), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.EV_FULL, False),
    ("unplugged", reading(GunState.AVAILABLE, stop="unplugged"), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.UNPLUGGED, False),
    ("fault", reading(GunState.FAULTED, stop="fault"), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.FAULT, False),
    ("pile limit", reading(GunState.FINISHING, stop="limit"), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.LIMIT, False),
    ("watchdog fallback", reading(GunState.FINISHING, stop="fallback"), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.GATEWAY_RESTART, False),
    ("no reason, unplugged", reading(GunState.AVAILABLE), Outcome.ENDED, 15_000, T0 + 1_800_000, StopReason.UNPLUGGED, False),
    ("implausible duration", reading(GunState.FINISHING, stop="local", seconds=10**7), Outcome.ENDED, 15_000, NOW, StopReason.LOCAL, False),
    ("a newer session follows", reading(counter=42, energy=18_000, session_energy=2_500, seconds=600),
     Outcome.ENDED, 15_500, NOW - 600_000, StopReason.GATEWAY_RESTART, True),
    ("two newer sessions", reading(counter=43, energy=30_000), Outcome.ENDED, 14_000, T0 + 600_000, StopReason.GATEWAY_RESTART, True),
    ("counter wrapped", reading(counter=0, energy=30_000, session_energy=None),
     Outcome.ENDED, 14_000, T0 + 600_000, StopReason.GATEWAY_RESTART, True),
    ("pile replaced", reading(counter=5000), Outcome.ENDED, 14_000, T0 + 600_000, StopReason.GATEWAY_RESTART, True),
    ("energy refused this time", reading(energy=None), Outcome.UNKNOWN, None, None, None, False),
    ("counter unreadable", reading(counter=None), Outcome.UNKNOWN, None, None, None, False),
]


@pytest.mark.parametrize("label,r,outcome,stop,ended,reason,uncertain", CASES, ids=[c[0] for c in CASES])
def test_verdicts(label, r, outcome, stop, ended, reason, uncertain):
    v = judge(KNOWN, r, NOW)
    assert v.outcome is outcome
    assert v.energy_stop_wh == stop
    assert v.ended_at_ms == ended
    assert v.stop_reason == reason
    assert v.uncertain is uncertain


def test_end_energy_never_below_the_last_good_reading():
    v = judge(KNOWN, reading(GunState.FINISHING, energy=14_000), NOW)
    assert v.energy_stop_wh == 14_000
    v = judge(KNOWN, reading(counter=42, energy=14_500, session_energy=2_000), NOW)
    assert v.energy_stop_wh == 14_000  # 12 500 would be below what was already seen


def test_counter_arithmetic():
    assert sessions_since(65535, 0) == 1
    assert sessions_since(3, 3) == 0
    assert newest_session_start(reading(energy=18_000, session_energy=2_500)) == 15_500
    assert newest_session_start(reading(session_energy=None)) is None
