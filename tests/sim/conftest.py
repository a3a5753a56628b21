"""Fixtures for the simulator's tests: models on a manual clock, and a running simulator."""

from __future__ import annotations

import pytest

from firmware_sim import scenario as scenarios
from firmware_sim.clock import ManualClock
from firmware_sim.grid import Grid
from firmware_sim.pile import Pile
from firmware_sim.station import Station
from tests.sim.simtest_helpers import AC7, AC22, DC120, make_pile
from tests.support.sim import sim, sim_factory  # noqa: F401  (fixtures)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(speed=1.0)


@pytest.fixture
def grid() -> Grid:
    return Grid(230.0, 50.0, 0.0)  # no noise: exact numbers in model tests


@pytest.fixture
def ac7(clock: ManualClock, grid: Grid) -> Pile:
    return make_pile(AC7, clock, grid)


@pytest.fixture
def ac22(clock: ManualClock, grid: Grid) -> Pile:
    return make_pile(AC22, clock, grid)


@pytest.fixture
def dc120(clock: ManualClock, grid: Grid) -> Pile:
    return make_pile(DC120, clock, grid)


@pytest.fixture
def station(clock: ManualClock) -> Station:
    return Station(scenarios.load("test"), clock)
