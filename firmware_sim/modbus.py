"""The bridge between the station model and pymodbus's SimData/SimDevice datastore.

Every unit is a pymodbus `SimDevice` whose blocks mirror the register layouts (so pymodbus
itself answers exception 02 for addresses outside every block), and whose `action` callback
fills the registers from the model on each read and hands writes to the model, which
accepts or refuses them. Piles use non-shared blocks (holding and input registers overlap in
address); the meter uses one shared block, as it answers FC 03 and 04 with the same data.

`StationContext` wraps pymodbus's `SimCore` so that a unit that does not exist, whose link
is cut or which has no power raises `NoSuchIdException`: both transports turn that into
silence, as a real bus gives. (A bare `SimCore` would raise KeyError for an unknown id,
which pymodbus's server answers with exception 04.)
"""

from __future__ import annotations

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simcore import SimCore

from .registers import METER_BLOCKS, pile_blocks
from .station import Station

_BIT_FUNCTIONS = frozenset({1, 2, 5, 15})
_WRITE_ONLY_FC6 = 6


def _register_blocks(blocks: list[tuple[int, int]]) -> list[SimData]:
    return [SimData(base, count=span, datatype=DataType.REGISTERS) for base, span in blocks]


def _no_bits() -> list[SimData]:
    # pymodbus needs a bit block in non-shared mode; the action refuses bit functions anyway.
    return [SimData(0, values=[False] * 16, datatype=DataType.BITS)]


class UnitAdapter:
    """The `action` callback of one unit."""

    def __init__(self, station: Station, unit: int) -> None:
        self.station = station
        self.unit = unit
        self.is_meter = unit == station.scenario.meter.unit
        self._echo: tuple[int, list[int]] | None = None

    def device(self) -> SimDevice:
        if self.is_meter:
            simdata: list[SimData] | tuple = _register_blocks(
                [(b.base, b.span) for b in METER_BLOCKS])
        else:
            guns = self.station.piles[self.unit].spec.guns
            simdata = (
                _no_bits(),
                _no_bits(),
                _register_blocks([(b, lay.span) for b, lay in pile_blocks("holding", guns)]),
                _register_blocks([(b, lay.span) for b, lay in pile_blocks("input", guns)]),
            )
        return SimDevice(id=self.unit, simdata=simdata, action=self.action)

    async def action(self, fc: int, start: int, address: int, count: int, regs: list[int],
                     values: list[int] | list[bool] | None) -> ExcCodes | None:
        if fc in _BIT_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION  # neither device has coils or discrete inputs
        station = self.station
        station.tick()
        if values is not None:
            if self.is_meter and fc == _WRITE_ONLY_FC6:
                return ExcCodes.ILLEGAL_FUNCTION  # the ARCM300T writes with FC 16 only
            written = [int(v) for v in values]
            error = station.write(self.unit, address, written)
            if error is not None:
                return ExcCodes(int(error))
            # What pymodbus stores is what the model now holds (the command reads 0 again).
            values[:] = station.read(self.unit, "holding", address, count)  # type: ignore[index]
            self._echo = (address, written) if fc == _WRITE_ONLY_FC6 else None
            return None
        table = "input" if fc == 4 else "holding"
        image = station.read(self.unit, table, address, count)
        if fc == _WRITE_ONLY_FC6 and self._echo and self._echo[0] == address:
            image = self._echo[1]  # an FC 06 reply echoes the request, as the standard says
        self._echo = None
        offset = address - start
        regs[offset : offset + count] = image
        return None


class StationContext(SimCore):
    """SimCore whose unreachable units raise NoSuchIdException (= no reply)."""

    def __init__(self, station: Station) -> None:
        self.station = station
        self.devices_spec = [UnitAdapter(station, unit).device() for unit in station.units()]
        super().__init__(self.devices_spec)

    def check(self, device_id: int) -> None:
        if device_id not in self.devices or not self.station.reachable(device_id):
            raise NoSuchIdException(f"unit {device_id} does not answer")

    async def async_getValues(self, device_id: int, func_code: int, address: int,
                              count: int = 1) -> list[int] | list[bool] | ExcCodes:
        self.check(device_id)
        return await super().async_getValues(device_id, func_code, address, count)

    async def async_setValues(self, device_id: int, func_code: int, address: int,
                              values: list[int] | list[bool]) -> ExcCodes | None:
        self.check(device_id)
        return await super().async_setValues(device_id, func_code, address, values)


def build_context(station: Station) -> StationContext:
    return StationContext(station)
