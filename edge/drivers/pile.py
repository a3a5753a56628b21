"""A charging pile driven through its register-map profile (any vendor, any wire)."""

from __future__ import annotations

import logging

from edge.drivers.base import CommandResult, GunReading, PileInfo
from edge.drivers.bus import NORMAL, Bus
from edge.drivers.errors import InvalidValue
from edge.drivers.profile import Profile, ReadSpec
from edge.drivers.regmap import RegisterMapDevice, Values
from edge.gunstate import GunState

log = logging.getLogger(__name__)

_CYCLE = ("cycle", "fast")


class RegisterMapPile(RegisterMapDevice):
    """Implements ReadsGuns, LimitsPower, StartsStops, Reserves, ResetsFaults and HasWatchdog
    as far as the profile has the registers for them."""

    def __init__(self, bus: Bus, unit: int, profile: Profile, *, nominal_voltage_v: float = 230.0) -> None:
        if profile.kind != "pile":
            raise ValueError(f"profile {profile.id} describes a {profile.kind}, not a pile")
        super().__init__(bus, unit, profile)
        self.nominal_voltage_v = nominal_voltage_v
        self.info: PileInfo | None = None
        # >1 only against a simulator whose time runs faster than the gateway's (demo, tests).
        self.rate_scale = 1.0

    def max_rise(self, spec: ReadSpec, seconds: float) -> float | None:
        # A gun cannot deliver more than its rated power: a lifetime register that rises
        # faster (a wrapped or garbled value) is refused rather than billed. Generous margin
        # for clocks and rounding; an unknown rating gives no bound.
        if spec.unit != "Wh" or self.info is None:
            return None
        return self.info.rated_power_w * 1.5 * self.rate_scale * (seconds + 2.0) / 3600.0 + 50

    async def identify(self) -> PileInfo:
        v = await self.read_values("device", ("once",))
        guns = self.profile.guns
        assert guns is not None
        count = guns.count if guns.count is not None else v.int(guns.count_from or "")
        rated = v.int("rated_power_w")
        if not count or rated is None:
            raise InvalidValue(f"{self.bus.name} unit {self.unit}: the pile did not report its "
                               f"gun count and rated power (refused: {', '.join(v.invalid) or 'none'})",
                               unit=self.unit)
        fw = v.int("firmware_version")
        self.info = PileInfo(
            unit=self.unit, profile=self.profile.id, gun_count=count,
            current=str(v.get("current_kind", "AC")), phases=v.int("phases") or 0,
            rated_power_w=rated, max_current_a=v.float("max_current_a"),
            min_current_a=v.float("min_current_a"), serial=str(v.get("serial", "")),
            firmware=(f"{fw >> 8}.{fw & 0xFF}" + (f" build {v.int('firmware_build')}"
                      if v.int("firmware_build") is not None else "")) if fw is not None else "",
        )
        return self.info

    async def read_gun(self, gun: int) -> GunReading:
        return _reading(gun, await self.read_values("gun", _CYCLE, gun))

    async def read_guns(self) -> list[GunReading]:
        if self.info is None:
            await self.identify()
        assert self.info is not None
        return [await self.read_gun(g) for g in range(1, self.info.gun_count + 1)]

    async def read_device_status(self) -> Values:
        return await self.read_values("device", ("slow",))

    # ---- commands --------------------------------------------------------------------

    async def _result(self, gun: int) -> CommandResult:
        spec = self.profile.read("last_cmd_result")
        if spec is None:
            return CommandResult.SENT
        v = Values()
        base = self._base("gun", gun)
        regs = await self.bus.read(self.unit, spec.function, base + spec.address, spec.registers)
        self._decode_into(v, spec, regs, gun)
        try:
            return CommandResult(str(v.get("last_cmd_result", "none")))
        except ValueError:
            return CommandResult.NONE

    async def _command(self, gun: int, command: str) -> CommandResult:
        await self.write_command("command", command, gun)
        return await self._result(gun)

    async def set_power_limit(self, gun: int, watts: int, priority: int = NORMAL) -> None:
        await self.write_value("power_limit_w", max(0, int(watts)), gun, priority)

    async def start(self, gun: int, *, tag: int, energy_limit_wh: int = 0, time_limit_s: int = 0,
                    power_limit_w: int | None = None) -> CommandResult:
        # Everything the session needs is written before the start command, so the pile
        # enforces the limits itself from its first second, also if the gateway dies.
        if self.can_write("session_tag"):
            await self.write_value("session_tag", tag & 0xFFFFFFFF, gun)
        if self.can_write("energy_limit_wh"):
            await self.write_value("energy_limit_wh", max(0, energy_limit_wh), gun)
        if self.can_write("time_limit_s"):
            await self.write_value("time_limit_s", max(0, time_limit_s), gun)
        if power_limit_w is not None:
            await self.set_power_limit(gun, power_limit_w)
        return await self._command(gun, "start")

    async def stop(self, gun: int) -> CommandResult:
        return await self._command(gun, "stop")

    async def reserve(self, gun: int, tag: int) -> CommandResult:
        if self.can_write("session_tag"):
            await self.write_value("session_tag", tag & 0xFFFFFFFF, gun)
        return await self._command(gun, "reserve")

    async def cancel_reservation(self, gun: int) -> CommandResult:
        return await self._command(gun, "cancel_reservation")

    async def reset_fault(self, gun: int) -> CommandResult:
        return await self._command(gun, "reset_fault")

    async def configure_watchdog(self, timeout_s: int, fallback_power_w: int) -> None:
        await self.write_value("fallback_power_w", max(0, fallback_power_w))
        await self.write_value("watchdog_s", max(0, timeout_s))

    async def heartbeat(self, value: int) -> None:
        await self.write_value("heartbeat", value & 0xFFFF)


def _reading(gun: int, v: Values) -> GunReading:
    state_name = v.get("state")
    state = GunState(str(state_name)) if state_name is not None else GunState.UNAVAILABLE
    faults = v.get("faults")
    return GunReading(
        gun=gun,
        state=state,
        faults=faults if isinstance(faults, frozenset) else frozenset(),
        voltage_v=v.float("voltage_l1_v"),
        current_a=v.float("current_l1_a"),
        power_w=v.int("power_w"),
        energy_total_wh=v.int("energy_total_wh"),
        session_energy_wh=v.int("session_energy_wh"),
        session_seconds=v.int("session_seconds"),
        session_counter=v.int("session_counter"),
        session_tag=v.int("session_tag"),
        temperature_c=v.float("temperature_c"),
        soc_pct=v.int("soc_pct"),
        power_limit_active_w=v.int("power_limit_active_w"),
        last_cmd_result=str(v.get("last_cmd_result")) if v.get("last_cmd_result") is not None else None,
        stop_reason=str(v.get("stop_reason")) if v.get("stop_reason") is not None else None,
        invalid=tuple(v.invalid),
    )
