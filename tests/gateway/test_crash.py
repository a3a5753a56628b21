"""Kill -9 at random moments: the gateway is SIGKILLed 100 times during a scripted day of
sessions (free vend on every gun, a fault, load crossing the thresholds), restarted each
time on the same store. Afterwards nothing is lost or duplicated: every session the piles
ran is recorded exactly once with the energy the piles' lifetime registers say, every record
seq is there once and in order, every event chain is unbroken, and the store is intact.

The day and the checks live in tests/support/crashday.py; `bench/crash_soak.py` runs the
same day ten times (1,000 kills).
"""

from __future__ import annotations

import json
import random

import pytest

pytest.register_assert_rewrite("tests.support.crashday")

from tests.support.crashday import RestartFailed, check_day, day_scenario, run_day  # noqa: E402

KILLS = 100


@pytest.mark.slow
def test_kill_9_a_hundred_times_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(20261125)
    scenario = day_scenario(tmp_path / "crashday.toml")
    try:
        truth, gw, kills = run_day(scenario, tmp_path / "gw", rng, KILLS)
    except RestartFailed as exc:
        pytest.fail(str(exc))
    summary = check_day(gw, truth, kills)
    (tmp_path / "summary.json").write_text(json.dumps(summary))
