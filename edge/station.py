"""The station loop: one task per bus (read, decide, write, record), the meter's fast read,
the piles' heartbeat, housekeeping, and the local status server.

    station = Station(config)          # builds buses, drivers, store, controller
    await station.run()                # until SIGTERM / stop()

The transformer rule is enforced here, offline: the meter's load is read a few times a
second ahead of pile polls on its line, `loadctl.decide` turns it into limits for every gun
at once, and changed limits are written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import schedule

from edge.cache import MinuteSample, Store
from edge.clock import Clock, SystemClock
from edge.config import BusConfig, StationConfig
from edge.control import LimitWrite, LoadController
from edge.drivers.bus import URGENT, Bus, BusSettings
from edge.drivers.errors import BusError, DeviceLost
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import load_profile
from edge.drivers.transport import ModbusTransport, PymodbusTransport, SerialSettings
from edge.gunstate import GunState, StopReason
from edge.loadctl import Decision, Policy, PolicyError
from jcproto import Event, MeterMinute
from edge.records import Signer, append
from edge.runtime import GunRuntime, MeterRuntime, PileRuntime, StationEvent
from edge.sessions import FREE_VEND_RETRY_S, SessionManager, StartError

log = logging.getLogger(__name__)

VERSION = "0.1.0"
# Event kinds the protocol defines (spec/mqtt-v1.md); others stay in the local history.
PROTOCOL_EVENTS = {"gun_state", "fault_raised", "fault_cleared", "load_level", "meter_lost",
                   "meter_back", "pile_lost", "pile_back", "clock_skew"}
SLOW_EVERY_S = 30.0
RECORDED_KEY = "recorded_state"
CLOCK_SKEW_S = 2.0  # a wall-clock jump this large is recorded as a clock_skew event
# What load control's alarms mean to the person reading the status page.
LOADCTL_ALARMS = {
    "meter_missing": "no reading from the transformer meter since start: no new sessions (failsafe)",
    "meter_stale": "transformer meter unreadable: no new sessions (failsafe)",
    "rated_kva_invalid": "the transformer rating is not usable: set [transformer] rated_kva",
    "load_above_rated": "transformer load above 100 % of its rating",
    "base_load_above_target": "the base load alone is above the share target: every gun paused",
}


@dataclass
class BusLoop:
    config: BusConfig
    bus: Bus
    piles: list[PileRuntime] = field(default_factory=list)
    has_meter: bool = False
    cycles: int = 0
    last_cycle_s: float = 0.0
    max_cycle_s: float = 0.0


def make_transport(cfg: BusConfig) -> ModbusTransport:
    if cfg.serial:
        assert cfg.port is not None
        return PymodbusTransport(serial=SerialSettings(cfg.port, baud=cfg.baud, parity=cfg.parity,
                                                       stopbits=cfg.stopbits), name=cfg.name)
    assert cfg.host is not None
    return PymodbusTransport(host=cfg.host, port=cfg.tcp_port, name=cfg.name)


class Station:
    def __init__(self, config: StationConfig, *, clock: Clock | None = None, store: Store | None = None,
                 transports: dict[str, ModbusTransport] | None = None, signer: Signer | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.started_at = self.clock.time()
        self.store = store or Store.open(config.store.path, cap_bytes=int(config.store.max_mb * 2**20),
                                         clock=self.clock)
        self.signer = signer
        self.loops: dict[str, BusLoop] = {}
        for b in config.buses:
            transport = (transports or {}).get(b.name) or make_transport(b)
            bus = Bus(transport, BusSettings(timeout_s=b.timeout_s, retries=b.retries, pause_s=b.pause_ms / 1000,
                                             lost_after=b.lost_after), self.clock)
            self.loops[b.name] = BusLoop(b, bus)
        self.piles: dict[str, PileRuntime] = {}
        for p in config.piles:
            loop = self.loops[p.bus]
            driver = RegisterMapPile(loop.bus, p.unit, load_profile(p.profile))
            driver.rate_scale = getattr(self.clock, "speed", 1.0)
            rt = PileRuntime(p, driver)
            self.piles[p.id] = rt
            loop.piles.append(rt)
        self.meter_rt = MeterRuntime()
        self.meter: RegisterMapMeter | None = None
        if config.meter:
            loop = self.loops[config.meter.bus]
            loop.has_meter = True
            self.meter = RegisterMapMeter(loop.bus, config.meter.unit, load_profile(config.meter.profile),
                                          rated_kva=config.rated_kva)
        self.guns: dict[str, GunRuntime] = {}
        self.sessions = SessionManager(self.store, self.clock, self.piles, signer)
        self.sessions.guns = self.guns
        self.sessions.default_tz = config.station.timezone
        self.rated_kva, policy = self._policy()
        self.control = LoadController(policy, self.rated_kva, self.meter_rt, [], self.sessions, self.clock)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self.scheduler = schedule.Scheduler()
        self.sync: Any = None  # the cloud link, when configured (edge/sync)
        self.status_server: Any = None
        self.last_slow = 0.0
        self._saved_guns: dict[str, dict[str, Any]] = {}
        self.fatal: Exception | None = None  # why the gateway stopped itself, if it did
        self._clock_ref: tuple[float, float] | None = None  # (monotonic, wall) for clock_skew
        self._alarms: dict[str, bool] = {a.key: True for a in self.store.alarms.active()}

    # ---- settings --------------------------------------------------------------------

    def _policy(self) -> tuple[float, Policy]:
        lp = self.config.load_policy
        base = Policy(mode=lp.mode, cap_above_pct=lp.cap_above_pct, block_above_pct=lp.block_above_pct,
                      cap_power_pct=lp.cap_power_pct, hysteresis_pct=lp.hysteresis_pct,
                      share_target_pct=min(lp.share_target_pct, lp.block_above_pct), dwell_s=lp.dwell_s,
                      meter_timeout_s=self.config.meter.timeout_s if self.config.meter else 3.0)
        rated = self.config.rated_kva
        stored = self.store.settings.load_policy()
        if stored:
            # A policy the cloud set (set_load_policy) outlives restarts.
            try:
                base = Policy.from_command(stored, base)
                rated = float(stored.get("rated_kva", rated))
            except PolicyError as exc:
                log.error("stored load policy ignored: %s", exc)
        return rated, base

    def apply_overrides(self, overrides: dict[str, Any]) -> None:
        """Settings the cloud changed with set_config (kept in the store across restarts)."""
        from dataclasses import replace

        policy = self.control.policy
        if "load_policy.dwell_s" in overrides:
            policy = replace(policy, dwell_s=float(overrides["load_policy.dwell_s"]))
        if "load_policy.share_target_pct" in overrides:
            policy = replace(policy, share_target_pct=min(float(overrides["load_policy.share_target_pct"]),
                                                          policy.block_above_pct))
        self.control.policy = policy
        if "cloud.telemetry_s" in overrides and self.sync is not None:
            self.sync.telemetry_s = float(overrides["cloud.telemetry_s"])

    def set_policy(self, policy: Policy, rated_kva: float | None = None) -> None:
        self.control.policy = policy
        if rated_kva:
            self.rated_kva = self.control.rated_kva = rated_kva
            if self.meter:
                self.meter.rated_kva = rated_kva

    # ---- recording -------------------------------------------------------------------

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
            self.store.settings.set(RECORDED_KEY, self._recorded_state())
        for e in events:
            log.info("event %s %s %s", e.kind, e.gun or "", e.detail)

    def clear_alarm(self, key: str) -> None:
        """Clear an alarm by hand; the loops raise it again if its cause is still there."""
        self.store.alarms.clear(key, self.now_ms())
        self._alarms.pop(key, None)
        log.info("alarm %s cleared by hand", key)

    def _recorded_state(self) -> dict[str, Any]:
        return {
            "level": self.control.recorded_level,
            "meter_lost": self.meter_rt.lost,
            "piles": {p.id: {"lost": p.lost} for p in self.piles.values()},
            # guns not identified since the restart keep what was recorded for them
            "guns": {**self._saved_guns,
                     **{g.id: {"state": g.state.value, "faults": sorted(g.faults)} for g in self.guns.values()}},
        }

    def _restore_recorded(self) -> None:
        saved = self.store.settings.get(RECORDED_KEY) or {}
        self._saved_guns = saved.get("guns", {})
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

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    # ---- piles -----------------------------------------------------------------------

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
                saved = self._saved_guns.get(gid)
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

    def _write_order(self, w: LimitWrite) -> int:
        """Which limits go out first when many change at once: running sessions that must come
        down (the transformer), then guns where a start can happen any moment (car plugged, no
        session), then running sessions that may go up, then empty guns."""
        g = w.gun
        running = self.sessions.session_on(g.id) is not None
        if running:
            return 0 if w.watts < (g.limit_written_w if g.limit_written_w is not None else w.watts + 1) else 2
        return 1 if g.state in (GunState.PLUGGED, GunState.RESERVED, GunState.FINISHING) else 3

    async def apply_limits(self, d: Decision, guns: list[GunRuntime] | None = None, priority: int = 1) -> None:
        by_bus: dict[int, tuple[Bus, list[LimitWrite]]] = {}
        for w in self.control.writes(d, guns):
            pile = self.piles[w.gun.pile_id]
            if pile.lost or pile.info is None:
                continue
            bus = pile.driver.bus
            by_bus.setdefault(id(bus), (bus, []))[1].append(w)
        if by_bus:
            await asyncio.gather(*(self._write_limits(bus, sorted(ws, key=self._write_order), priority)
                                   for bus, ws in by_bus.values()))

    async def _write_limits(self, bus: Bus, writes: list[LimitWrite], priority: int) -> None:
        # Claimed before the line is ours: another loop deciding the same change meanwhile
        # finds it written and does not send it twice.
        claimed = []
        for w in writes:
            claimed.append((w, w.gun.limit_written_w, w.gun.limit_written_at))
            w.gun.limit_written_w, w.gun.limit_written_at = w.watts, self.clock.monotonic()
        async with bus.hold(priority):
            for w, before, before_at in claimed:
                if w.gun.limit_written_w != w.watts:
                    continue  # a later decision changed it again; that one writes it
                try:
                    await self.piles[w.gun.pile_id].driver.set_power_limit(w.gun.n, w.watts, priority)
                except BusError as exc:
                    log.debug("%s: limit write failed: %s", w.gun.id, exc)
                    if w.gun.limit_written_w == w.watts:
                        w.gun.limit_written_w, w.gun.limit_written_at = before, before_at  # try again
                    continue
                w.gun.limit_written_at = self.clock.monotonic()

    # ---- the loops -------------------------------------------------------------------

    async def bus_tick(self, loop: BusLoop) -> None:
        t0 = self.clock.monotonic()
        events: list[StationEvent] = []
        stops: list[tuple[str, StopReason]] = []
        for pile in loop.piles:
            ev, st = await self.poll_pile(pile)
            events += ev
            stops += st
        if loop.has_meter:
            events += await self.read_meter_full()
        d, ev = self.control.decide()
        events += ev
        self.record(events)
        await self.apply_limits(d, [g for p in loop.piles for g in p.guns])
        for gun_id, reason in stops:
            await self.stop_gun(gun_id, reason)
        await self._amount_limits(loop)
        self._free_vend(loop, d)
        loop.cycles += 1
        loop.last_cycle_s = self.clock.monotonic() - t0
        loop.max_cycle_s = max(loop.max_cycle_s, loop.last_cycle_s)

    async def _amount_limits(self, loop: BusLoop) -> None:
        for pile in loop.piles:
            for g in pile.guns:
                target = self.sessions.pile_energy_limit_update(g)
                if target is None or pile.lost:
                    continue
                with contextlib.suppress(BusError):
                    await pile.driver.write_value("energy_limit_wh", target, g.n)

    def _free_vend(self, loop: BusLoop, d: Decision) -> None:
        now = self.clock.monotonic()
        for pile in loop.piles:
            for g in pile.guns:
                if (g.free_vend and g.state == GunState.PLUGGED and self.sessions.session_on(g.id) is None
                        and now >= g.start_refused_until and d.may_start and g.id in d.start_caps):
                    g.start_refused_until = now + FREE_VEND_RETRY_S
                    self.spawn(self.start_session(g.id, auth="free"))

    async def start_session(self, gun_id: str, *, auth: str, **kw: Any) -> dict[str, Any]:
        """Start a session if load control allows it; the reply detail of a `start` command."""
        # Decide afresh: a start accepted a moment ago is in the snapshot as starting.
        d, events = self.control.decide()
        self.record(events)
        cap, first = self.control.start_cap(d, gun_id)
        try:
            row = await self.sessions.start(gun_id, auth=auth, cap_w=cap, start_limit_w=first, **kw)
        except StartError as exc:
            log.info("%s: start refused: %s (%s)", gun_id, exc.code, exc)
            raise
        return {"session_id": row.session_id, "power_cap_w": cap}

    async def bus_loop(self, loop: BusLoop) -> None:
        period = loop.config.poll_period_s
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            try:
                await self.bus_tick(loop)
            except Exception as exc:  # noqa: BLE001 — the loop must survive anything one tick does
                self._failed(f"bus {loop.config.name}: tick", exc)
            await self._sleep(period - (self.clock.monotonic() - t0))

    async def read_meter_full(self) -> list[StationEvent]:
        if self.meter is None:
            return []
        try:
            reading = await self.meter.read_meter()
        except BusError as exc:
            self.meter_rt.last_error = str(exc)
            return []
        m = self.meter_rt
        m.reading, m.reading_at = reading, self.clock.monotonic()
        m.s_total_va, m.good_at = reading.s_total_va, m.reading_at
        if reading.p_total_w is not None:
            m.p_sum += reading.p_total_w
            m.p_n += 1
            m.p_max = max(m.p_max, reading.p_total_w)
        return []

    async def meter_tick(self) -> None:
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
                m.load_max = max(m.load_max, s / (self.rated_kva * 10.0))
        timeout = self.control.policy.meter_timeout_s
        stale = m.good_at is None or self.clock.monotonic() - m.good_at > timeout
        if stale and not m.lost:
            m.lost = True
            events.append(StationEvent("meter_lost", None, {"error": m.last_error or "no reading",
                                                            "timeout_s": timeout}))
        elif not stale and m.lost:
            m.lost = False
            events.append(StationEvent("meter_back", None, {}))
        events += self._clock_skew()
        d, ev = self.control.decide()
        events += ev
        for key, message in LOADCTL_ALARMS.items():
            self.alarm(key, key in d.alarms, message)
        self.record(events)
        await self.apply_limits(d, priority=URGENT)
        self._meter_minute()

    def _clock_skew(self) -> list[StationEvent]:
        """The wall clock jumped (NTP set it, or someone did): record by how much, since record
        times and tariff periods depend on it."""
        mono, wall = self.clock.monotonic(), self.clock.time()
        ref, self._clock_ref = self._clock_ref, (mono, wall)
        if ref is None:
            return []
        expected = (mono - ref[0]) * getattr(self.clock, "speed", 1.0)
        jump = (wall - ref[1]) - expected
        if abs(jump) < CLOCK_SKEW_S:
            return []
        return [StationEvent("clock_skew", None, {"jump_s": round(jump, 3), "wall_ms": int(wall * 1000)})]

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

    async def meter_loop(self) -> None:
        period = self.config.meter.fast_period_s if self.config.meter else 1.0
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            try:
                await self.meter_tick()
            except Exception as exc:  # noqa: BLE001
                self._failed("meter tick", exc)
            await self._sleep(period - (self.clock.monotonic() - t0))

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

    async def heartbeat_loop(self) -> None:
        from edge import reservations

        while not self._stop.is_set():
            try:
                await self.heartbeat_tick()
                await reservations.expire(self)
            except Exception as exc:  # noqa: BLE001
                self._failed("heartbeat", exc)
            await self._sleep(self.config.watchdog.heartbeat_s)

    def _housekeeping_jobs(self) -> None:
        self.scheduler.every(10).minutes.do(self._prune)
        self.scheduler.every(1).minutes.do(lambda: self.store.settings.expire_replies(self.now_ms()))

    def _prune(self) -> None:
        report = self.store.maybe_prune(self.now_ms())
        if report is not None:
            log.info("store pruned: %s", report)

    async def housekeeping_loop(self) -> None:
        self._housekeeping_jobs()
        while not self._stop.is_set():
            try:
                self.scheduler.run_pending()
            except Exception as exc:  # noqa: BLE001
                self._failed("housekeeping", exc)
            await self._sleep(1.0)

    # ---- running ---------------------------------------------------------------------

    def _failed(self, what: str, exc: Exception) -> None:
        """A loop's step failed: log and go on — unless the store itself is damaged. Then stop
        (systemd restarts the gateway, whose start checks the store's integrity and recovers
        what it can) rather than keep running without a place to write records."""
        log.error("%s failed: %r", what, exc, exc_info=exc)
        if isinstance(exc, sqlite3.DatabaseError) and any(
                s in str(exc).lower() for s in ("malformed", "not a database", "disk i/o")):
            log.critical("the store is damaged (%s): stopping so that a restart checks and recovers it", exc)
            self.fatal = exc
            self.stop()

    async def _sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        with contextlib.suppress(asyncio.TimeoutError):
            sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
            stopper = asyncio.ensure_future(self._stop.wait())
            try:
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                stopper.cancel()

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)
        task.add_done_callback(_log_failure)
        return task

    def startup(self) -> None:
        """Everything that happens before the loops run: open sessions, store alarms."""
        self._restore_recorded()
        self.sessions.load()
        overrides = self.store.settings.get("config_overrides")
        if overrides:
            self.apply_overrides(overrides)
        if self.store.startup_alarm is not None:
            a = self.store.startup_alarm
            self.alarm(a.key, True, a.message)
            self.store.events.add("store_recovered", None, {"message": a.message}, self.now_ms())
        self.store.settings.set("gateway.started_at", self.now_ms())

    async def run(self, *, install_signals: bool = True) -> None:
        self.startup()
        loop = asyncio.get_running_loop()
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self.stop)
        if self.status_server is not None:
            await self.status_server.start()
        self._tasks = [asyncio.create_task(self.bus_loop(b), name=f"bus:{name}") for name, b in self.loops.items()]
        self._tasks.append(asyncio.create_task(self.meter_loop(), name="meter"))
        self._tasks.append(asyncio.create_task(self.heartbeat_loop(), name="heartbeat"))
        self._tasks.append(asyncio.create_task(self.housekeeping_loop(), name="housekeeping"))
        if self.sync is not None:
            self._tasks.append(asyncio.create_task(self.sync.run(self._stop), name="sync"))
        log.info("station %s running: %d bus(es), %d pile(s)", self.config.station.id, len(self.loops), len(self.piles))
        try:
            await self._stop.wait()
        finally:
            await self.shutdown()

    def stop(self) -> None:
        log.info("stopping")
        self._stop.set()

    async def shutdown(self) -> None:
        for t in self._tasks + list(self._side_tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, *self._side_tasks, return_exceptions=True)
        if self.status_server is not None:
            await self.status_server.stop()
        for b in self.loops.values():
            with contextlib.suppress(Exception):
                await b.bus.close()
        # Piles keep charging; their watchdog falls back if no gateway returns.
        self.store.close()
        log.info("stopped")

    # ---- status ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        d = self.control.decision
        m = self.meter_rt
        now = self.clock.monotonic()
        guns = []
        for g in self.guns.values():
            r = g.reading
            guns.append({
                "id": g.id, "pile": g.pile_id, "state": g.state.value, "faults": sorted(g.faults),
                "power_w": g.power_w, "limit_w": g.limit_written_w,
                "rated_power_w": g.rated_power_w, "energy_wh": r.energy_total_wh if r else None,
                "soc": r.soc_pct if r else None, "free_vend": g.free_vend,
                "age_s": round(now - g.read_at, 1) if g.read_at is not None else None,
                "session": self.sessions.summary(g.id),
            })
        ob = self.store.outbox
        return {
            "station": {"id": self.config.station.id, "name": self.config.station.name, "version": VERSION,
                        "started_at": int(self.started_at * 1000), "uptime_s": int(self.clock.time() - self.started_at),
                        "time": self.now_ms()},
            "load": {"level": d.level.value if d else "failsafe", "load_pct": round(d.load_pct, 2) if d and d.load_pct is not None else None,
                     "may_start": d.may_start if d else False, "reason": d.reason if d else "starting",
                     "rated_kva": self.rated_kva, "policy": self.control.policy.mode,
                     "cap_above_pct": self.control.policy.cap_above_pct,
                     "block_above_pct": self.control.policy.block_above_pct},
            "meter": {"s_total_va": m.s_total_va, "age_s": round(now - m.good_at, 1) if m.good_at is not None else None,
                      "lost": m.lost, "error": m.last_error,
                      "p_total_w": m.reading.p_total_w if m.reading else None,
                      "voltages_v": list(m.reading.voltages_v) if m.reading else None,
                      "currents_a": list(m.reading.currents_a) if m.reading else None,
                      "frequency_hz": m.reading.frequency_hz if m.reading else None,
                      "pf_total": m.reading.pf_total if m.reading else None,
                      "energy_import_wh": m.reading.energy_import_wh if m.reading else None},
            "guns": guns,
            "piles": [{"id": p.id, "unit": p.config.unit, "bus": p.config.bus, "lost": p.lost,
                       "profile": p.config.profile, "serial": p.info.serial if p.info else None,
                       "firmware": p.info.firmware if p.info else None} for p in self.piles.values()],
            "outbox": {"depth": ob.depth(), "last_seq": ob.last_seq(), "acked_seq": ob.acked_seq()},
            "sync": self.sync.status() if self.sync is not None else {"configured": False},
            "alarms": [{"key": a.key, "message": a.message, "since": a.raised_at} for a in self.store.alarms.active()],
            "buses": [{"name": name, "address": b.config.address, "cycles": b.cycles,
                       "last_cycle_ms": round(b.last_cycle_s * 1000, 1), "max_cycle_ms": round(b.max_cycle_s * 1000, 1),
                       **b.bus.stats()} for name, b in self.loops.items()],
        }


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, StartError):
        log.error("background task failed: %r", exc)

