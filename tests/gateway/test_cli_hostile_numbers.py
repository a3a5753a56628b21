"""Host:port options with digits Python's str.isdigit takes but int() refuses ("²", "５"):
a usage error, never a traceback (jc-gateway scan / example-config, jc-sim's listen options)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edge.cli import main as gateway
from firmware_sim.cli import _host_port


@pytest.mark.parametrize("port", ["5²", "50２", "٥٠٢"])
def test_a_port_of_other_digits_is_a_usage_error(port: str) -> None:
    runner = CliRunner()
    for args in (["scan", "--host", f"127.0.0.1:{port}", "--units", "1"],
                 ["example-config", "--sim", f"127.0.0.1:{port}"]):
        result = runner.invoke(gateway, args)
        assert result.exit_code == 2 and "HOST:PORT" in result.output, (args, result.output, result.exception)
    import click

    with pytest.raises(click.BadParameter):
        _host_port(f"127.0.0.1:{port}", "--modbus")
