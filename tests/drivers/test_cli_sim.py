"""The installer's commands as an installer runs them: `jc-gateway scan` on the simulator's
RS-485 pty and over TCP, `check-config` with its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.sim import REPO_ROOT, SimProcess


def gateway(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)


def test_scan_finds_piles_and_meter_on_the_rs485_line(tmp_path):
    with SimProcess("test", tcp=False, rtu=tmp_path / "ttyRS485", baud=9600) as sim:
        out = gateway("scan", "--port", sim.rtu, "--baud", "9600", "--units", "1-4,10", "--json")
        assert out.returncode == 0, out.stderr
        found = {d["unit"]: d for d in json.loads(out.stdout)}
        assert sorted(found) == [1, 2, 3, 10]
        assert {found[u]["profile"] for u in (1, 2, 3)} == {"jc-ref-v1"}
        assert (found[10]["profile"], found[10]["kind"], found[10]["baud"]) == ("arcm300t", "meter", 9600)
        assert found[3]["details"]["guns"] == 2
        table = gateway("scan", "--port", sim.rtu, "--baud", "9600", "--units", "10")
        assert table.returncode == 0 and "arcm300t" in table.stdout and "BAUD" in table.stdout


def test_scan_over_tcp_and_a_port_that_does_not_exist(tmp_path):
    with SimProcess("test") as sim:
        host, port = sim.tcp
        out = gateway("scan", "--host", f"{host}:{port}", "--units", "1-3", "--json")
        assert out.returncode == 0, out.stderr
        assert [d["unit"] for d in json.loads(out.stdout)] == [1, 2, 3]
    missing = gateway("scan", "--port", str(tmp_path / "ttyNOPE"), "--baud", "9600", "--units", "1")
    assert missing.returncode == 2 and "cannot open" in missing.stderr
    bad = gateway("scan", "--host", "127.0.0.1:502", "--units", "0-5")
    assert bad.returncode == 2 and "--units" in bad.stderr


def test_check_config_exit_codes(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[station]\nid = "ST-1"\n[[bus]]\nname = "l"\nport = "/dev/ttyUSB0"\n'
                    '[[pile]]\nid = "P1"\nunit = 1\n[meter]\nbus = "l"\nunit = 10\n[transformer]\nrated_kva = 400\n')
    ok = gateway("check-config", str(good))
    assert ok.returncode == 0 and "OK" in ok.stdout and "P1: bus l unit 1" in ok.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(good.read_text().replace("rated_kva = 400", "rated_kva = -1").replace("unit = 1\n", "unit = 999\n"))
    no = gateway("check-config", str(bad))
    assert no.returncode == 1
    assert "`unit` = 999" in no.stderr and "`rated_kva` = -1.0" in no.stderr and "2 problems" in no.stderr
