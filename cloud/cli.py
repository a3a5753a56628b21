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
    from cloud.alarms.cli import alarms_group  # alarms
    from cloud.sharing.cli import sharing_group  # private pile sharing: pairing codes

    # --- charging: station archive and gun QR codes ---
    from cloud.stations.cli import gun_group, station_group
    from cloud.swap.cli import swap_group  # battery-swap stations
    from cloud.tariffs.cli import tariff_group

    for cmd in [*COMMANDS, tariff_group, station_group, gun_group, alarms_group, swap_group, sharing_group]:
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
    """The CA hierarchy in CA_DIR: root, station and server issuing CAs, cloud CA."""


def _pki() -> Any:
    from cloud.pki.hierarchy import Pki

    return Pki(current_app.config["CA_DIR"])


@ca_group.command("init")
@click.option("--name", default="Juchong", show_default=True, help="Prefix of the CA names.")
@with_appcontext
def ca_init(name: str) -> None:
    """Create the root, the issuing CAs and an empty CRL in CA_DIR (never replaces a root;
    over a CA_DIR with a root only, adds the issuing CAs)."""
    from cloud.pki.ca import CaError
    from cloud.pki.hierarchy import Pki

    try:
        pki = Pki.init(current_app.config["CA_DIR"], name)
    except CaError as e:
        raise click.ClickException(str(e)) from None
    click.echo(
        f"CA created in {pki.dir}\nsha256 {pki.root_fingerprint}\n"
        f"the root key {pki.dir / 'ca.key'} is needed only to rotate an issuing CA: keep it offline"
    )


@ca_group.command("rotate")
@click.argument("kind", type=click.Choice(["station", "server", "cloud"]))
@with_appcontext
def ca_rotate(kind: str) -> None:
    """Replace an issuing CA (station/server: needs the root key). The old one stays trusted
    until `jc-cloud ca retire KIND SERIAL`."""
    from cloud.pki.ca import CaError

    pki = _pki()
    try:
        old = pki.issuer(kind).serial
        new = pki.rotate(kind)
        with_db = _revoked_for_crl()
        pki.write_crl(with_db, Path(current_app.config["CRL_FILE"]))
    except CaError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{kind} issuing CA {new.serial} in use; {old} retired but still trusted")


@ca_group.command("retire")
@click.argument("kind", type=click.Choice(["station", "server", "cloud"]))
@click.argument("serial")
@with_appcontext
def ca_retire(kind: str, serial: str) -> None:
    """Stop trusting a rotated issuing CA: certificates it issued stop working."""
    from cloud.pki.ca import CaError

    pki = _pki()
    try:
        pki.retire(kind, serial)
        pki.write_crl(_revoked_for_crl(), Path(current_app.config["CRL_FILE"]))
    except CaError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"retired {kind} CA {serial}; re-render the broker config and reload it")


def _revoked_for_crl() -> list[tuple[str, int]]:
    from cloud.db import db
    from cloud.pki.revocation import revoked_station_serials

    with db.transaction() as s:
        return revoked_station_serials(s)


def _issuer(kind: str) -> Any:
    from cloud.pki.ca import CaError

    try:
        return _pki().issuer(kind)
    except CaError as e:
        raise click.ClickException(str(e)) from None


def _load_ca() -> Any:
    """The station issuing CA (kept for callers of the earlier single-CA layout)."""
    return _issuer("station")


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
    """Issue the cloud identity (ingest, command senders) from the cloud CA to CLOUD_CERT_FILE /
    CLOUD_KEY_FILE."""
    cfg = current_app.config
    ident = _issuer("cloud").new_client_identity(cn or cfg["CLOUD_IDENTITY"], days)
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
    """Issue a server certificate from the server issuing CA (the broker listener, or HTTPS for
    provisioning) into OUT: server.crt (with its issuing CA) and server.key."""
    ident = _issuer("server").new_server_identity(hosts, days)
    ident.write(out / "server.crt", out / "server.key")
    _record(ident.cert, "server")
    click.echo(f"{out / 'server.crt'} (+ server.key)")


@_cli
@click.command("broker-config")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for mosquitto.conf, dynamic-security.json, data/.",
)
@click.option("--port", type=int, default=None, help="Stations' listener (default: BROKER_PORT).")
@click.option("--cloud-port", type=int, default=None, help="Cloud listener (default: BROKER_CLOUD_PORT).")
@click.option("--bind", default="0.0.0.0", show_default=True)
@click.option("--cloud-bind", default="127.0.0.1", show_default=True,
              help="Address of the cloud listener (a private one).")
