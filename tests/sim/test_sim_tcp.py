"""The simulator over real Modbus TCP sockets, with pymodbus's own client (in-process app)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from firmware_sim import scenario as scenarios
from firmware_sim.app import Options, SimApp
from firmware_sim.registers import PILE_INPUT_DEVICE, PILE_INPUT_GUN

TIMEOUT = 0.4


@pytest.fixture
async def app() -> AsyncIterator[SimApp]:
    sim = SimApp(Options(scenario=scenarios.load("test"), tcp=("127.0.0.1", 0)))
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def client(app: SimApp) -> AsyncIterator[AsyncModbusTcpClient]:
    host, port = app.tcp.bound  # type: ignore[union-attr]
    c = AsyncModbusTcpClient(host, port=port, timeout=TIMEOUT, retries=0)
    assert await c.connect()
    yield c
    c.close()


async def gun(client: AsyncModbusTcpClient, unit: int, g: int = 1) -> dict:
    rr = await client.read_input_registers(100 * g, count=40, device_id=unit)
    assert not rr.isError(), rr
    return PILE_INPUT_GUN.decode(rr.registers)


async def test_device_blocks_of_every_pile(client: AsyncModbusTcpClient) -> None:
    expected = {1: (1, 1, 1, 7000), 2: (1, 1, 3, 22000), 3: (2, 2, 0, 120000)}
    for unit, (gun_count, kind, phases, rated) in expected.items():
        rr = await client.read_input_registers(0, count=20, device_id=unit)
        regs = PILE_INPUT_DEVICE.decode(rr.registers)
        assert (regs["gun_count"], regs["kind"], regs["phases"], regs["rated_power"]) == (
            gun_count if unit != 3 else 2, kind, phases, rated)
        assert regs["map_version"] == 1


async def test_meter_answers_fc3_and_fc4_with_the_same_data(client: AsyncModbusTcpClient) -> None:
    fc3 = await client.read_holding_registers(0, count=20, device_id=10)
    fc4 = await client.read_input_registers(0, count=20, device_id=10)
    assert fc3.registers[:16] == fc4.registers[:16]  # config + temperature: stable
    s = await client.read_holding_registers(52, count=2, device_id=10)
    s_total = s.registers[0] << 16 | s.registers[1]
    assert 20_000 / 0.95 * 0.99 < s_total < 22_000  # the test scenario's 20 kW base load + standby
    rc = await client.read_input_registers(449, count=1, device_id=10)
    assert 0 < rc.registers[0] < 30
    assert (await client.write_registers(14, [1, 1], device_id=10)).function_code == 16


async def test_remote_start_over_tcp(app: SimApp, client: AsyncModbusTcpClient) -> None:
    app.station.plug(2, 1, {"start_soc": 40})
    assert not (await client.write_registers(103, [0, 4242], device_id=2)).isError()
    reply = await client.write_register(100, 1, device_id=2)
    assert reply.registers == [1]  # FC 06 echoes the request even though command reads 0
    assert (await client.read_holding_registers(100, count=1, device_id=2)).registers == [0]
    assert (await gun(client, 2))["last_cmd_result"] == 1
    deadline = time.monotonic() + 2.0
    while (regs := await gun(client, 2))["state"] != 2:
        assert time.monotonic() < deadline, "charging did not begin within 2 s"
        await asyncio.sleep(0.05)
    assert regs["session_tag"] == 4242 and regs["session_counter"] == 1
    assert regs["active_power"] > 20_000


async def test_exceptions_02_03_and_01(client: AsyncModbusTcpClient) -> None:
    rr = await client.write_register(0, 1, device_id=1)
    assert rr.isError() and rr.exception_code == 2
    rr = await client.write_register(100, 9, device_id=1)
    assert rr.isError() and rr.exception_code == 3
    rr = await client.read_holding_registers(20, count=5, device_id=1)  # between the blocks
    assert rr.isError() and rr.exception_code == 2
    rr = await client.read_input_registers(100, count=41, device_id=1)  # past the gun block
    assert rr.isError() and rr.exception_code == 2
    rr = await client.read_input_registers(200, count=1, device_id=1)  # no gun 2
    assert rr.isError() and rr.exception_code == 2
    rr = await client.read_coils(0, count=1, device_id=1)
    assert rr.isError() and rr.exception_code == 1
    rr = await client.write_register(14, 2, device_id=10)  # the meter writes with FC 16 only
    assert rr.isError() and rr.exception_code == 1
    rr = await client.write_registers(20, [1], device_id=10)  # a measurement
    assert rr.isError() and rr.exception_code == 2
    rr = await client.write_registers(0, [0], device_id=10)
    assert rr.isError() and rr.exception_code == 3


async def test_link_cut_means_no_reply_at_all(app: SimApp, client: AsyncModbusTcpClient) -> None:
    app.station.cut_link(2)
    t0 = time.monotonic()
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=2, device_id=2)
    assert time.monotonic() - t0 >= TIMEOUT * 0.9  # the client waited: silence, not an error
    assert not (await client.read_input_registers(0, count=2, device_id=1)).isError()
    app.station.restore_link(2)
    assert not (await client.read_input_registers(0, count=2, device_id=2)).isError()


async def test_unknown_unit_and_unpowered_pile_are_silent(app: SimApp,
                                                          client: AsyncModbusTcpClient) -> None:
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=1, device_id=7)
    app.station.set_power(1, False)
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=1, device_id=1)


async def test_slow_reply_keeps_its_own_transaction(app: SimApp) -> None:
    """A late reply must not be taken for the answer to a later request."""
    host, port = app.tcp.bound  # type: ignore[union-attr]
    c = AsyncModbusTcpClient(host, port=port, timeout=0.25, retries=0)
    await c.connect()
    try:
        app.station.link_faults.update({"delay_ms": 400}, "tcp", unit=3)
        with pytest.raises(ModbusIOException):
            await c.read_input_registers(0, count=20, device_id=3)
        rr = await c.read_input_registers(0, count=20, device_id=1)  # the unit-3 reply arrives meanwhile
        assert PILE_INPUT_DEVICE.decode(rr.registers)["rated_power"] == 7000
    finally:
        c.close()
    slow = AsyncModbusTcpClient(host, port=port, timeout=1.0, retries=0)
    await slow.connect()
    try:
        t0 = time.monotonic()
        rr = await slow.read_input_registers(0, count=20, device_id=3)
        assert time.monotonic() - t0 >= 0.38
        assert PILE_INPUT_DEVICE.decode(rr.registers)["rated_power"] == 120_000
    finally:
        slow.close()


async def test_garbled_replies_never_pass_as_the_clean_answer(app: SimApp,
                                                               client: AsyncModbusTcpClient) -> None:
    clean = (await client.read_holding_registers(100, count=10, device_id=1)).registers
    app.station.link_faults.update({"garble_rate": 1.0}, "tcp")
    for _ in range(8):
        try:
            rr = await client.read_holding_registers(100, count=10, device_id=1)
        except ModbusIOException:
            continue
        assert rr.isError() or rr.registers != clean
    assert app.station.stats["tcp"]["injected"] >= 8


async def test_dribbled_reply_still_decodes(app: SimApp) -> None:
    # what is tested is reassembly, not timing: 89 bytes, each after a pause of up to 4 ms,
    # take up to ~0.36 s on a quiet machine and longer on a busy one (each pause ends late),
    # past the 0.4 s client timeout of the other tests
    host, port = app.tcp.bound  # type: ignore[union-attr]
    client = AsyncModbusTcpClient(host, port=port, timeout=10.0, retries=0)
    assert await client.connect()
    try:
        app.station.link_faults.update({"dribble_rate": 1.0, "dribble_bytewise": True,
                                        "dribble_max_pause_ms": 4}, "tcp")
        rr = await client.read_input_registers(100, count=40, device_id=3)
        assert PILE_INPUT_GUN.decode(rr.registers)["state"] == 0
        assert app.station.stats["tcp"]["injected"] >= 1  # it was dribbled
    finally:
        client.close()


@pytest.mark.parametrize("fault", ["silence_rate", "short_frame_rate"])
async def test_silence_and_short_frames_time_out(app: SimApp, client: AsyncModbusTcpClient,
                                                 fault: str) -> None:
    app.station.link_faults.update({fault: 1.0}, "tcp", unit=1)
    with pytest.raises(ModbusIOException):
        await client.read_input_registers(0, count=10, device_id=1)
    assert not (await client.read_input_registers(0, count=10, device_id=2)).isError()
