"""The Mosquitto configuration the project ships: a template rendered with paths and ports.

files = render_broker_config(out_dir, BrokerSettings(port=8883, cloud_port=8884, ca_file=...,
                             cloud_ca_file=..., crl_file=..., cert_file=..., key_file=...))
mosquitto -c files.config

Two listeners: stations (client id = certificate CN, CRL checked) and cloud processes (only
the cloud CA's certificates). Access control is the dynamic-security plugin (cloud/broker/
dynsec.py); its JSON file is written here once and then kept by the broker.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

from cloud.broker.dynsec import render_dynsec

_HERE = Path(__file__).parent
DYNSEC_PLUGIN = Path(
    os.environ.get("JC_MOSQUITTO_DYNSEC", "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
)
DYNSEC_FILE = "dynamic-security.json"


@dataclass(frozen=True)
class BrokerSettings:
    port: int  # the stations' listener
    ca_file: Path  # what station certificates must chain to (CA_DIR/station/trust.pem)
    cert_file: Path  # the listeners' server certificate (chain file: leaf, then issuing CA)
    key_file: Path
    cloud_ca_file: Path  # the cloud CA (CA_DIR/cloud/ca.crt): the only trust of the cloud listener
    crl_file: Path  # CA_DIR/station/crl.pem
    cloud_port: int = 0  # 0: port + 1
    bind: str = "127.0.0.1"
    cloud_bind: str = "127.0.0.1"
    cloud_identities: tuple[str, ...] = ("jc.cloud",)
    stations: tuple[str, ...] = ()  # stations already provisioned (written into the ACL file)
    max_queued_messages: int = 100_000
    max_inflight_messages: int = 100
    log_file: Path | None = None  # None: stderr
    data_dir: Path | None = None  # None: <out_dir>/data
    pid_file: Path | None = None  # the cloud sends SIGHUP to this pid to reload the CRL
    # Started as root, mosquitto switches to this user (its default: `mosquitto`), who must be
    # able to read the files; tests run it as themselves.
    run_as: str | None = None
    dynsec_plugin: Path = DYNSEC_PLUGIN

    @property
    def cloud_listener_port(self) -> int:
        return self.cloud_port or self.port + 1


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    dynsec: Path
    data_dir: Path
    extra: dict[str, Path] = field(default_factory=dict)


def _checked_path(p: Path) -> str:
    # Mosquitto's config has no quoting: a path with whitespace would be cut at the blank.
    s = str(Path(p).resolve())
    if re.search(r"\s", s):
        raise ValueError(f"path {s!r} contains whitespace, which mosquitto.conf cannot express")
    return s


def _check_identities(idents: Iterable[str]) -> tuple[str, ...]:
    out = tuple(idents)
    for ident in out:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", ident) or "." not in ident:
            raise ValueError(f"cloud identity {ident!r}: [A-Za-z0-9_.-]{{1,64}} with a dot")
    return out


def write_dynsec(path: Path, cloud_identities: Iterable[str], stations: Iterable[str]) -> Path:
    data = render_dynsec(_check_identities(cloud_identities), stations)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    return path


def render_broker_config(out_dir: Path, settings: BrokerSettings, *, keep_dynsec: bool = True) -> BrokerFiles:
    """Write mosquitto.conf and the access-control file into `out_dir` (and the data folder).

    An access-control file already there is the broker's own record (stations added at
    provisioning): it is kept unless `keep_dynsec` is false.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(settings.data_dir or out_dir / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    if not Path(settings.dynsec_plugin).exists():
        raise FileNotFoundError(
            f"{settings.dynsec_plugin}: Mosquitto's dynamic-security plugin is missing "
            "(Debian: apt-get install mosquitto; elsewhere set JC_MOSQUITTO_DYNSEC)"
        )
    dynsec = out_dir / DYNSEC_FILE
    if not (keep_dynsec and dynsec.exists()):
        write_dynsec(dynsec, settings.cloud_identities, settings.stations)
    _check_identities(settings.cloud_identities)
    conf = Template((_HERE / "mosquitto.conf.tmpl").read_text("utf-8")).substitute(
        dynsec_plugin=_checked_path(settings.dynsec_plugin),
        dynsec_file=_checked_path(dynsec),
        data_dir=_checked_path(data_dir),
        port=int(settings.port),
        bind=settings.bind,
        cloud_port=int(settings.cloud_listener_port),
        cloud_bind=settings.cloud_bind,
        ca_file=_checked_path(settings.ca_file),
        cloud_ca_file=_checked_path(settings.cloud_ca_file),
        crl_file=_checked_path(settings.crl_file),
        cert_file=_checked_path(settings.cert_file),
        key_file=_checked_path(settings.key_file),
        max_queued_messages=int(settings.max_queued_messages),
        max_inflight_messages=int(settings.max_inflight_messages),
        user_line=f"user {settings.run_as}" if settings.run_as else "# user: mosquitto's default",
        pid_line=(f"pid_file {_checked_path(settings.pid_file)}" if settings.pid_file
                  else "# pid_file: none"),
        log_dest=f"file {_checked_path(settings.log_file)}" if settings.log_file else "stderr",
    )
    config = out_dir / "mosquitto.conf"
    config.write_text(conf, "utf-8")
    return BrokerFiles(config=config, dynsec=dynsec, data_dir=data_dir)
