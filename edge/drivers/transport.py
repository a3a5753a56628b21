"""Modbus transports: one physical line (a serial port, or a host:port) through pymodbus.

The bus (`bus.py`) owns locking, pacing, retries and device health; a transport only carries
one request at a time and says precisely what went wrong. The `ModbusTransport` protocol is
what the bus needs, so tests can hand it a scripted transport instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Protocol

import serial as pyserial
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.framer import FramerRTU

from edge.drivers.errors import BadFrame, BusError, DeviceRefused, LinkDown, NoResponse
from edge.drivers.framewake import EXCEPTION_REPLY_BYTES, FrameWaker

log = logging.getLogger(__name__)

BITS_PER_CHAR = 11  # RS-485 framing as the line budget counts it: start, 8 data, parity/stop, stop
MAX_READ = 125


class ModbusTransport(Protocol):
    name: str
    serial: bool

    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def read(self, unit: int, function: int, address: int, count: int, timeout: float) -> list[int]: ...

    async def write(self, unit: int, address: int, values: list[int], function: int, timeout: float) -> None: ...

    def char_time(self) -> float:
        """Seconds one character takes on the wire (0 for TCP)."""

    # Optional: `reply_at`, the monotonic time (the bus's clock) the last request's complete
    # reply was in hand, or None. The bus counts the 3.5-character silence from it.


@dataclass(frozen=True)
class SerialSettings:
    port: str
    baud: int = 9600
    parity: str = "N"
    stopbits: int = 1
    bytesize: int = 8


def rtu_request_bytes(function: int, count: int = 0) -> int:
    """Bytes of an RTU request frame: read and single write are 8; FC16 adds 5 + 2 per register."""
    if function == 16:
        return 9 + 2 * count
    return 8


def rtu_response_bytes(function: int, count: int = 0) -> int:
    if function in (3, 4):
        return 5 + 2 * count
    return 8


def wire_time(nbytes: int, baud: int) -> float:
    return nbytes * BITS_PER_CHAR / baud


class PymodbusTransport:
    """pymodbus' asyncio client, with its own retries off: the bus decides about retries."""

    def __init__(self, *, serial: SerialSettings | None = None, host: str | None = None,
                 port: int = 502, name: str | None = None) -> None:
        if (serial is None) == (host is None):
            raise ValueError("give either serial settings or a host")
        self.serial = serial is not None
        self.settings = serial
        self.name = name or (serial.port if serial else f"{host}:{port}")
        self._rx = b""
        self._expect = 0  # bytes of the reply to the request being sent
        # When the reply to the last request was complete (time.monotonic()), None before: the
        # line's silence runs from the reply's last byte, not from when it has been decoded.
        self.reply_at: float | None = None
        self.waker: FrameWaker | None = None
        self._host, self._port = host, port
        # Why the line last failed to open, as the operating system said it (None once open):
        # pymodbus logs that reason and returns False, so it is asked again in open_reason().
        self.open_error: str | None = None
        if serial:
            self._client: AsyncModbusSerialClient | AsyncModbusTcpClient = AsyncModbusSerialClient(
                serial.port, baudrate=serial.baud, parity=serial.parity, stopbits=serial.stopbits,
                bytesize=serial.bytesize, timeout=1.0, retries=0, reconnect_delay=0,
                trace_packet=self._trace,
            )
        else:
            self._client = AsyncModbusTcpClient(
                host, port=port, timeout=1.0, retries=0, reconnect_delay=0,
                trace_packet=self._trace,
            )
        # pymodbus closes the link after retries+3 unanswered requests; a silent pile on a
        # shared line must not take the line down for the others.
        self._client.set_max_no_responses(1 << 30)

    def char_time(self) -> float:
        return wire_time(1, self.settings.baud) if self.settings else 0.0

    def _trace(self, sending: bool, data: bytes) -> bytes:
        # Keep what arrived for the current request, so that a timeout can be told apart
        # from a damaged reply (CRC error, short frame).
        if sending:
            self._rx, self.reply_at = b"", None
            if self.waker is not None:
                self.waker.sent(self._expect)
        elif len(data) >= len(self._rx):
            self._rx = bytes(data)
            if self.reply_at is None and (len(data) >= self._expect or (
                    len(data) >= EXCEPTION_REPLY_BYTES and data[1] & 0x80)):
                self.reply_at = time.monotonic()
        return data

    async def connect(self) -> None:
        if self._client.connected:
            return
        try:
            ok = await self._client.connect()
            reason = None if ok else await asyncio.to_thread(self.open_reason)
        except (OSError, ModbusException) as exc:
            ok, reason = False, str(exc)
        if not ok:
            self._opened(reason or "the line did not open")
            raise LinkDown(f"{self.name}: cannot open: {self.open_error}")
        self._opened(None)
        self._install_waker()

    def _install_waker(self) -> None:
        transport = getattr(self._client.ctx, "transport", None)
        if not self.serial or transport is None or getattr(transport, "sync_serial", None) is None:
            return
        if self.waker is None or self.waker.t is not transport:
            st = self.settings
            assert st is not None
            bits = 1 + st.bytesize + (st.parity.upper() != "N") + st.stopbits  # start, data, parity, stop
            self.waker = FrameWaker(transport, bits / st.baud)
            # setup() registers pymodbus' own reader on the next loop turn: replace it after.
            transport.async_loop.call_soon(self.waker.install)

    def _opened(self, error: str | None) -> None:
        # Logged when it changes, not at every poll: a missing adapter would flood the log.
        if error != self.open_error:
            if error is not None:
                log.warning("%s: cannot open: %s", self.name, error)
            elif self.open_error is not None:
                log.info("%s: open again", self.name)
        self.open_error = error

    def open_reason(self) -> str | None:
        """Why the line cannot be opened, in the operating system's words ("[Errno 2] No such
        file or directory: '/dev/ttyUSB9'", "[Errno 13] Permission denied: ..."); None when
        it opens now."""
        if self.settings is not None:
            try:
                fd = os.open(self.settings.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as exc:
                return str(exc)
            os.close(fd)
            try:
                pyserial.Serial(self.settings.port, baudrate=self.settings.baud).close()
            except (OSError, ValueError, pyserial.SerialException) as exc:
                return str(exc)
            return None
        try:
            socket.create_connection((self._host, self._port), timeout=3).close()
        except OSError as exc:
            return str(exc)
        return None

    async def close(self) -> None:
        self._client.close()

    def _set_timeout(self, timeout: float) -> None:
        # pymodbus reads its per-request wait from the transaction manager's parameters;
        # the bus computes a timeout per request from the frame sizes.
        self._client.ctx.comm_params.timeout_connect = timeout

    def _classify_silence(self, unit: int, expect: int) -> BusError:
        rx = self._rx
        if not rx:
            return NoResponse(f"{self.name}: unit {unit}: no response", unit=unit)
        if self.serial:
            if len(rx) < min(expect, 5):
                return BadFrame(f"{self.name}: unit {unit}: short frame ({len(rx)} bytes)", unit=unit, kind="short")
            frame = rx[:expect] if len(rx) >= expect else rx
            if len(rx) >= expect and not FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big")):
                return BadFrame(f"{self.name}: unit {unit}: CRC error", unit=unit, kind="crc")
            if len(rx) < expect:
                return BadFrame(f"{self.name}: unit {unit}: short frame ({len(rx)} of {expect} bytes)", unit=unit, kind="short")
        return BadFrame(f"{self.name}: unit {unit}: garbled reply ({len(rx)} bytes)", unit=unit, kind="garbled")

    async def read(self, unit: int, function: int, address: int, count: int, timeout: float) -> list[int]:
        if not 1 <= count <= MAX_READ:
            raise ValueError(f"read count {count} outside 1..{MAX_READ}")
        await self.connect()
        self._set_timeout(timeout)
        call = self._client.read_input_registers if function == 4 else self._client.read_holding_registers
        expect = self._expect = rtu_response_bytes(function, count)
        try:
            rr = await call(address, count=count, device_id=unit)
        except ModbusIOException as exc:
            raise self._classify_silence(unit, expect) from exc
        except ConnectionException as exc:
            raise LinkDown(f"{self.name}: {exc}", unit=unit) from exc
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            raise DeviceRefused(f"{self.name}: unit {unit}: exception {code:02d} reading {address}+{count}", unit=unit, code=code)
        regs = list(rr.registers)
        if len(regs) != count:
            raise BadFrame(f"{self.name}: unit {unit}: asked {count} registers, got {len(regs)}", unit=unit, kind="short")
        return regs

    async def write(self, unit: int, address: int, values: list[int], function: int, timeout: float) -> None:
        await self.connect()
        self._set_timeout(timeout)
        self._expect = rtu_response_bytes(function)
        try:
            if function == 6:
                if len(values) != 1:
                    raise ValueError("function 6 writes exactly one register")
                rr = await self._client.write_register(address, values[0], device_id=unit)
            else:
                rr = await self._client.write_registers(address, values, device_id=unit)
        except ModbusIOException as exc:
            raise self._classify_silence(unit, rtu_response_bytes(function)) from exc
        except ConnectionException as exc:
            raise LinkDown(f"{self.name}: {exc}", unit=unit) from exc
        if rr.isError():
            code = getattr(rr, "exception_code", 0)
            raise DeviceRefused(f"{self.name}: unit {unit}: exception {code:02d} writing {address}", unit=unit, code=code)
