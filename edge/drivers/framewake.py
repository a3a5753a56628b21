"""Wake once per RTU reply, not once per byte.

pymodbus' serial transport reads the port whenever the kernel says a byte is waiting; at 9600
baud a reply of 65 bytes trickles in over ~70 ms, so the gateway woke, read and re-parsed the
partial frame about once per byte: most of its CPU on a busy RTU line. A reply's length is
known from the request (an exception reply from its first two bytes), so after the first bytes
this reads nothing until the rest should have arrived, then everything at once. Replies end no
later than before; the bytes and their order are untouched, only when they are read changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import serial as pyserial

EXCEPTION_REPLY_BYTES = 5  # unit, function | 0x80, code, CRC (2)
SLACK_BYTES = 2  # this close to the end, wake per byte again (a late byte costs one char)


class FrameWaker:
    """Installed on one pymodbus `SerialTransport` (a new one after every reconnect)."""

    def __init__(self, transport: Any, char_s: float) -> None:
        self.t = transport
        self.char_s = char_s
        self.loop: asyncio.AbstractEventLoop = transport.async_loop
        self.expect = 0  # bytes of the reply to the request last sent (0: unknown)
        self.count = 0  # bytes of it read so far
        self.head = b""  # its first two bytes (an exception reply is shorter)
        self.reads = 0  # reads of the port, for tests and the bench
        self._timer: asyncio.TimerHandle | None = None
        self._fd: int | None = None

    def install(self) -> None:
        serial = self.t.sync_serial
        if serial is None or getattr(self.t, "force_poll", False):
            return
        self._fd = serial.fileno()
        self.loop.remove_reader(self._fd)
        self.loop.add_reader(self._fd, self._ready)

    def sent(self, expect: int) -> None:
        """A request went out: its reply is `expect` bytes long."""
        self.expect, self.count, self.head = expect, 0, b""
        if self._timer is not None:  # still waiting out an earlier reply: listen now
            self._timer.cancel()
            self._resume()

    def _remaining(self) -> int:
        if len(self.head) >= 2 and self.head[1] & 0x80:
            return EXCEPTION_REPLY_BYTES - self.count
        return self.expect - self.count

    def _ready(self) -> None:
        t = self.t
        if t.sync_serial is None:
            return
        try:
            data = t.sync_serial.read(1024)
        except pyserial.SerialException as exc:
            t.close(exc=exc)
            return
        self.reads += 1
        if data:
            if len(self.head) < 2:
                self.head += data[: 2 - len(self.head)]
            self.count += len(data)
            t.intern_protocol.data_received(data)
        if t.sync_serial is None or self._fd is None:
            return
        remaining = self._remaining()
        if data and remaining > SLACK_BYTES:
            # Listen again SLACK_BYTES before the end: the loop's timers fire up to a
            # millisecond late, and the last bytes must be read as they arrive (the line's
            # 3.5-character silence is counted from then).
            self.loop.remove_reader(self._fd)
            self._timer = self.loop.call_later((remaining - SLACK_BYTES) * self.char_s, self._resume)

    def _resume(self) -> None:
        self._timer = None
        if self.t.sync_serial is None or self._fd is None:
            return
        self.loop.add_reader(self._fd, self._ready)
        self._ready()
