"""deploy/systemd/jc-gateway.service: `systemd-analyze verify` passes (in a scratch root, so
the ExecStart binary need not be installed here), and the unit says what docs/install.md and
the config defaults say."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

from edge.cli import main as gateway_cli
from edge.config import CloudConfig, StoreConfig
from tests.support.services import missing

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "deploy" / "systemd" / "jc-gateway.service"
INSTALL = REPO / "docs" / "install.md"
SYSTEM_UNITS = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]


def unit() -> configparser.RawConfigParser:
    p = configparser.RawConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    p.optionxform = str  # type: ignore[assignment,method-assign]
    p.read_string(UNIT.read_text(encoding="utf-8"))
    return p


def values(key: str) -> list[str]:
    """Every value of a [Service] key (systemd keys may repeat)."""
    out = []
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        k, sep, v = line.partition("=")
        if sep and k.strip() == key:
            out.append(v.strip())
    return out


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        missing("systemd-analyze is not installed on this machine (Debian: apt-get install systemd)")
    units = next((d for d in SYSTEM_UNITS if (d / "sysinit.target").exists()), None)
    if units is None:
        missing("no systemd unit directory with sysinit.target here to verify against (apt-get install systemd)")
    root = tmp_path / "root"
    shutil.copytree(units, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    shutil.copy(UNIT, root / "etc/systemd/system" / UNIT.name)
    exe = Path(shlex.split(unit()["Service"]["ExecStart"])[0])
    stub = root / exe.relative_to("/")
    stub.parent.mkdir(parents=True)
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    out = subprocess.run([tool, "verify", "--man=no", f"--root={root}", UNIT.name],
                         capture_output=True, text=True, timeout=60)
    said = (out.stdout + out.stderr).strip()
    assert out.returncode == 0 and not said, f"systemd-analyze verify:\n{said}"


def test_exec_start_is_a_real_command_and_the_documented_paths() -> None:
    argv = shlex.split(unit()["Service"]["ExecStart"])
    assert argv[0] == "/opt/juchong/venv/bin/jc-gateway"
    assert argv[1:] == ["run", "-c", "/etc/juchong/station.toml"]
    run = gateway_cli.commands["run"]
    assert "-c" in next(p for p in run.params if p.name == "config_path").opts
    text = INSTALL.read_text(encoding="utf-8")
    for path in ("/opt/juchong/venv", "/etc/juchong/station.toml", "/var/lib/juchong"):
        assert path in text, f"docs/install.md does not mention {path}"


def test_restart_state_directory_and_serial_access() -> None:
    service = unit()["Service"]
    assert service["Restart"] == "always"
    assert unit()["Unit"]["StartLimitIntervalSec"] == "0"
    assert service["User"] == "juchong" and "dialout" in service["SupplementaryGroups"].split()
    assert service["StateDirectory"] == "juchong" and service["StateDirectoryMode"] == "0700"
    # the store and the credentials default into the state directory
    state = Path("/var/lib") / service["StateDirectory"]
    assert Path(StoreConfig.path).parent == state and Path(CloudConfig.credentials_dir).parent == state
    # hardened, but the serial devices stay reachable
    assert service.get("PrivateDevices", "no") == "no"
    allowed = {v.split()[0] for v in values("DeviceAllow")}
    assert {"char-ttyUSB", "char-ttyS"} <= allowed
    assert service["ProtectSystem"] == "strict" and service["NoNewPrivileges"] == "yes"
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
