"""Pile specs and builders shared by the simulator's model tests."""

from __future__ import annotations

from firmware_sim.clock import ManualClock
from firmware_sim.grid import Grid
from firmware_sim.pile import Pile, PileSpec, Timing

AC7 = PileSpec(unit=1, id="AC7", current="AC", guns=1, rated_power_w=7000, phases=1,
               max_current_a=32, min_current_a=6, serial="T-AC7", firmware=(1, 4, 210))
AC22 = PileSpec(unit=2, id="AC22", current="AC", guns=1, rated_power_w=22000, phases=3,
                max_current_a=32, min_current_a=6, serial="T-AC22")
DC120 = PileSpec(unit=3, id="DC120", current="DC", guns=2, rated_power_w=120000, phases=0,
                 max_current_a=300, max_total_power_w=120000, serial="T-DC120",
                 efficiency=0.95, standby_w=80)
TIMING = Timing(start_delay_s=1.0, limit_delay_s=0.5)


def make_pile(spec: PileSpec, clock: ManualClock, grid: Grid) -> Pile:
    return Pile(spec, clock, grid, TIMING)
