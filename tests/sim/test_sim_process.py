"""`jc-sim` as a real process, started through tests/support/sim.py, and its CLI."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from firmware_sim.cli import main
from tests.support.sim import SimControlError, SimProcess

FIRST_LINE_KEYS = {"tcp", "rtu", "control", "devices"}


def test_first_line_describes_what_is_served(sim_factory, tmp_path: Path) -> None:
    link = tmp_path / "ttyJC"
    sim = sim_factory("test", rtu=link, baud=19200)
    info = sim.info
    assert FIRST_LINE_KEYS <= set(info)
    assert info["tcp"].startswith("127.0.0.1:") and int(info["tcp"].rsplit(":", 1)[1]) > 0
    assert info["rtu"] == str(link) and link.is_symlink()
    assert info["control"].startswith("http://127.0.0.1:")
    assert info["devices"][:3] == [
        {"unit": 1, "kind": "pile", "profile": "jc-ref-v1", "guns": 1, "rated_power_w": 7000,
         "current": "AC", "phases": 1, "id": "AC7", "serial": "JCT-AC7-0001"},
        {"unit": 2, "kind": "pile", "profile": "jc-ref-v1", "guns": 1, "rated_power_w": 22000,
         "current": "AC", "phases": 3, "id": "AC22", "serial": "JCT-AC22-0002"},
        {"unit": 3, "kind": "pile", "profile": "jc-ref-v1", "guns": 2, "rated_power_w": 120000,
         "current": "DC", "phases": 0, "id": "DC120", "serial": "JCT-DC120-0003"},
    ]
    assert info["devices"][3] == {"unit": 10, "kind": "meter", "model": "ARCM300T",
                                  "rated_kva": 160}
    assert sim.meter_unit == 10 and sim.pile_units == [1, 2, 3]
    assert info["baud"] == 19200

    async def both_transports() -> None:
        host, port = sim.tcp
        # another process on the same (loaded) cores: the waits only guard against no reply
        tcp = AsyncModbusTcpClient(host, port=port, timeout=10, retries=0)
        rtu = AsyncModbusSerialClient(sim.rtu, baudrate=19200, timeout=10, retries=0)
        assert await tcp.connect() and await rtu.connect()
        try:
            await tcp.write_registers(10, [42], device_id=2)  # watchdog_s on pile 2
            assert (await rtu.read_holding_registers(10, count=1, device_id=2)).registers == [42]
        finally:
            tcp.close()
            rtu.close()

    asyncio.run(both_transports())

    state = sim.state()
    assert state["piles"][1]["watchdog_s"] == 42
    assert state["stats"]["tcp"]["requests"] >= 1 and state["stats"]["rtu"]["replies"] >= 1
    with pytest.raises(SimControlError) as info_err:
        sim.control("POST", "/piles/1/guns/1/unplug")
    assert info_err.value.status == 409

    assert sim.stop() == 0  # SIGTERM: a clean exit
    assert not link.exists() and not link.is_symlink()
    assert "stopping" in sim.log_text()


def test_sigint_and_port_zero_without_control(tmp_path: Path) -> None:
    with SimProcess("demo", control=False, speed=60) as sim:
        assert sim.info["control"] is None and sim.info["rtu"] is None
        assert sim.info["scenario"] == "demo" and sim.info["speed"] == 60
        assert [d["unit"] for d in sim.devices] == [1, 2, 3, 10]
        assert sim.proc is not None
        sim.proc.send_signal(signal.SIGINT)
        assert sim.proc.wait(5) == 0


def test_bad_scenario_fails_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pile]]\nunit = 1\ncurrent = "XX"\nrated_power_w = 7000\n')
    result = CliRunner().invoke(main, ["run", str(bad), "--tcp", "127.0.0.1:0"])
    assert result.exit_code != 0
    assert "current: must be one of 'AC', 'DC'" in result.output
    with pytest.raises(RuntimeError, match="did not start"):
        SimProcess(str(bad)).start()


def test_list_and_check() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["list"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert {"demo", "test", "bench32"} <= set(names)
    result = runner.invoke(main, ["check", "bench32"])
    assert result.exit_code == 0 and "16 piles" in result.output
    result = runner.invoke(main, ["run", "demo", "--tcp", "nonsense"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output


def test_first_line_is_one_json_object_alone(sim) -> None:
    """The `sim` fixture: the defaults (test scenario, TCP + control)."""
    assert sim.info["rtu"] is None and sim.tcp is not None
    assert json.loads(json.dumps(sim.info)) == sim.info
    assert sim.control("GET", "/state")["scenario"] == "test"
