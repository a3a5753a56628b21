"""`jc-cloud`: the cloud's command line (a Flask CLI group: settings come from the app)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext

from cloud.config import ConfigError


def _create_app() -> Any:
    from cloud.app import create_app

    try:
        return create_app()
    except ConfigError as e:
        raise click.ClickException(f"configuration: {e}") from None


# The commands live on the app's CLI (`app.cli`, registered by create_app), so that Flask's
# test runner and `flask --app cloud` see them too; `jc-cloud` is the FlaskGroup over them.
@click.group(
    cls=FlaskGroup, create_app=_create_app, add_default_commands=False, add_version_option=False
)
def main() -> None:
    """Juchong cloud. Settings: instance/config.py and JC_* environment variables (docs/cloud.md)."""


COMMANDS: list[click.Command] = []


def _cli(cmd: click.Command) -> click.Command:
    COMMANDS.append(cmd)
    return cmd


def register(app: Any) -> None:
    for cmd in COMMANDS:
        app.cli.add_command(cmd)


# --- database -------------------------------------------------------------------------------------
@_cli
@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create the database tables, or upgrade them to the newest schema (idempotent)."""
    _upgrade("head")


@_cli
@click.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def upgrade_cmd(revision: str) -> None:
    """Run the schema migrations up to REVISION (default: head)."""
    _upgrade(revision)


def _upgrade(revision: str) -> None:
    from cloud.db import make_engine
    from cloud.migrate import current_revision, upgrade

    engine = make_engine(current_app.config["DATABASE_URL"], purpose="writer")
    try:
        upgrade(engine, revision)
        click.echo(
            f"database {engine.url.render_as_string(hide_password=True)} at revision {current_revision(engine)}"
        )
    finally:
        engine.dispose()


# --- certificates ---------------------------------------------------------------------------------
@_cli
@click.group("ca")
def ca_group() -> None:
    """The station CA."""


@ca_group.command("init")
@click.option("--name", default="Juchong station CA", show_default=True)
@with_appcontext
def ca_init(name: str) -> None:
    """Create the CA in CA_DIR (refuses to replace an existing one)."""
    from cloud.pki.ca import CaError, CertificateAuthority

    try:
        ca = CertificateAuthority.init_dir(current_app.config["CA_DIR"], name)
    except CaError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"CA created in {current_app.config['CA_DIR']}\nsha256 {ca.fingerprint}")


def _load_ca() -> Any:
    from cloud.pki.ca import CaError, CertificateAuthority

    try:
        return CertificateAuthority.load(current_app.config["CA_DIR"])
    except CaError as e:
        raise click.ClickException(str(e)) from None


def _record(cert: Any, kind: str) -> None:
    from cloud.db import db
    from cloud.pki.registry import record_issued

    with db.transaction() as s:
        record_issued(s, cert, kind)


@_cli
@click.command("cloud-cert")
@click.option("--cn", default=None, help="Identity name (default: CLOUD_IDENTITY).")
@click.option("--days", default=825, show_default=True)
@with_appcontext
def cloud_cert(cn: str | None, days: int) -> None:
    """Issue the cloud identity (ingest, command senders) to CLOUD_CERT_FILE / CLOUD_KEY_FILE."""
    cfg = current_app.config
    ident = _load_ca().new_client_identity(cn or cfg["CLOUD_IDENTITY"], days)
    ident.write(Path(cfg["CLOUD_CERT_FILE"]), Path(cfg["CLOUD_KEY_FILE"]))
    _record(ident.cert, "cloud")
    click.echo(f"cloud identity {cn or cfg['CLOUD_IDENTITY']}: {cfg['CLOUD_CERT_FILE']}")


@_cli
@click.command("server-cert")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    help="Extra DNS name or IP (127.0.0.1 and localhost are always in).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--days", default=825, show_default=True)
@with_appcontext
def server_cert(hosts: tuple[str, ...], out: Path, days: int) -> None:
    """Issue a server certificate (the broker listener, or HTTPS for provisioning) into OUT."""
    ident = _load_ca().new_server_identity(hosts, days)
    ident.write(out / "server.crt", out / "server.key")
    _record(ident.cert, "server")
    click.echo(f"{out / 'server.crt'} (+ server.key)")


