"""The live picture of the station: what each pile, gun and the meter last said, and how
each bus's poll cycles go.

Pure bookkeeping: these objects turn readings into events (a gun's state changed, a fault
was raised or cleared, a pile was lost or came back) and hold what the loop needs next.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edge.config import BusConfig, PileConfig
from edge.drivers.base import GunReading, MeterReading, PileInfo
from edge.drivers.bus import Bus
from edge.drivers.pile import RegisterMapPile
from edge.gunstate import GunState


@dataclass(frozen=True)
class StationEvent:
    """A change worth recording: becomes an `event` record (spec/mqtt-v1.md)."""

    kind: str  # gun_state, fault_raised, fault_cleared, pile_lost, pile_back, meter_lost, …
    gun: str | None
    detail: dict[str, Any]


@dataclass
class GunRuntime:
    id: str  # "<pile>-<n>"
    pile_id: str
    n: int
    rated_power_w: int
    min_power_w: int
    priority: int = 0
    free_vend: bool = False
    reading: GunReading | None = None
    state: GunState = GunState.UNAVAILABLE
    faults: frozenset[str] = frozenset()
    read_at: float | None = None  # monotonic
    limit_written_w: int | None = None  # what the gateway last wrote as power limit
    limit_written_at: float = 0.0
    start_refused_until: float = 0.0  # free vend: do not retry a refused start before this
    load_refusal_recorded: bool = False  # free vend: start_refused recorded for this plugging in

    def apply(self, reading: GunReading, now: float) -> list[StationEvent]:
        events: list[StationEvent] = []
        if reading.state != self.state:
            events.append(StationEvent("gun_state", self.id, {"from": self.state.value, "to": reading.state.value}))
        raised = reading.faults - self.faults
        cleared = self.faults - reading.faults
        if raised:
            events.append(StationEvent("fault_raised", self.id, {"faults": sorted(raised)}))
        if cleared:
            events.append(StationEvent("fault_cleared", self.id, {"faults": sorted(cleared)}))
        self.reading, self.state, self.faults, self.read_at = reading, reading.state, reading.faults, now
        return events

    def mark_unavailable(self) -> list[StationEvent]:
        if self.state == GunState.UNAVAILABLE:
            return []
        old, self.state = self.state, GunState.UNAVAILABLE
        return [StationEvent("gun_state", self.id, {"from": old.value, "to": GunState.UNAVAILABLE.value,
                                                     "cause": "link"})]

    @property
    def power_w(self) -> int:
        if self.reading is None or self.state == GunState.UNAVAILABLE:
            return 0
        return self.reading.power_w or 0


@dataclass
class PileRuntime:
    config: PileConfig
    driver: RegisterMapPile
    info: PileInfo | None = None
    guns: list[GunRuntime] = field(default_factory=list)
    lost: bool = False
    uptime_min: int | None = None
    watchdog_set: bool = False
    last_heartbeat: float = 0.0
    heartbeat_value: int = 0

    @property
    def id(self) -> str:
        return self.config.id

    def set_lost(self, lost: bool, reason: str = "") -> list[StationEvent]:
        if lost == self.lost:
            return []
        self.lost = lost
        events = [StationEvent("pile_lost" if lost else "pile_back", None,
                               {"pile": self.id, "unit": self.config.unit} | ({"reason": reason} if reason else {}))]
        if lost:
            self.watchdog_set = False  # it may come back rebooted: configure it again
            for g in self.guns:
                events += g.mark_unavailable()
        return events


@dataclass
class MeterRuntime:
    s_total_va: int | None = None
    good_at: float | None = None  # monotonic time of the last good load reading
    fast_reads: int = 0  # good fast reads of S total so far (a full reading compares with it)
    reading: MeterReading | None = None
    reading_at: float | None = None
    lost: bool = False
    last_error: str | None = None
    # the minute being aggregated for the meter_minute record
    minute: int | None = None
    p_sum: float = 0.0
    p_n: int = 0
    p_max: int = 0
    load_max: float = 0.0


@dataclass
class BusLoop:
    """One bus and what is polled on it, with its cycle times for the status page."""

    config: BusConfig
    bus: Bus
    piles: list[PileRuntime] = field(default_factory=list)
    has_meter: bool = False
    cycles: int = 0
    last_cycle_s: float = 0.0
    max_cycle_s: float = 0.0
