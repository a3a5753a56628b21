"""One running simulator: the station, its ticker, and whichever of the TCP server, the RTU
pty and the control API were asked for. `jc-sim run` wraps this; tests may use it in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .clock import SimClock
from .control import ControlServer
from .modbus import StationContext
from .rtu import RtuConfig, RtuServer
from .scenario import Scenario
from .station import Station
from .tcp import SimTcpServer

log = logging.getLogger("firmware_sim")

# How often the physics advances when nobody reads (real seconds); reads also advance it.
TICK_S = 0.1


@dataclass
class Options:
    scenario: Scenario
    tcp: tuple[str, int] | None = None
    rtu: Path | None = None
    baud: int | None = None  # None: the scenario's
    turnaround_ms: float | None = None
    control: tuple[str, int] | None = None
    speed: float | None = None  # None: the scenario's


class SimApp:
    def __init__(self, options: Options) -> None:
        self.options = options
        scenario = options.scenario
        self.clock = SimClock(options.speed if options.speed is not None else scenario.speed)
        self.station = Station(scenario, self.clock)
        self.context = StationContext(self.station)
        self.tcp: SimTcpServer | None = None
        self.rtu: RtuServer | None = None
        self.control: ControlServer | None = None
        self._ticker: asyncio.Task | None = None

    async def start(self) -> dict[str, Any]:
        """Start everything; returns the description printed as the first stdout line."""
        opts = self.options
        seed = opts.scenario.seed
        try:
            if opts.tcp is not None:
                self.tcp = SimTcpServer(self.context, opts.tcp[0], opts.tcp[1], seed=seed + 11)
                await self.tcp.start()
            if opts.rtu is not None:
                config = RtuConfig(
                    link=opts.rtu.absolute(),
                    baud=opts.baud or opts.scenario.baud,
                    turnaround_s=(opts.turnaround_ms if opts.turnaround_ms is not None
                                  else opts.scenario.turnaround_ms) / 1000.0,
                )
                self.rtu = RtuServer(self.context, config, seed=seed + 13)
                await self.rtu.start()
            if opts.control is not None:
                self.control = ControlServer(self.station, asyncio.get_running_loop(),
                                             opts.control[0], opts.control[1])
                self.control.start()
        except BaseException:
            await self.stop()
            raise
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        return self.describe()

    def describe(self) -> dict[str, Any]:
        scenario = self.options.scenario
        tcp = None
        if self.tcp is not None:
            host, port = self.tcp.bound
            tcp = f"{host}:{port}"
        return {
            "tcp": tcp,
            "rtu": str(self.rtu.config.link) if self.rtu else None,
            "control": self.control.url if self.control else None,
            "devices": scenario.devices(),
            "scenario": scenario.name,
            "speed": self.clock.speed,
            "rated_kva": scenario.meter.rated_kva,
            "meter_unit": scenario.meter.unit,
            "baud": self.rtu.config.baud if self.rtu else None,
            "rtu_device": self.rtu.device_path if self.rtu else None,
            "start_time": _hhmm(scenario.start_time_s),
            "pid": os.getpid(),
        }

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.station.tick()
            except Exception:  # keep serving; the log says what broke
                log.exception("tick failed")
            await asyncio.sleep(TICK_S)

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.control:
            await asyncio.get_running_loop().run_in_executor(None, self.control.stop)
            self.control = None
        if self.rtu:
            await self.rtu.stop()
            self.rtu = None
        if self.tcp:
            await self.tcp.stop()
            self.tcp = None


def _hhmm(seconds_of_day: float) -> str:
    s = int(seconds_of_day)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}"
