"""What can go wrong on a Modbus line, as exceptions the bus counts and the loop survives."""

from __future__ import annotations


class BusError(Exception):
    """A transaction failed. `kind` is the counter it goes to."""

    kind = "error"
    retryable = True

    def __init__(self, message: str, *, unit: int | None = None) -> None:
        super().__init__(message)
        self.unit = unit


class NoResponse(BusError):
    """Nothing (valid) came back within the timeout."""

    kind = "timeout"


class BadFrame(BusError):
    """A reply came back damaged: CRC error, cut short, or bytes that are no Modbus frame."""

    def __init__(self, message: str, *, unit: int | None = None, kind: str = "crc") -> None:
        super().__init__(message, unit=unit)
        self.kind = kind


class DeviceRefused(BusError):
    """The device answered with a Modbus exception (02 illegal address, 03 illegal value, …)."""

    kind = "exception"
    retryable = False

    def __init__(self, message: str, *, unit: int | None = None, code: int = 0) -> None:
        super().__init__(message, unit=unit)
        self.code = code


class LinkDown(BusError):
    """The serial port or TCP connection itself is not usable."""

    kind = "link"


class DeviceLost(BusError):
    """The device is marked lost and not due for a probe yet: the bus was not touched."""

    kind = "skipped"
    retryable = False


class InvalidValue(BusError):
    """A device answered with a value it cannot mean (0xFFFF where a value is due, out of range)."""

    kind = "invalid"
    retryable = False
