"""The simulator over Modbus RTU on a pty, with pymodbus's serial client and raw pyserial."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer import FramerRTU

from firmware_sim import scenario as scenarios
from firmware_sim.app import Options, SimApp
from firmware_sim.registers import PILE_INPUT_GUN

BAUD = 9600
CHAR_S = 11 / BAUD
TIMEOUT = 0.5


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[SimApp]:
    sim = SimApp(Options(scenario=scenarios.load("test"), rtu=tmp_path / "ttySIM", baud=BAUD,
                         tcp=("127.0.0.1", 0)))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def client(app: SimApp) -> AsyncIterator[AsyncModbusSerialClient]:
    c = AsyncModbusSerialClient(str(app.rtu.config.link), baudrate=BAUD,  # type: ignore[union-attr]
                                timeout=TIMEOUT, retries=0)
    assert await c.connect()
    yield c
    c.close()


def frame(unit: int, pdu: bytes) -> bytes:
    body = bytes([unit]) + pdu
    return body + FramerRTU.compute_CRC(body).to_bytes(2, "big")


def crc_ok(data: bytes) -> bool:
    return len(data) >= 4 and FramerRTU.check_CRC(data[:-2], int.from_bytes(data[-2:], "big"))


async def raw_exchange(link: str, request: bytes, wait: float = 0.4) -> bytes:
    """Send raw bytes with pyserial and collect whatever comes back within `wait` (for a
    request that must get no reply)."""

    def run() -> bytes:
        with serial.Serial(link, BAUD, timeout=0.02) as port:
            port.write(request)
            got = b""
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                got += port.read(256)
            return got

    return await asyncio.to_thread(run)


async def raw_reply(link: str, request: bytes, first_within: float = 10.0, quiet: float = 0.5) -> bytes:
    """Send raw bytes with pyserial and collect the reply: its first byte within `first_within`
    (a guard against a reply that never comes, generous for a busy machine), then everything
    until the line has been quiet for `quiet` (hundreds of characters at 9600 baud, so bytes
    the simulator sends after its frame are caught too)."""

    def run() -> bytes:
        with serial.Serial(link, BAUD, timeout=0.02) as port:
            port.write(request)
            got = b""
            deadline = time.monotonic() + first_within
            while not got and time.monotonic() < deadline:
                got += port.read(256)
            last = time.monotonic()
            while got and time.monotonic() - last < quiet:
                if more := port.read(256):
                    got, last = got + more, time.monotonic()
            return got

    return await asyncio.to_thread(run)


async def test_link_is_a_symlink_to_a_tty(app: SimApp) -> None:
    link = app.rtu.config.link  # type: ignore[union-attr]
    assert link.is_symlink()
    assert os.readlink(link).startswith("/dev/pts/")


async def test_a_40_register_read_takes_its_wire_time(client: AsyncModbusSerialClient) -> None:
    # request 8 bytes + 3.5 chars of silence + reply 5 + 80 bytes, at 11 bits a character
    wire_s = (8 + 3.5 + 85) * CHAR_S
    elapsed = []
    for _ in range(3):
        t0 = time.monotonic()
        rr = await client.read_input_registers(100, count=40, device_id=1)
        elapsed.append(time.monotonic() - t0)
        assert not rr.isError()
        assert PILE_INPUT_GUN.decode(rr.registers)["state"] == 0
    assert min(elapsed) >= wire_s  # ~111 ms at 9600 baud
    assert max(elapsed) < wire_s + 0.3  # generous: CI machines are busy


async def test_same_station_state_on_rtu_and_tcp(app: SimApp,
                                                 client: AsyncModbusSerialClient) -> None:
    host, port = app.tcp.bound  # type: ignore[union-attr]
    tcp = AsyncModbusTcpClient(host, port=port, timeout=TIMEOUT, retries=0)
    await tcp.connect()
    try:
        assert not (await tcp.write_registers(101, [0, 3333], device_id=3)).isError()
        rr = await client.read_holding_registers(101, count=2, device_id=3)
        assert rr.registers == [0, 3333]
    finally:
        tcp.close()


async def test_writes_and_exceptions_over_rtu(client: AsyncModbusSerialClient) -> None:
    assert (await client.write_register(19, 77, device_id=1)).registers == [77]
    rr = await client.read_input_registers(19, count=1, device_id=1)
    assert rr.registers == [77]  # heartbeat_echo
    rr = await client.write_register(100, 5, device_id=1)
    assert rr.isError() and rr.exception_code == 3
    rr = await client.write_register(9, 5, device_id=1)
    assert rr.isError() and rr.exception_code == 2


async def test_unknown_and_cut_units_are_silent(app: SimApp,
                                                client: AsyncModbusSerialClient) -> None:
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=2, device_id=42)
    app.station.cut_link(10)
    with pytest.raises(ModbusIOException):
        await client.read_holding_registers(20, count=2, device_id=10)
    app.station.restore_link(10)
    rr = await client.read_holding_registers(20, count=3, device_id=10)
    assert all(2200 < v < 2400 for v in rr.registers)


async def test_crc_error_injection_is_seen_by_clients(app: SimApp,
                                                      client: AsyncModbusSerialClient) -> None:
    app.station.link_faults.update({"crc_error_rate": 1.0}, "rtu", unit=1)
    with pytest.raises(ModbusIOException):  # pymodbus drops the frame and times out
        await client.read_input_registers(0, count=4, device_id=1)
    client.close()
    link = str(app.rtu.config.link)  # type: ignore[union-attr]
    reply = await raw_reply(link, frame(1, bytes([4, 0, 0, 0, 4])))
    assert len(reply) == 5 + 8 and reply[:3] == bytes([1, 4, 8])
    assert not crc_ok(reply)
    app.station.link_faults.clear()
    reply = await raw_reply(link, frame(1, bytes([4, 0, 0, 0, 4])))
    assert crc_ok(reply)


async def test_silence_and_short_frames(app: SimApp) -> None:
    link = str(app.rtu.config.link)  # type: ignore[union-attr]
    app.station.link_faults.update({"silence_rate": 1.0}, "rtu")
    assert await raw_exchange(link, frame(2, bytes([4, 0, 0, 0, 10])), wait=0.3) == b""
    app.station.link_faults.update({"silence_rate": 0.0, "short_frame_rate": 1.0}, "rtu")
    reply = await raw_reply(link, frame(2, bytes([4, 0, 0, 0, 10])))
    assert 0 < len(reply) < 25 and not crc_ok(reply)
    assert app.station.stats["rtu"]["injected"] >= 2


async def test_dribbled_reply_still_decodes(app: SimApp) -> None:
    # what is tested is reassembly, not timing: a reply dribbled byte by byte takes longer
    # on a busy machine (each pause ends late), so the client waits longer than TIMEOUT
    client = AsyncModbusSerialClient(str(app.rtu.config.link), baudrate=BAUD,  # type: ignore[union-attr]
                                     timeout=10.0, retries=0)
    assert await client.connect()
    try:
        app.station.link_faults.update(
            {"dribble_rate": 1.0, "dribble_bytewise": True, "dribble_max_pause_ms": 3}, "rtu")
        t0 = time.monotonic()
        rr = await client.read_input_registers(100, count=20, device_id=3)
        assert not rr.isError() and PILE_INPUT_GUN.decode(rr.registers + [0] * 20)["soc"] == 0xFFFF
        assert time.monotonic() - t0 > (8 + 45) * CHAR_S + 44 * 0.0006  # pauses between bytes
        app.station.link_faults.update({"dribble_bytewise": False}, "rtu")
        rr = await client.read_input_registers(100, count=40, device_id=3)
        assert not rr.isError()
    finally:
        client.close()


async def test_requests_with_bad_crc_get_no_reply(app: SimApp) -> None:
    link = str(app.rtu.config.link)  # type: ignore[union-attr]
    bad = bytearray(frame(1, bytes([3, 0, 100, 0, 1])))
    bad[-1] ^= 0xFF
    assert await raw_exchange(link, bytes(bad), wait=0.25) == b""


async def test_unsupported_function_gets_exception_01(app: SimApp) -> None:
    link = str(app.rtu.config.link)  # type: ignore[union-attr]
    reply = await raw_reply(link, frame(1, bytes([0x41, 0, 0])))
    assert crc_ok(reply) and reply[:3] == bytes([1, 0xC1, 1])


async def test_broadcast_write_reaches_every_pile_without_reply(
        app: SimApp, client: AsyncModbusSerialClient) -> None:
    await client.write_register(19, 1234, device_id=0, no_response_expected=True)
    deadline = time.monotonic() + 10  # the frame's bytes reach the simulator when the machine lets them
    while not all(app.station.pile(unit).heartbeat == 1234 for unit in (1, 2, 3)):
        assert time.monotonic() < deadline, [app.station.pile(unit).heartbeat for unit in (1, 2, 3)]
        await asyncio.sleep(0.02)
