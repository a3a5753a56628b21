"""The pile service: one cycle of a bus (poll every pile, decide, record, write limits, carry
out stops), guns registered as piles identify themselves, sessions started under load
control and stopped at the pile, free vend, and the piles' heartbeat and watchdog.

    piles = PileService(config, piles_rt, guns, sessions, control, limits, meter, recorder, clock, spawn)
    await piles.bus_tick(loop)         # once per poll period of that bus
    await piles.heartbeat_tick()
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge.clock import Clock
from edge.config import StationConfig
from edge.control import LoadController
from edge.drivers.errors import BusError, DeviceLost
from edge.gunstate import GunState, StopReason
from edge.limits import LimitWriter
from edge.loadctl import Decision
from edge.meterservice import MeterService
from edge.recorder import Recorder
from edge.runtime import BusLoop, GunRuntime, PileRuntime, StationEvent
from edge.sessions import FREE_VEND_RETRY_S, SessionManager, StartError, check_departure

log = logging.getLogger(__name__)

__all__ = ["SLOW_EVERY_S", "BusLoop", "PileService"]

SLOW_EVERY_S = 30.0


class PileService:
    def __init__(self, config: StationConfig, piles: dict[str, PileRuntime], guns: dict[str, GunRuntime],
                 sessions: SessionManager, control: LoadController, limits: LimitWriter, meter: MeterService,
                 recorder: Recorder, clock: Clock, spawn: Callable[[Any], Any]) -> None:
        self.config = config
        self.piles = piles
        self.guns = guns
        self.sessions = sessions
        self.control = control
        self.limits = limits
        self.meter = meter
        self.recorder = recorder
        self.clock = clock
        self.spawn = spawn
        self.last_slow = 0.0

    def _register_guns(self, pile: PileRuntime) -> None:
        info = pile.info
        assert info is not None
        if len(pile.guns) == info.gun_count:
            return
        pile.guns = []
        for n in range(1, info.gun_count + 1):
            gid = f"{pile.id}-{n}"
            g = self.guns.get(gid)
            if g is None:
                g = GunRuntime(
                    id=gid, pile_id=pile.id, n=n, rated_power_w=info.rated_power_w,
                    min_power_w=info.min_power_w(), priority=pile.config.priority,
                    free_vend=pile.config.free_vend or n in pile.config.free_vend_guns)
                saved = self.recorder.saved_guns.get(gid)
                if saved:
                    g.state = GunState(saved.get("state", GunState.UNAVAILABLE.value))
                    g.faults = frozenset(saved.get("faults", []))
            self.guns[gid] = g
            pile.guns.append(g)
        self.control.guns = list(self.guns.values())

    async def poll_pile(self, pile: PileRuntime) -> tuple[list[StationEvent], list[tuple[str, StopReason]]]:
        events: list[StationEvent] = []
        stops: list[tuple[str, StopReason]] = []
        bus = pile.driver.bus
        try:
            if pile.info is None:
                pile.info = await pile.driver.identify()
                self._register_guns(pile)
                log.info("pile %s: %s %s, %d gun(s), %d W", pile.id, pile.info.profile, pile.info.current,
                         pile.info.gun_count, pile.info.rated_power_w)
            readings = await pile.driver.read_guns()
        except DeviceLost:
            return events, stops
        except BusError as exc:
            if bus.health(pile.config.unit).lost:
                events += pile.set_lost(True, str(exc))
            return events, stops
        events += pile.set_lost(False)
        now = self.clock.monotonic()
        for r in readings:
            gun = pile.guns[r.gun - 1]
            events += gun.apply(r, now)
            try:
                stops += self.sessions.observe(gun, r)
            except Exception:  # noqa: BLE001 — one gun's trouble must not stall the others
                log.exception("%s: session bookkeeping failed; retrying next poll", gun.id)
        return events, stops

    async def stop_gun(self, gun_id: str, reason: StopReason) -> bool:
        gun = self.guns.get(gun_id)
        if gun is None:
            return False
        self.sessions.request_stop(gun_id, reason)
        try:
            result = await self.piles[gun.pile_id].driver.stop(gun.n)
        except BusError as exc:
            log.warning("%s: stop failed on the line: %s", gun_id, exc)
            return False
        return result.ok

    async def bus_tick(self, loop: BusLoop) -> None:
        t0 = self.clock.monotonic()
        events: list[StationEvent] = []
        stops: list[tuple[str, StopReason]] = []
        for pile in loop.piles:
            ev, st = await self.poll_pile(pile)
            events += ev
            stops += st
        if loop.has_meter:
            events += await self.meter.read_full()
        d, ev = self.control.decide()
        events += ev
        self.recorder.record(events)
        await self.limits.apply(d, [g for p in loop.piles for g in p.guns])
        for gun_id, reason in stops:
            await self.stop_gun(gun_id, reason)
        for gun_id in self.control.take_stops():  # pile sessions the level refuses (pile_sessions = "stop")
            await self.stop_gun(gun_id, StopReason.LIMIT)
        # The loop comes back after its poll period, or after its cycle when that is longer.
        await self.limits.amount_limits(loop.piles, max(loop.config.poll_period_s, loop.last_cycle_s))
        self._free_vend(loop, d)
        loop.cycles += 1
        loop.last_cycle_s = self.clock.monotonic() - t0
        loop.max_cycle_s = max(loop.max_cycle_s, loop.last_cycle_s)

    def _free_vend(self, loop: BusLoop, d: Decision) -> None:
        now = self.clock.monotonic()
        refused: list[StationEvent] = []
        for pile in loop.piles:
            for g in pile.guns:
                waiting = g.free_vend and g.state == GunState.PLUGGED and self.sessions.session_on(g.id) is None
                if not waiting:
                    g.load_refusal_recorded = False
                    continue
                if d.may_start and g.id in d.start_caps:
                    g.load_refusal_recorded = False
                    if now >= g.start_refused_until:
                        g.start_refused_until = now + FREE_VEND_RETRY_S
                        self.spawn(self.start_session(g.id, auth="free"))
                elif not g.load_refusal_recorded and (not d.level.admits_starts or d.shed):
                    # Once per plugging in: the car waits, the start follows when the level allows.
                    g.load_refusal_recorded = True
                    refused.append(StationEvent("start_refused", g.id, {
                        "reason": self.control.refusal_reason(d), "origin": "free", "level": d.level.value,
                        "load_pct": round(d.load_pct, 2) if d.load_pct is not None else None}))
        self.recorder.record(refused)

    async def start_session(self, gun_id: str, *, auth: str, **kw: Any) -> dict[str, Any]:
        """Start a session if load control allows it; the reply detail of a `start` command."""
        # Decide afresh: a start accepted a moment ago is in the snapshot as starting.
        d, events = self.control.decide()
        self.recorder.record(events)
        cap, first = self.control.start_cap(d, gun_id)
        departure, limit = kw.get("departure_at"), kw.get("limit")
        if departure is not None and cap is not None and first is not None and limit is not None:
            # Orderly: the first limit is the plan's (0 while it waits for a cheaper slot).
            check_departure(limit, departure, self.sessions.now_ms())
            kw["orderly"] = self.control.first_orderly_limit(gun_id, cap, limit.value, departure, kw.get("tariff"))
            if kw["orderly"].power_w is not None:
                first = min(first, kw["orderly"].power_w)
        try:
            row = await self.sessions.start(gun_id, auth=auth, cap_w=cap, start_limit_w=first, **kw)
        except StartError as exc:
            log.info("%s: start refused: %s (%s)", gun_id, exc.code, exc)
            if exc.code == "blocked_by_load":
                self.recorder.record([StationEvent("start_refused", gun_id, {
                    "reason": self.control.refusal_reason(d), "origin": auth.split(":")[0],
                    "level": d.level.value, "load_pct": round(d.load_pct, 2) if d.load_pct is not None else None})])
            raise
        out: dict[str, Any] = {"session_id": row.session_id, "power_cap_w": cap}
        if "orderly" in kw:
            o = kw["orderly"]
            out["orderly"] = {"status": o.status, "expected_wh": o.expected_wh, "finish_at": o.finish_at}
        return out

    async def heartbeat_tick(self) -> None:
        wd = self.config.watchdog
        now = self.clock.monotonic()
        slow = now - self.last_slow >= SLOW_EVERY_S
        if slow:
            self.last_slow = now
        for pile in self.piles.values():
            if pile.lost or pile.info is None:
                continue
            try:
                if slow:
                    status = await pile.driver.read_device_status()
                    uptime = status.int("uptime_min")
                    if uptime is not None and pile.uptime_min is not None and uptime < pile.uptime_min:
                        log.warning("pile %s restarted (uptime %d min): configuring it again", pile.id, uptime)
                        pile.watchdog_set = False
                        for g in pile.guns:
                            g.limit_written_w = None
                    pile.uptime_min = uptime
                if not pile.watchdog_set and wd.timeout_s:
                    fallback = int(pile.info.rated_power_w * wd.fallback_power_pct / 100)
                    await pile.driver.configure_watchdog(wd.timeout_s, fallback)
                    pile.watchdog_set = True
                pile.heartbeat_value = (pile.heartbeat_value + 1) & 0xFFFF
                await pile.driver.heartbeat(pile.heartbeat_value)
                pile.last_heartbeat = now
            except BusError as exc:
                log.debug("pile %s: heartbeat failed: %s", pile.id, exc)