@click.option("--host", "hosts", multiple=True, help="Extra names for the server certificate.")
@click.option(
    "--user", "run_as", default=None, help="User mosquitto switches to when started as root."
)
@click.option("--fresh-acl", is_flag=True,
              help="Rewrite dynamic-security.json from the database (the broker must be stopped).")
@with_appcontext
def broker_config(
    out: Path, port: int | None, cloud_port: int | None, bind: str, cloud_bind: str,
    hosts: tuple[str, ...], run_as: str | None, fresh_acl: bool,
) -> None:
    """Render the Mosquitto config (TLS, client certs, CRL, access control) with a server
    certificate, into OUT."""
    from sqlalchemy import select

    from cloud.broker import BrokerSettings, render_broker_config
    from cloud.db import db
    from cloud.models import IssuedCert, now_ms

    cfg = current_app.config
    pki = _pki()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "server.crt").exists():
        ident = _issuer("server").new_server_identity((cfg["BROKER_HOST"], *hosts))
        ident.write(out / "server.crt", out / "server.key")
        _record(ident.cert, "server")
    crl = Path(cfg["CRL_FILE"])
    pki.write_crl(_revoked_for_crl(), crl)
    # Public certificates the broker reads (also on SIGHUP, as its own user): copies here, so
    # that CA_DIR (0700, the cloud's user) stays closed to it. Re-render after `ca rotate`.
    import shutil

    shutil.copyfile(pki.station_trust_file, out / "station-trust.pem")
    shutil.copyfile(pki.cloud_trust_file, out / "cloud-ca.crt")
    with db.transaction() as s:
        stations = tuple(s.scalars(
            select(IssuedCert.subject_cn).distinct().where(
                IssuedCert.kind == "station", IssuedCert.revoked_at.is_(None),
                IssuedCert.not_after > now_ms())))
    pid = cfg["BROKER_PID_FILE"] or str(out / "mosquitto.pid")
    try:
        files = render_broker_config(
            out,
            BrokerSettings(
                port=port or cfg["BROKER_PORT"],
                cloud_port=cloud_port or cfg["BROKER_CLOUD_PORT"],
                bind=bind,
                cloud_bind=cloud_bind,
                ca_file=out / "station-trust.pem",
                cloud_ca_file=out / "cloud-ca.crt",
                crl_file=crl,
                cert_file=out / "server.crt",
                key_file=out / "server.key",
                cloud_identities=(cfg["CLOUD_IDENTITY"],),
                stations=stations,
                pid_file=Path(pid),
                run_as=run_as,
            ),
            keep_dynsec=not fresh_acl,
        )
    except (FileNotFoundError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"mosquitto -c {files.config}")
    if crl.resolve().is_relative_to(Path(cfg["CA_DIR"]).resolve()) and run_as:
        click.echo(
            f"the broker runs as {run_as} and re-reads {crl} on SIGHUP, but CA_DIR is closed to it: "
            f"set CRL_FILE={out / 'crl.pem'} and render again (docs/cloud.md, Setting up)", err=True)
    if not cfg["BROKER_PID_FILE"]:
        click.echo(f"set BROKER_PID_FILE={pid} so that revocations reload the broker", err=True)


@_cli
@click.command("revoke")
@click.argument("sid", required=False)
@click.option("--serial", default=None, help="Revoke this one certificate (hex serial).")
@with_appcontext
def revoke_cmd(sid: str | None, serial: str | None) -> None:
    """Revoke station SID's certificates (or one by --serial): CRL re-signed, broker reloaded,
    the station disconnected; its signatures stop counting."""
    from cloud.broker.control import admin_connection, apply_revocation
    from cloud.broker.dynsec import BrokerAdminError
    from cloud.db import db
    from cloud.pki.revocation import KEY_COMPROMISE, publish_crl, revoke

    if (sid is None) == (serial is None):
        raise click.UsageError("name a station (SID) or --serial, not both")
    cfg = current_app.config
    with db.transaction() as s:
        done = revoke(s, sid=sid, serial=serial, reason=KEY_COMPROMISE)
    if not done.serials:
        raise click.ClickException(f"no valid certificate of {sid or serial} to revoke")
    with db.transaction() as s:
        crl = publish_crl(s, cfg)
    warnings: list[str] = []
    if cfg["BROKER_ACCESS_CONTROL"] == "mosquitto-dynsec":
        try:
            with admin_connection(cfg) as admin:
                warnings = apply_revocation(cfg, admin, kick=done.sids, remove=done.bare)
        except BrokerAdminError as e:
            warnings = apply_revocation(cfg, None, kick=done.sids, remove=done.bare)
            warnings.append(f"the broker could not be reached ({e}): run `jc-cloud revoke` "
                            "again or restart it to drop the station's connection")
    else:
        warnings = apply_revocation(cfg, None)
    click.echo(f"revoked {', '.join(done.serials)} ({', '.join(done.sids)}); CRL {crl}")
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


