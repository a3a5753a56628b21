"""The installer's commands as an installer runs them: `jc-gateway scan` on the simulator's
RS-485 pty and over TCP, `check-config` with its exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.support.gateway import GatewayProcess, free_port
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


def _scenario_rated(tmp_path: Path, kva: int) -> Path:
    """The "test" scenario with another transformer: a rating no default could guess."""
    text = (REPO_ROOT / "firmware_sim/scenarios/test.toml").read_text("utf-8")
    assert "rated_kva = 160" in text
    path = tmp_path / "rated.toml"
    path.write_text(text.replace("rated_kva = 160", f"rated_kva = {kva}"))
    return path


def test_example_config_fills_in_the_rating_the_simulator_reports(tmp_path):
    with SimProcess(_scenario_rated(tmp_path, 630)) as sim:
        host, port = sim.tcp
        out = gateway("example-config", "--sim", f"{host}:{port}", "--control", sim.info["control"],
                      "--store", str(tmp_path / "station.db"))
        assert out.returncode == 0, out.stderr
        cfg = tomllib.loads(out.stdout)
        assert cfg["transformer"]["rated_kva"] == 630
        assert [p["unit"] for p in cfg["pile"]] == sim.pile_units and cfg["meter"]["unit"] == sim.meter_unit
        (tmp_path / "station.toml").write_text(out.stdout)
        check = gateway("check-config", str(tmp_path / "station.toml"))
        assert check.returncode == 0 and "630 kVA" in check.stdout, check.stderr
        # The nameplate given by hand wins; the difference is said.
        hand = gateway("example-config", "--sim", f"{host}:{port}", "--control",
                       sim.info["control"].removeprefix("http://"), "--rated-kva", "400")
        assert hand.returncode == 0 and tomllib.loads(hand.stdout)["transformer"]["rated_kva"] == 400
        assert "simulator reports 630 kVA" in hand.stderr
        # Without a source of the rating it refuses rather than guessing one.
        guess = gateway("example-config", "--sim", f"{host}:{port}")
        assert guess.returncode == 2 and guess.stdout == ""
        assert "--control" in guess.stderr and "--rated-kva" in guess.stderr and "Traceback" not in guess.stderr


def test_example_config_when_nothing_answers_ends_with_a_message(tmp_path):
    nobody = f"127.0.0.1:{free_port()}"
    out = gateway("example-config", "--sim", nobody, "--rated-kva", "250")
    assert out.returncode == 2 and out.stdout == ""
    assert "Connection refused" in out.stderr and nobody in out.stderr and "Traceback" not in out.stderr
    ctl = gateway("example-config", "--sim", nobody, "--control", nobody)
    assert ctl.returncode == 2 and "control API does not answer" in ctl.stderr and "Traceback" not in ctl.stderr
    with SimProcess("test") as sim:  # something answers, but it is not the control API
        host, port = sim.tcp
        wrong = gateway("example-config", "--sim", f"{host}:{port}", "--control", f"{host}:{port}")
        assert wrong.returncode == 2 and "Traceback" not in wrong.stderr, wrong.stderr


def test_check_config_warns_about_a_port_that_does_not_exist(tmp_path):
    missing = tmp_path / "ttyUSB9"
    cfg = tmp_path / "station.toml"
    cfg.write_text(f'[station]\nid = "ST-1"\n[[bus]]\nname = "rs485-1"\nport = "{missing}"\n'
                   '[[pile]]\nid = "P1"\nunit = 1\n[transformer]\nrated_kva = 400\n')
    out = gateway("check-config", str(cfg))
    assert out.returncode == 0 and "OK" in out.stdout  # a valid file, even before the adapter is plugged in
    assert f"warning: [[bus]] \"rs485-1\": port {missing}: [Errno 2] No such file or directory" in out.stderr
    with SimProcess("test", tcp=False, rtu=tmp_path / "ttyRS485", baud=9600) as sim:
        cfg.write_text(cfg.read_text().replace(str(missing), sim.rtu))
        there = gateway("check-config", str(cfg))
        assert there.returncode == 0 and "warning: [[bus]]" not in there.stderr, there.stderr


def test_a_port_this_user_may_not_open_is_named(monkeypatch, tmp_path):
    from edge.config import device_warnings, parse_config

    dev = tmp_path / "ttyS0"
    dev.write_text("")
    cfg = parse_config({"station": {"id": "ST-1"}, "bus": [{"name": "l", "port": str(dev)}],
                        "pile": [{"id": "P1", "unit": 1}], "transformer": {"rated_kva": 100}})
    assert device_warnings(cfg) == []
    # Root may open anything: the refusal the OS gives other users is simulated here.
    monkeypatch.setattr("edge.config.os.access", lambda path, mode: False)
    (w,) = device_warnings(cfg)
    assert f"[Errno 13] Permission denied: '{dev}'" in w and "dialout" in w


def test_run_and_status_name_the_port_that_cannot_be_opened(tmp_path):
    missing = tmp_path / "ttyUSB9"
    extra = (f'[[bus]]\nname = "rs485-9"\nport = "{missing}"\n\n'
             '[[pile]]\nid = "P9"\nbus = "rs485-9"\nunit = 1\n')
    reason = f"[Errno 2] No such file or directory: '{missing}'"
    with SimProcess("test", rtu=tmp_path / "ttySIM") as sim, \
            GatewayProcess(sim, tmp_path / "gw", extra_toml=extra) as gw:
        s = gw.wait(lambda s: next(b for b in s["buses"] if b["address"] == str(missing))["open_error"],
                    what="the bus' open error")
        bus = next(b for b in s["buses"] if b["address"] == str(missing))
        assert bus["open_error"] == reason
        assert all(b["open_error"] is None for b in s["buses"] if b is not bus)
        # at the default log level, once, with the operating system's words
        log = gw.log_text()
        assert f"WARNING edge.drivers.transport: rs485-9: cannot open: {reason}" in log
        assert log.count(reason) < 5, log[-2000:]
        out = gateway("status", "--url", gw.url)
        assert out.returncode == 0, out.stderr
        assert f"rs485-9 ({missing}) CANNOT OPEN: {reason}" in out.stdout
        # The adapter is plugged in: the line opens at the next probe and the error is gone.
        missing.symlink_to(sim.rtu)
        gw.wait(lambda s: next(b for b in s["buses"] if b["address"] == str(missing))["open_error"] is None,
                timeout=40, what="the line opening once the device exists")
        assert "rs485-9: open again" in gw.log_text()
