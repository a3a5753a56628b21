"""The Mosquitto configuration the project ships: a template rendered with paths and ports.

files = render_broker_config(out_dir, BrokerSettings(port=8883, ca_file=..., cert_file=..., key_file=...))
mosquitto -c files.config
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from string import Template

_HERE = Path(__file__).parent


@dataclass(frozen=True)
class BrokerSettings:
    port: int
    ca_file: Path
    cert_file: Path  # the listener's server certificate (CertificateAuthority.new_server_identity)
    key_file: Path
    bind: str = "127.0.0.1"
    cloud_identities: tuple[str, ...] = ("jc.cloud",)
    max_queued_messages: int = 100_000
    max_inflight_messages: int = 100
    log_file: Path | None = None  # None: stderr
    data_dir: Path | None = None  # None: <out_dir>/data
    # Started as root, mosquitto switches to this user (its default: `mosquitto`), who must be
    # able to read the files; tests run it as themselves.
    run_as: str | None = None


@dataclass(frozen=True)
class BrokerFiles:
    config: Path
    acl: Path
    data_dir: Path
    extra: dict[str, Path] = field(default_factory=dict)


def _checked_path(p: Path) -> str:
    # Mosquitto's config has no quoting: a path with whitespace would be cut at the blank.
    s = str(Path(p).resolve())
    if re.search(r"\s", s):
        raise ValueError(f"path {s!r} contains whitespace, which mosquitto.conf cannot express")
    return s


def render_acl(cloud_identities: tuple[str, ...]) -> str:
    users = []
    for ident in cloud_identities:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", ident):
            raise ValueError(f"cloud identity {ident!r}: [A-Za-z0-9_.-]{{1,64}}")
        users.append(f"user {ident}\ntopic readwrite jc/v1/st/#\n")
    return Template((_HERE / "acl.tmpl").read_text("utf-8")).substitute(
        cloud_users="\n".join(users).rstrip()
    )


def render_broker_config(out_dir: Path, settings: BrokerSettings) -> BrokerFiles:
    """Write mosquitto.conf and acl into `out_dir` (and create the data folder)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data_dir = Path(settings.data_dir or out_dir / "data")
    data_dir.mkdir(parents=True, exist_ok=True)
    acl = out_dir / "acl"
    acl.write_text(render_acl(settings.cloud_identities), "utf-8")
    conf = Template((_HERE / "mosquitto.conf.tmpl").read_text("utf-8")).substitute(
        acl_file=_checked_path(acl),
        data_dir=_checked_path(data_dir),
        port=int(settings.port),
        bind=settings.bind,
        ca_file=_checked_path(settings.ca_file),
        cert_file=_checked_path(settings.cert_file),
        key_file=_checked_path(settings.key_file),
        max_queued_messages=int(settings.max_queued_messages),
        max_inflight_messages=int(settings.max_inflight_messages),
        user_line=f"user {settings.run_as}" if settings.run_as else "# user: mosquitto's default",
        log_dest=f"file {_checked_path(settings.log_file)}" if settings.log_file else "stderr",
    )
    config = out_dir / "mosquitto.conf"
    config.write_text(conf, "utf-8")
    return BrokerFiles(config=config, acl=acl, data_dir=data_dir)
