"""The station's event and alarm recorder: the local history, the protocol's events into the
outbox, alarms raised and cleared, and what was recorded kept across restarts.

    recorder = Recorder(store, clock, control, meter_rt, piles, guns)
    recorder.restore()                 # at start: what the last run recorded
    recorder.record(events)            # one transaction: history, outbox, recorded state
    recorder.alarm("meter_stale", True, "…")
"""

from __future__ import annotations

import logging
from typing import Any

from edge.cache import Store
from edge.clock import Clock
from edge.control import LoadController
from edge.records import append
from edge.runtime import GunRuntime, MeterRuntime, PileRuntime, StationEvent
from jcproto import Event

log = logging.getLogger(__name__)

# Event kinds the protocol defines (spec/mqtt-v1.md); others stay in the local history.
PROTOCOL_EVENTS = {"gun_state", "fault_raised", "fault_cleared", "load_level", "meter_lost",
                   "meter_back", "pile_lost", "pile_back", "clock_skew",
                   "start_refused", "meter_implausible"}  # the last two: Revision 1.1
RECORDED_KEY = "recorded_state"


class Recorder:
    def __init__(self, store: Store, clock: Clock, control: LoadController, meter_rt: MeterRuntime,
                 piles: dict[str, PileRuntime], guns: dict[str, GunRuntime]) -> None:
        self.store = store
        self.clock = clock
        self.control = control
        self.meter_rt = meter_rt
        self.piles = piles
        self.guns = guns
        # what was recorded for guns before the restart, until they are identified again
        self.saved_guns: dict[str, dict[str, Any]] = {}
        self._alarms: dict[str, bool] = {a.key: True for a in self.store.alarms.active()}

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def record(self, events: list[StationEvent]) -> None:
        """Local history for every event; the protocol's kinds also go to the cloud."""
        if not events:
            return
        now = self.now_ms()
        with self.store.transaction():
            for e in events:
                self.store.events.add(e.kind, e.gun, e.detail, now)
                if e.kind in PROTOCOL_EVENTS:
                    append(self.store, Event(seq=0, ts=now, kind=e.kind, gun=e.gun, detail=e.detail))
            # What the events said, in the same commit: after a restart the gateway compares
            # with this, not with a blank slate, so no change is recorded twice or missed.
            self.store.settings.set(RECORDED_KEY, self.recorded_state())
        for e in events:
            log.info("event %s %s %s", e.kind, e.gun or "", e.detail)

    def clear_alarm(self, key: str) -> None:
        """Clear an alarm by hand; the loops raise it again if its cause is still there."""
        self.store.alarms.clear(key, self.now_ms())
        self._alarms.pop(key, None)
        log.info("alarm %s cleared by hand", key)

    def recorded_state(self) -> dict[str, Any]:
        return {
            "level": self.control.recorded_level,
            "meter_lost": self.meter_rt.lost,
            "piles": {p.id: {"lost": p.lost} for p in self.piles.values()},
            # guns not identified since the restart keep what was recorded for them
            "guns": {**self.saved_guns,
                     **{g.id: {"state": g.state.value, "faults": sorted(g.faults)} for g in self.guns.values()}},
        }

    def restore(self) -> None:
        saved = self.store.settings.get(RECORDED_KEY) or {}
        self.saved_guns = saved.get("guns", {})
        self.control.recorded_level = saved.get("level")
        self.meter_rt.lost = bool(saved.get("meter_lost", False))
        for pid, p in saved.get("piles", {}).items():
            if pid in self.piles:
                self.piles[pid].lost = bool(p.get("lost", False))

    def alarm(self, key: str, active: bool, message: str = "") -> None:
        # Called every tick: touch the store only when the alarm changes.
        if self._alarms.get(key) == active:
            return
        self._alarms[key] = active
        now = self.now_ms()
        changed = self.store.alarms.raise_(key, message, now) if active else self.store.alarms.clear(key, now)
        if changed:
            (log.warning if active else log.info)("alarm %s %s %s", key, "raised" if active else "cleared", message)
