"""What a test does when a service or tool it needs is not on this machine.

On a developer's machine the test is skipped with the reason and the fix. Under CI
(`CI=true`, as `.ci/run` sets it) the same absence fails the test: CI runs on a machine that
`scripts/setup.sh` provisioned, so a missing Mosquitto, PostgreSQL or Chromium there is a
broken setup, and a skip would let the suite look green while testing less.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes", "on")


def missing(reason: str) -> None:
    """Skip (developer machine) or fail (CI) because `reason`: never returns."""
    if under_ci():
        pytest.fail(f"{reason} [CI=true: a missing service fails the run; scripts/setup.sh provides it]",
                    pytrace=False)
    pytest.skip(reason)


def require_module(name: str, reason: str) -> ModuleType:
    """Import `name`, or skip/fail with `reason` as `missing` does."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        missing(f"{reason} ({exc})")
        raise  # unreachable: missing() skips or fails