@_cli
@click.command("broker-config")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for mosquitto.conf, acl, data/.",
)
@click.option("--port", type=int, default=None, help="Listener port (default: BROKER_PORT).")
@click.option("--bind", default="0.0.0.0", show_default=True)
@click.option("--host", "hosts", multiple=True, help="Extra names for the server certificate.")
@click.option(
    "--user", "run_as", default=None, help="User mosquitto switches to when started as root."
)
@with_appcontext
def broker_config(
    out: Path, port: int | None, bind: str, hosts: tuple[str, ...], run_as: str | None
) -> None:
    """Render the Mosquitto config (TLS, client certs, ACL) with a server certificate, into OUT."""
    from cloud.broker import BrokerSettings, render_broker_config

    cfg = current_app.config
    ca = _load_ca()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "server.crt").exists():
        ident = ca.new_server_identity((cfg["BROKER_HOST"], *hosts))
        ident.write(out / "server.crt", out / "server.key")
        _record(ident.cert, "server")
    files = render_broker_config(
        out,
        BrokerSettings(
            port=port or cfg["BROKER_PORT"],
            bind=bind,
            ca_file=Path(cfg["BROKER_CA_FILE"]),
            cert_file=out / "server.crt",
            key_file=out / "server.key",
            cloud_identities=(cfg["CLOUD_IDENTITY"],),
            run_as=run_as,
        ),
    )
    click.echo(f"mosquitto -c {files.config}")


@_cli
@click.command("token")
@click.argument("sid")
@click.option("--ttl", default=None, type=int, help="Lifetime in seconds (default: TOKEN_TTL_S).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@with_appcontext
def token(sid: str, ttl: int | None, as_json: bool) -> None:
    """Create a one-time provisioning token for station SID."""
    from cloud.db import db
    from cloud.provisioning import create_token

    ca = _load_ca()
    try:
        with db.transaction() as s:
            new = create_token(s, sid, ttl or current_app.config["TOKEN_TTL_S"])
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    out = {
        "sid": new.sid,
        "token": new.token,
        "expires_at": new.expires_at,
        "ca_sha256": ca.fingerprint,
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(
            f"station   {new.sid}\ntoken     {new.token}\nexpires   {new.expires_at} (epoch ms)\nCA sha256 {ca.fingerprint}\n"
            f"on the gateway: jc-gateway provision -c /etc/juchong/station.toml --url https://<cloud>/ "
            f"--token {new.token} --ca-fingerprint {ca.fingerprint}"
        )


# --- processes --------------------------------------------------------------------------------------
@_cli
@click.command("ingest")
@click.option("--group", default=None, help="Shared-subscription group (default: INGEST_GROUP).")
@with_appcontext
def ingest(group: str | None) -> None:
    """Run an ingest process (several may run side by side: they share the subscription)."""
    from cloud.db import make_engine
    from cloud.ingest.worker import IngestSettings, IngestWorker

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = IngestSettings.from_config(current_app.config)
    if group:
        settings = IngestSettings(settings.mqtt, group, settings.batch_max, settings.batch_wait_s)
    engine = make_engine(current_app.config["DATABASE_URL"], purpose="writer")
    try:
        worker = IngestWorker(settings, engine)
    except FileNotFoundError as e:
        raise click.ClickException(str(e)) from None
    signal.signal(signal.SIGTERM, lambda *_: worker.stop())
    signal.signal(signal.SIGINT, lambda *_: worker.stop())
    click.echo(
        f"ingest: {settings.mqtt.host}:{settings.mqtt.port} group {settings.group}", err=True
    )
    sys.stderr.flush()
    worker.run()
    click.echo(f"ingest stopped: {worker.stats.summary()}", err=True)


@_cli
@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option(
    "--cert",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="TLS certificate (HTTPS).",
)
@click.option("--key", type=click.Path(exists=True, dir_okay=False), default=None, help="TLS key.")
@with_appcontext
def serve(host: str, port: int, cert: str | None, key: str | None) -> None:
    """Run the web app with Werkzeug's server (development and demos).

    Production: `gunicorn -w 4 'cloud:create_app()'` behind a TLS-terminating proxy.
    """
    from werkzeug.serving import run_simple

    if bool(cert) != bool(key):
        raise click.UsageError("--cert and --key go together")
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run_simple(host, port, app, threaded=True, ssl_context=(cert, key) if cert and key else None)