@_cli
@click.command("crl")
@with_appcontext
def crl_cmd() -> None:
    """Re-sign the station CRL from the database into CRL_FILE and reload the broker."""
    from cloud.broker.control import reload_broker
    from cloud.db import db
    from cloud.pki.revocation import publish_crl

    with db.transaction() as s:
        path = publish_crl(s, current_app.config)
    why = reload_broker(current_app.config["BROKER_PID_FILE"])
    click.echo(f"CRL {path}" + (f" (broker not reloaded: {why})" if why else "; broker reloaded"))


@_cli
@click.group("api-token")
def api_token_group() -> None:
    """API tokens for tools and the console (only their SHA-256 is stored)."""


@api_token_group.command("create")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def api_token_create(name: str, as_json: bool) -> None:
    """Create a token named NAME and print it (the only time it is shown)."""
    from cloud.api.auth import create_api_token
    from cloud.db import db

    try:
        with db.transaction() as s:
            new = create_api_token(s, name)
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps({"id": new.id, "name": new.name, "token": new.token}))
    else:
        click.echo(f"token {new.token}\n(id {new.id}, name {new.name}; send it as "
                   "`Authorization: Bearer <token>`; it is not shown again)")


@api_token_group.command("list")
@with_appcontext
def api_token_list() -> None:
    """Tokens with their state (never the tokens themselves)."""
    from sqlalchemy import select

    from cloud.db import db
    from cloud.models import ApiToken

    with db.transaction() as s:
        for row in s.scalars(select(ApiToken).order_by(ApiToken.id)):
            state = f"revoked {row.revoked_at}" if row.revoked_at else "live"
            click.echo(f"{row.id}\t{row.name}\tcreated {row.created_at}\t{state}")


@api_token_group.command("revoke")
@click.argument("which")
@with_appcontext
def api_token_revoke(which: str) -> None:
    """Revoke the live token(s) named WHICH, or with id WHICH."""
    from cloud.api.auth import revoke_api_token
    from cloud.db import db

    with db.transaction() as s:
        n = revoke_api_token(s, which)
    if n == 0:
        raise click.ClickException(f"no live API token {which!r}")
    click.echo(f"revoked {n} token(s)")


@_cli
@click.command("token")
@click.argument("sid")
@click.option("--ttl", default=None, type=int, help="Lifetime in seconds (default: TOKEN_TTL_S).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
@with_appcontext
def token(sid: str, ttl: int | None, as_json: bool) -> None:
    """Create a one-time provisioning token for station SID."""
    from cloud.db import db
    from cloud.pki.ca import CaError
    from cloud.provisioning import create_token

    try:
        root_sha256 = _pki().root_fingerprint
    except CaError as e:
        raise click.ClickException(str(e)) from None
    try:
        with db.transaction() as s:
            new = create_token(s, sid, ttl or current_app.config["TOKEN_TTL_S"])
    except ValueError as e:
        raise click.ClickException(str(e)) from None
    out = {
        "sid": new.sid,
        "token": new.token,
        "expires_at": new.expires_at,
        "ca_sha256": root_sha256,
    }
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(
            f"station   {new.sid}\ntoken     {new.token}\nexpires   {new.expires_at} (epoch ms)\nCA sha256 {root_sha256}\n"
            f"on the gateway: jc-gateway provision -c /etc/juchong/station.toml --url https://<cloud>/ "
            f"--token {new.token} --ca-fingerprint {root_sha256}"
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


# --- periodic jobs (cloud/jobs) --------------------------------------------------------------------
def _jobs_command() -> click.Command:
    from cloud.jobs.cli import jobs

    return jobs


_cli(_jobs_command())


# --- console: operators (docs/console.md) ----------------------------------------------------------
from cloud.operators.cli import operator_group  # noqa: E402

COMMANDS.append(operator_group)
