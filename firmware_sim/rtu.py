"""Modbus RTU over a pseudo-terminal, with the timing of a real RS-485 line.

`os.openpty()` gives a master/slave pair. The slave end is a real tty: `LINK` is a symlink
to it, so a client opens it with pyserial like any serial port. The simulator keeps its own
slave descriptor open (so the pty survives clients coming and going) and never reads it;
it reads requests from the master end, decodes them with pymodbus's FramerRTU + DecodePDU,
executes them against the same SimCore as the TCP side, and writes the reply back paced at
the baud rate.

Timing per exchange, with one character = 11 bit times (this product's line format):
the request is taken to arrive over its wire time, the slave waits the 3.5-character
inter-frame gap plus a turnaround, then emits the reply byte by byte at line speed. A
40-register read (8-byte request, 85-byte reply) therefore takes about 115 ms at 9600 baud.
One request at a time: the line is half duplex.

Silence for unknown, cut or unpowered units and for requests with a bad CRC, as a real
slave. Fault injection per linkfaults.py: CRC errors, short frames, silence, dribble, delay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
import tty
from dataclasses import dataclass
from pathlib import Path

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU

from .linkfaults import plan
from .modbus import StationContext

log = logging.getLogger("firmware_sim.rtu")

BITS_PER_CHAR = 11
_WRITE_FUNCTIONS = frozenset({5, 6, 15, 16, 22, 23})
# An incomplete frame is dropped after this much silence at least (a pty delivers a
# client's write at once, so the 3.5-character rule alone would be too eager at high baud).
_MIN_FRAME_TIMEOUT_S = 0.05


@dataclass(frozen=True)
class RtuConfig:
    link: Path
    baud: int = 9600
    turnaround_s: float = 0.005
    bits_per_char: int = BITS_PER_CHAR

    @property
    def char_s(self) -> float:
        return self.bits_per_char / self.baud


class RtuServer:
    def __init__(self, context: StationContext, config: RtuConfig, seed: int = 0) -> None:
        self.context = context
        self.config = config
        self.rng = random.Random(seed)
        self.framer = FramerRTU(DecodePDU(is_server=True))
        self._master = -1
        self._slave = -1
        self._buffer = bytearray()
        self._first_byte_at = 0.0
        self._data = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def stats(self) -> dict[str, int]:
        return self.context.station.stats["rtu"]

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        link = self.config.link
        if link.exists() and not link.is_symlink():
            raise FileExistsError(f"{link} exists and is not a symlink; choose another --rtu path")
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline: bytes in, bytes out
        os.set_blocking(self._master, False)
        if link.is_symlink():
            link.unlink()
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.ttyname(self._slave), link)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._master, self._on_readable)
        self._task = self._loop.create_task(self._serve())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._loop and self._master >= 0:
            self._loop.remove_reader(self._master)
        with contextlib.suppress(FileNotFoundError):
            if self.config.link.is_symlink():
                self.config.link.unlink()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    @property
    def device_path(self) -> str:
        return os.ttyname(self._slave)

    # --- receiving ------------------------------------------------------------------------

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # EIO: no client has the port open at the moment
            return
        if not data:
            return
        if not self._buffer:
            self._first_byte_at = time.monotonic()
        self._buffer += data
        self._data.set()

    async def _serve(self) -> None:
        while True:
            await self._data.wait()
            self._data.clear()
            while self._buffer:
                used, dev_id, _tid, frame = self.framer.decode(bytes(self._buffer))
                if not used:
                    if await self._more_data_within(self._frame_timeout()):
                        continue  # the rest of the frame arrived: decode again
                    await self._drop_incomplete()
                    break
                request_len = used
                started = self._first_byte_at
                del self._buffer[:used]
                self._first_byte_at = time.monotonic()
                if not frame:
                    self.stats["requests"] += 1
                    self.stats["no_reply"] += 1  # bad CRC: a real slave keeps quiet
                    continue
                await self._exchange(dev_id, frame, request_len, started)

    def _frame_timeout(self) -> float:
        return max(3.5 * self.config.char_s, _MIN_FRAME_TIMEOUT_S)

    async def _more_data_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._data.wait(), seconds)
        except TimeoutError:
            return False
        self._data.clear()
        return True

    async def _drop_incomplete(self) -> None:
        """The line went quiet mid-frame: a real slave discards it. One special case: a
        complete frame with a valid CRC but a function code we do not serve gets
        exception 01, as a device answers an unsupported function."""
        data = bytes(self._buffer)
        self._buffer.clear()
        if len(data) >= 4 and FramerRTU.check_CRC(data[:-2], int.from_bytes(data[-2:], "big")):
            unit, function = data[0], data[1] & 0x7F
            if unit and unit in self.context.devices and self.context.station.reachable(unit):
                reply = ExceptionResponse(function, ExcCodes.ILLEGAL_FUNCTION, device_id=unit)
                self.stats["requests"] += 1
                await self._emit_frame(self.framer.buildFrame(reply), len(data),
                                       self._first_byte_at)

    # --- answering ------------------------------------------------------------------------

    async def _exchange(self, dev_id: int, frame: bytes, request_len: int,
                        started: float) -> None:
        self.stats["requests"] += 1
        request = self.framer.decoder.decode(frame)
        if request is None:
            self.stats["no_reply"] += 1
            return
        request.dev_id = dev_id
        if dev_id == 0:  # broadcast: writes go to every unit that hears them, no reply
            if request.function_code in _WRITE_FUNCTIONS:
                for unit in self.context.devices:
                    with contextlib.suppress(NoSuchIdException):
                        await request.datastore_update(self.context, unit)
            self.stats["no_reply"] += 1
            return
        response = await self._execute(request)
        if response is None:
            self.stats["no_reply"] += 1
            return
        await self._emit_frame(self.framer.buildFrame(response), request_len, started,
                               unit=dev_id)

    async def _execute(self, request: ModbusPDU) -> ModbusPDU | None:
        try:
            response = await request.datastore_update(self.context, request.dev_id)
        except NoSuchIdException:
            return None
        except Exception:
            log.exception("request %s failed", request)
            response = ExceptionResponse(request.function_code, ExcCodes.DEVICE_FAILURE)
        response.dev_id = request.dev_id
        response.transaction_id = 0
        return response

    async def _emit_frame(self, frame: bytes, request_len: int, started: float,
                          unit: int | None = None) -> None:
        char = self.config.char_s
        # The request occupied the line for its wire time; then the 3.5-char gap that ends
        # it, then the slave's turnaround.
        ready = started + (request_len + 3.5) * char + self.config.turnaround_s
        faults = self.context.station.link_faults.effective("rtu", unit) if unit else None
        fate = plan(frame, faults, self.rng, "rtu", header_len=1) if faults else None
        if fate and fate.what != "ok":
            self.stats["injected"] += 1
            log.debug("unit %s: injected %s", unit, fate.what)
        if fate:
            ready += fate.delay_s
        await _sleep_until(ready)
        if fate and fate.silent:
            self.stats["no_reply"] += 1
            return
        chunks = (fate.chunks or [(fate.frame, 0.0)]) if fate else [(frame, 0.0)]
        for chunk, pause in chunks:
            await self._write_paced(chunk)
            if pause:
                await asyncio.sleep(pause)
        self.stats["replies"] += 1

    async def _write_paced(self, data: bytes) -> None:
        """Write `data` as a UART would: byte i is complete (i+1) character times after the
        start, never earlier. Bytes due meanwhile go out together about every millisecond
        (as a USB-RS485 adapter with a 1 ms latency timer delivers them); the last byte is
        placed exactly, so the frame ends on time."""
        char = self.config.char_s
        t0 = time.monotonic()
        end = t0 + len(data) * char
        sent = 0
        while sent < len(data):
            if end - time.monotonic() <= _SPIN_S:
                await _sleep_until(end)
                self._write(data[sent:])
                return
            await asyncio.sleep(0.001)
            due = min(len(data), int((time.monotonic() - t0) / char))
            if due > sent:
                self._write(data[sent:due])
                sent = due

    def _write(self, data: bytes) -> None:
        try:
            os.write(self._master, data)
        except BlockingIOError:
            pass  # nobody reads the port and its buffer is full: the bytes are lost, as on a line
        except OSError as exc:
            log.debug("write to pty failed: %s", exc)


_SPIN_S = 0.0015  # asyncio sleeps in whole milliseconds (epoll); finer waits spin


async def _sleep_until(deadline: float) -> None:
    """Sleep until `deadline` without the event loop's millisecond rounding: the last stretch
    yields in a tight loop, so a fast line's character times come out right."""
    delay = deadline - time.monotonic()
    if delay > _SPIN_S:
        await asyncio.sleep(delay - _SPIN_S)
    while time.monotonic() < deadline:
        await asyncio.sleep(0)
