"""The limit writer: what load control decided goes out to the piles, one batch per line,
most urgent first, claimed before the line is taken so two loops never send the same limit
twice; and the energy limits that keep amount sessions within their money offline.

    limits = LimitWriter(control, sessions, piles, clock)
    await limits.apply(decision, guns, priority=URGENT)
"""

from __future__ import annotations

import asyncio
import logging

from edge.clock import Clock
from edge.control import LimitWrite, LoadController
from edge.drivers.bus import Bus
from edge.drivers.errors import BusError
from edge.gunstate import GunState
from edge.loadctl import Decision
from edge.runtime import GunRuntime, PileRuntime
from edge.sessions import SessionManager

log = logging.getLogger(__name__)


class LimitWriter:
    def __init__(self, control: LoadController, sessions: SessionManager, piles: dict[str, PileRuntime],
                 clock: Clock) -> None:
        self.control = control
        self.sessions = sessions
        self.piles = piles
        self.clock = clock

    def write_order(self, w: LimitWrite) -> int:
        """Which limits go out first when many change at once: running sessions that must come
        down (the transformer), then guns where a start can happen any moment (car plugged, no
        session), then running sessions that may go up, then empty guns."""
        g = w.gun
        running = self.sessions.session_on(g.id) is not None
        if running:
            return 0 if w.watts < (g.limit_written_w if g.limit_written_w is not None else w.watts + 1) else 2
        return 1 if g.state in (GunState.PLUGGED, GunState.RESERVED, GunState.FINISHING) else 3

    async def apply(self, d: Decision, guns: list[GunRuntime] | None = None, priority: int = 1,
                    refresh: bool = True) -> None:
        await (await self.apply_held(d, guns, priority, refresh))

    async def apply_held(self, d: Decision, guns: list[GunRuntime] | None = None, priority: int = 1,
                         refresh: bool = True) -> asyncio.Future[list[None]]:
        """apply() for a caller that may hold a line (the meter's tick: read, decide and write
        in one turn of the line, so that no poll slips in between). The limits of a line the
        caller holds are written from its own task (a task of its own would wait for the
        caller's hold); the other lines' go out in tasks of their own, meanwhile. Returns once
        the held lines are written, with the other lines' writes as a future: the caller leaves
        its hold, then awaits it. `refresh`: also limits unchanged but due for a rewrite."""
        by_bus: dict[int, tuple[Bus, list[LimitWrite]]] = {}
        for w in self.control.writes(d, guns, refresh=refresh):
            pile = self.piles[w.gun.pile_id]
            if pile.lost or pile.info is None:
                continue
            bus = pile.driver.bus
            by_bus.setdefault(id(bus), (bus, []))[1].append(w)
        own = [(bus, ws) for bus, ws in by_bus.values() if bus.held()]
        others = [asyncio.ensure_future(self._write_limits(bus, sorted(ws, key=self.write_order), priority))
                  for bus, ws in by_bus.values() if not bus.held()]
        rest = asyncio.gather(*others)
        try:
            for bus, ws in own:
                await self._write_limits(bus, sorted(ws, key=self.write_order), priority)
        except BaseException:
            rest.cancel()
            raise
        return rest

    async def _write_limits(self, bus: Bus, writes: list[LimitWrite], priority: int) -> None:
        # Claimed before the line is ours: another loop deciding the same change meanwhile
        # finds it written and does not send it twice.
        claimed = []
        for w in writes:
            claimed.append((w, w.gun.limit_written_w, w.gun.limit_written_at))
            w.gun.limit_written_w, w.gun.limit_written_at = w.watts, self.clock.monotonic()
        async with bus.hold(priority):
            for w, before, before_at in claimed:
                # A routine batch (the bus loop's, refreshes) lets the meter's read through:
                # the load is not left unread for a whole batch, and what it decides goes
                # out at once (the rest of this batch, changed meanwhile, is then skipped).
                await bus.let_urgent_pass()
                if w.gun.limit_written_w != w.watts:
                    continue  # a newer decision changed it again; that one writes it
                try:
                    await self.piles[w.gun.pile_id].driver.set_power_limit(w.gun.n, w.watts, priority)
                except BusError as exc:
                    log.debug("%s: limit write failed: %s", w.gun.id, exc)
                    if w.gun.limit_written_w == w.watts:
                        w.gun.limit_written_w, w.gun.limit_written_at = before, before_at  # try again
                    continue
                w.gun.limit_written_at = self.clock.monotonic()

    async def amount_limits(self, piles: list[PileRuntime], tick_s: float | None = None) -> None:
        """Amount sessions' energy limits out to their piles; `tick_s`: how often the caller
        (a bus loop) comes back, so that a limit near a period boundary covers until then."""
        for pile in piles:
            for g in pile.guns:
                target = self.sessions.pile_energy_limit_update(g, tick_s)
                if target is None:
                    continue
                if pile.lost:
                    self.sessions.pile_energy_limit_failed(g)
                    continue
                try:
                    await pile.driver.write_value("energy_limit_wh", target, g.n)
                except BusError as exc:
                    log.debug("%s: energy limit write failed: %s", g.id, exc)
                    self.sessions.pile_energy_limit_failed(g)
