"""cloud.alarms.rules: what each event kind means as an alarm (pure)."""

from __future__ import annotations

import pytest

from cloud.alarms.rules import judge_event, rank


@pytest.mark.parametrize(("kind", "gun", "detail", "op", "key", "severity"), [
    ("fault_raised", "P1-1", {"faults": ["over_temp"]}, "raise", "fault:P1-1", "major"),
    ("fault_cleared", "P1-1", {"faults": ["over_temp"]}, "clear", "fault:P1-1", "major"),
    ("meter_lost", None, {"error": "timeout"}, "raise", "meter_lost", "major"),
    ("meter_back", None, {}, "clear", "meter_lost", "major"),
    ("meter_implausible", None, {"reason": "low"}, "raise", "meter_implausible", "major"),
    ("meter_back", None, {"after": "meter_implausible"}, "clear", "meter_implausible", "major"),
    ("pile_lost", None, {"pile": "P2", "unit": 2}, "raise", "pile_lost:P2", "major"),
    ("pile_back", None, {"pile": "P2", "unit": 2}, "clear", "pile_lost:P2", "major"),
    ("load_level", None, {"level": "capped", "load_pct": 85.0}, "raise", "load", "warning"),
    ("load_level", None, {"level": "capped", "load_pct": 95.0, "shed": True}, "raise", "load", "major"),
    ("load_level", None, {"level": "failsafe", "load_pct": None}, "raise", "load", "critical"),
    ("load_level", None, {"level": "normal", "load_pct": 40.0}, "clear", "load", "warning"),
    ("seq_conflict", None, {"conflicts": [3]}, "raise", "seq_conflict", "warning"),
    ("start_refused", "P1-2", {"reason": "blocked_by_load"}, "raise", "start_refused:P1-2", "info"),
    ("clock_skew", None, {"jump_s": 30.5}, "raise", "clock_skew", "warning"),
])  # fmt: skip
def test_event_kinds(kind, gun, detail, op, key, severity) -> None:
    a = judge_event(kind, gun, detail)
    assert a is not None and (a.op, a.key, a.severity) == (op, key, severity)


def test_events_that_are_no_alarm_and_odd_details() -> None:
    assert judge_event("gun_state", "P1-1", {"state": "idle"}) is None
    assert judge_event("session_cap_fixed", "P1-1", {}) is None
    a = judge_event("fault_raised", None, "not an object")  # type: ignore[arg-type]
    assert a is not None and a.key == "fault:-"
    assert rank("critical") > rank("major") > rank("warning") > rank("info") > rank("nonsense")
