"""The hold rule and the start's pure checks, as properties (docs/cloud.md "Charging")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.charging.service import (
    LIMIT_BOUNDS,
    ChargingError,
    ChargingSettings,
    check_limit,
    gun_refusal,
    hold_for,
)
from cloud.drivers.errors import InvalidField

SETTINGS = ChargingSettings(default_hold_fen=10_000, min_hold_fen=500)


@given(mode=st.sampled_from(sorted(LIMIT_BOUNDS)), data=st.data(), available=st.integers(-10**6, 10**7))
def test_a_hold_never_exceeds_what_is_available_nor_falls_below_the_minimum(mode: str, data: st.DataObject,
                                                                           available: int) -> None:
    value = data.draw(st.integers(*LIMIT_BOUNDS[mode]))  # what check_limit lets through
    try:
        hold = hold_for(mode, value, available, SETTINGS)
    except ChargingError as e:
        assert e.code == "insufficient_balance"
        assert available < (value if mode == "amount" else SETTINGS.min_hold_fen)
        return
    assert 0 < hold <= available
    if mode == "amount":
        assert hold == value
    else:
        assert SETTINGS.min_hold_fen <= hold <= SETTINGS.default_hold_fen
        assert hold == min(SETTINGS.default_hold_fen, available)


@given(st.one_of(st.none(), st.integers(), st.text(max_size=5), st.floats(), st.booleans(),
                 st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=6), st.none()),
                                 max_size=3)))
def test_any_limit_is_taken_within_its_bounds_or_refused_as_invalid(limit: object) -> None:
    try:
        mode, value = check_limit(limit)
    except InvalidField as e:
        assert e.facts["field"] == "limit"
        return
    low, high = LIMIT_BOUNDS[mode]
    assert low <= value <= high and type(value) is int


@pytest.mark.parametrize("online, level, entry, why", [
    (False, "normal", {"state": "plugged"}, "station_offline"),
    (True, "normal", {"state": "plugged", "session_id": None}, None),
    (True, "capped", {"state": "plugged"}, None),  # capped still starts (at reduced power)
    (True, "blocked", {"state": "plugged"}, "blocked_by_load"),
    (True, "failsafe", {"state": "plugged"}, "blocked_by_load"),
    (True, "normal", {"state": "available"}, "not_plugged"),
    (True, "normal", {"state": "plugged", "session": {"session_id": "x"}}, "gun_busy"),
    (True, "normal", {"state": "suspended_ev"}, "gun_busy"),
    (True, "blocked", {"state": "faulted"}, "gun_faulted"),
    (True, None, None, None),  # no telemetry of the gun: the gateway decides
])
def test_gun_refusal(online: bool, level: str | None, entry: dict | None, why: str | None) -> None:
    assert gun_refusal(online, level, entry) == why
