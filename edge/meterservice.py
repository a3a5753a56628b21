"""The meter service: the transformer meter's fast load read ahead of everything else, the
decision load control takes on it (limits written at once, its alarms raised or cleared),
the full reading on the meter's line, and the per-minute `meter_minute` record.

    meter = MeterService(meter_driver, meter_rt, control, limits, recorder, store, clock)
    await meter.tick()                 # a few times a second
    await meter.read_full()            # once per poll of the meter's line
"""

from __future__ import annotations

import contextlib

from edge.cache import MinuteSample, Store
from edge.clock import Clock
from edge.clockwatch import ClockWatch
from edge.control import LoadController
from edge.drivers.bus import URGENT
from edge.drivers.errors import BusError, DeviceLost
from edge.drivers.meter import RegisterMapMeter
from edge.limits import LimitWriter
from edge.loadctl import Decision, load_pct
from edge.recorder import Recorder
from edge.records import append
from edge.runtime import MeterRuntime, StationEvent
from jcproto import MeterMinute

# What load control's alarms mean to the person reading the status page.
LOADCTL_ALARMS = {
    "meter_missing": "no reading from the transformer meter since start: no new sessions (failsafe)",
    "meter_stale": "transformer meter unreadable: no new sessions (failsafe)",
    "rated_kva_invalid": "the transformer rating is not usable: set [transformer] rated_kva",
    "load_above_rated": "transformer load above 100 % of its rating",
    "meter_implausible": "the transformer meter contradicts the guns' own measurements: "
                         "no new sessions (failsafe)",
    "load_above_emergency": "transformer load above the emergency threshold: running sessions shed",
    "load_shed": "running sessions are held below their limits to unload the transformer",
    "base_load_above_target": "the base load alone is above the share target: every gun paused",
}


class MeterService:
    def __init__(self, meter: RegisterMapMeter | None, meter_rt: MeterRuntime, control: LoadController,
                 limits: LimitWriter, recorder: Recorder, store: Store, clock: Clock) -> None:
        self.meter = meter
        self.meter_rt = meter_rt
        self.control = control
        self.limits = limits
        self.recorder = recorder
        self.store = store
        self.clock = clock
        self.clock_watch = ClockWatch(clock)

    async def read_full(self) -> list[StationEvent]:
        if self.meter is None:
            return []
        fast_before = self.meter_rt.fast_reads
        try:
            reading = await self.meter.read_meter()
        except BusError as exc:
            self.meter_rt.last_error = str(exc)
            return []
        m = self.meter_rt
        m.reading, m.reading_at = reading, self.clock.monotonic()
        # The full reading takes several requests, and the fast read of S total goes ahead of
        # the following ones: a fast reading taken meanwhile is newer than this S total, which must
        # not undo it (the bus loop would decide, and write limits, on the older load).
        if m.fast_reads == fast_before:
            m.s_total_va, m.good_at = reading.s_total_va, m.reading_at
        if reading.p_total_w is not None:
            m.p_sum += reading.p_total_w
            m.p_n += 1
            m.p_max = max(m.p_max, reading.p_total_w)
        return []

    async def tick(self) -> None:
        # Read, decide and write the limits in one turn of the meter's line: a pile poll queued
        # meanwhile does not slip in between the reading of a new load and the writes it calls
        # for (on one 9600-baud line that is ~0.1 s of reaction). Recording comes after the line
        # is free again: the durable commit of the events must not delay the transformer.
        line = self.meter.bus.hold(URGENT) if self.meter is not None else contextlib.nullcontext()
        async with line:
            events, d = await self._read_and_decide()
            # Only what changed: the periodic rewrites are the bus loop's, at its priority,
            # so that they never keep this loop from the next reading.
            rest = await self.limits.apply_held(d, priority=URGENT, refresh=False)
        await rest
        for key, message in LOADCTL_ALARMS.items():
            self.recorder.alarm(key, key in d.alarms, message)
        self.recorder.record(events)
        self._meter_minute()

    async def _read_and_decide(self) -> tuple[list[StationEvent], Decision]:
        m = self.meter_rt
        events: list[StationEvent] = []
        if self.meter is not None:
            try:
                s = await self.meter.read_load()
            except DeviceLost:
                pass
            except BusError as exc:
                m.last_error = str(exc)
            else:
                m.s_total_va, m.good_at, m.last_error = s, self.clock.monotonic(), None
                m.fast_reads += 1
                m.load_max = max(m.load_max, load_pct(s, self.control.rated_kva))
        timeout = self.control.policy.meter_timeout_s
        stale = m.good_at is None or self.clock.monotonic() - m.good_at > timeout
        if stale and not m.lost:
            m.lost = True
            events.append(StationEvent("meter_lost", None, {"error": m.last_error or "no reading",
                                                            "timeout_s": timeout}))
        elif not stale and m.lost:
            m.lost = False
            events.append(StationEvent("meter_back", None, {}))
        events += self.clock_watch.check()
        d, ev = self.control.decide()
        return events + ev, d

    def _meter_minute(self) -> None:
        m = self.meter_rt
        minute = int(self.clock.time() // 60)
        if m.minute is None:
            m.minute = minute
            return
        if minute == m.minute:
            return
        if m.p_n and m.reading and m.reading.energy_import_wh is not None:
            ts = m.minute * 60_000
            p_avg, load_max = int(m.p_sum / m.p_n), round(m.load_max, 2)
            with self.store.transaction():
                append(self.store, MeterMinute(seq=0, ts=ts, p_avg_w=p_avg, p_max_w=m.p_max,
                                               load_pct_max=load_max, energy_import_wh=m.reading.energy_import_wh))
                self.store.samples.put(MinuteSample(ts, p_avg, m.p_max, load_max, m.reading.energy_import_wh))
        m.minute, m.p_sum, m.p_n, m.p_max, m.load_max = minute, 0.0, 0, 0, 0.0
