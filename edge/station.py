"""The station: builds the parts from the config and runs their loops — one task per bus
(read, decide, write, record), the meter's fast read, the piles' heartbeat, housekeeping,
and the local status server.

    station = Station(config)          # builds buses, drivers, store, controller and the parts
    await station.run()                # until SIGTERM / stop()

The parts, each in its own module: the limit writer (`edge/limits.py`), the meter service
(`edge/meterservice.py`), the pile service (`edge/pileservice.py`), the event and alarm
recorder (`edge/recorder.py`) and the status view (`edge/statusview.py`). This module wires
them and keeps the loops and their lifecycle.

The transformer rule is enforced offline: the meter's load is read a few times a second
ahead of pile polls on its line, `loadctl.decide` turns it into limits for every gun at once,
and changed limits are written at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from typing import Any

import schedule

from edge.cache import Store
from edge.clock import Clock, SystemClock
from edge.config import BusConfig, StationConfig
from edge.control import LoadController, policy_from_config
from edge.drivers.bus import Bus, BusSettings
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import load_profile
from edge.drivers.transport import ModbusTransport, PymodbusTransport, SerialSettings
from edge.gunstate import StopReason
from edge.limits import LimitWriter
from edge.loadctl import Policy, PolicyError
from edge.meterservice import LOADCTL_ALARMS, MeterService
from edge.pairing import MadeCode, make_code
from edge.pileservice import SLOW_EVERY_S, PileService
from edge.recorder import PROTOCOL_EVENTS, RECORDED_KEY, Recorder
from edge.records import Signer
from edge.runtime import BusLoop, GunRuntime, MeterRuntime, PileRuntime
from edge.sessions import SessionManager, StartError
from edge.statusview import VERSION, StatusView

log = logging.getLogger(__name__)

# Names other modules and tools import from here.
__all__ = ["LOADCTL_ALARMS", "PROTOCOL_EVENTS", "RECORDED_KEY", "SLOW_EVERY_S", "VERSION", "BusLoop",
           "Station", "make_transport"]


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
        started_at = self.clock.time()
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
        rated_kva, policy = self._policy()
        self.control = LoadController(policy, rated_kva, self.meter_rt, [], self.sessions, self.clock,
                                      tz=config.station.timezone)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._side_tasks: set[asyncio.Task[Any]] = set()
        self.scheduler = schedule.Scheduler()
        self.sync: Any = None  # the cloud link, when configured (edge/sync)
        self.status_server: Any = None
        self.fatal: Exception | None = None  # why the gateway stopped itself, if it did
        # the parts
        self.recorder = Recorder(self.store, self.clock, self.control, self.meter_rt, self.piles, self.guns)
        self.sessions.alarm = self.recorder.alarm  # the no_tariff alarm, through the station's own
        self.limits = LimitWriter(self.control, self.sessions, self.piles, self.clock)
        self.meter_service = MeterService(self.meter, self.meter_rt, self.control, self.limits, self.recorder,
                                          self.store, self.clock)
        self.pile_service = PileService(config, self.piles, self.guns, self.sessions, self.control, self.limits,
                                        self.meter_service, self.recorder, self.clock, self.spawn)
        self.view = StatusView(config, self.clock, self.control, self.meter_rt, self.piles, self.guns,
                               self.sessions, self.store, self.loops, sync=lambda: self.sync, started_at=started_at)

    # ---- settings --------------------------------------------------------------------

    @property
    def rated_kva(self) -> float:
        return self.control.rated_kva

    @property
    def started_at(self) -> float:
        return self.view.started_at

    def _policy(self) -> tuple[float, Policy]:
        base = policy_from_config(self.config)
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
            self.control.rated_kva = rated_kva
            if self.meter:
                self.meter.rated_kva = rated_kva

    # ---- what the status page, the commands and the cloud link call ---------------------

    def now_ms(self) -> int:
        return self.recorder.now_ms()

    def status(self) -> dict[str, Any]:
        return self.view.status()

    def clear_alarm(self, key: str) -> None:
        self.recorder.clear_alarm(key)

    async def start_session(self, gun_id: str, *, auth: str, **kw: Any) -> dict[str, Any]:
        return await self.pile_service.start_session(gun_id, auth=auth, **kw)

    def pairing_code(self, gun_id: str, ttl_ms: int) -> MadeCode:
        """A one-time pairing code for the owner of `gun_id` (edge/pairing.py)."""
        if gun_id not in self.guns:  # the guns the piles reported: one that never answered has none
            raise KeyError(gun_id)
        made = make_code(self.store, gun_id, self.now_ms(), ttl_ms=ttl_ms)
        log.info("pairing code made for %s (record seq %d, expires %d)", gun_id, made.seq, made.expires_at)
        return made

    async def stop_gun(self, gun_id: str, reason: StopReason) -> bool:
        return await self.pile_service.stop_gun(gun_id, reason)

    async def bus_tick(self, loop: BusLoop) -> None:
        await self.pile_service.bus_tick(loop)

    async def meter_tick(self) -> None:
        await self.meter_service.tick()

    # ---- the loops -------------------------------------------------------------------

    async def bus_loop(self, loop: BusLoop) -> None:
        period = loop.config.poll_period_s
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            try:
                await self.pile_service.bus_tick(loop)
            except Exception as exc:  # noqa: BLE001 — the loop must survive anything one tick does
                self._failed(f"bus {loop.config.name}: tick", exc)
            await self._sleep(period - (self.clock.monotonic() - t0))

    async def meter_loop(self) -> None:
        period = self.config.meter.fast_period_s if self.config.meter else 1.0
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            try:
                await self.meter_service.tick()
            except Exception as exc:  # noqa: BLE001
                self._failed("meter tick", exc)
            await self._sleep(period - (self.clock.monotonic() - t0))

    async def heartbeat_loop(self) -> None:
        from edge import reservations

        while not self._stop.is_set():
            try:
                await self.pile_service.heartbeat_tick()
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
        self.recorder.restore()
        self.sessions.load()
        overrides = self.store.settings.get("config_overrides")
        if overrides:
            self.apply_overrides(overrides)
        if self.store.startup_alarm is not None:
            a = self.store.startup_alarm
            self.recorder.alarm(a.key, True, a.message)
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


def _log_failure(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, StartError):
        log.error("background task failed: %r", exc)

