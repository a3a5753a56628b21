"""When a running session is expected to end, from its target and its progress."""

from __future__ import annotations

import pytest

from cloud.recommend.progress import MAX_MS, Running, expected_end

NOW = 1_800_000_000_000
MIN = 60_000


@pytest.mark.parametrize(("running", "minutes"), [
    pytest.param(Running("finishing"), 5, id="finishing: minutes"),
    pytest.param(Running("charging", 60_000, 10_000, None, "energy", 40_000), 30, id="energy: 30 kWh left at 60 kW"),
    pytest.param(Running("charging", 30_000, 0, None, "amount", 3_000, price_e4=10_000), 60,
                 id="amount: ¥30 at ¥1/kWh is 30 kWh at 30 kW"),
    pytest.param(Running("charging", 60_000, 0, None, "time", 1_800, started_at=NOW - 10 * MIN), 20,
                 id="time: 30 min booked, 10 gone"),
    pytest.param(Running("charging", 60_000, 5_000, 80, "full", 0), 12, id="full: 20 % of 60 kWh at 60 kW"),
    pytest.param(Running("charging", 60_000, 0, 90, "energy", 40_000), 6,
                 id="the car's SoC ends it before its energy target"),
    pytest.param(Running("charging", None, None, None, None, None), 45, id="nothing known: the default"),
    pytest.param(Running("suspended_ev", 0, 1_000, None, "energy", 2_000), 60,
                 id="paused: paced at 1 kW, not never"),
])
def test_expected_end(running: Running, minutes: int) -> None:
    assert expected_end(running, NOW) == pytest.approx(NOW + minutes * MIN, abs=MIN // 2)


def test_never_beyond_the_cap() -> None:
    assert expected_end(Running("charging", 1_000, 0, None, "energy", 1_000_000), NOW) == NOW + MAX_MS
