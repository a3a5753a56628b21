"""`jc-cloud sharing …`: private pile sharing from the command line (docs/sharing.md). A
pairing code issued here is audited as actor `cli`; the code is printed once and never stored."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from cloud.sharing import pairing
from cloud.sharing.service import SharingError

ACTOR = "cli"


@click.group("sharing")
def sharing_group() -> None:
    """Private pile sharing: pairing codes for owners."""


@sharing_group.command("pairing-code")
@click.argument("sid")
@click.argument("gun")
@click.option(
    "--hours",
    type=click.IntRange(1, 24 * 7),
    default=24,
    show_default=True,
    help="How long the code stays valid.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {code, sid, gun, expires_at} as JSON.")
@with_appcontext
def pairing_code(sid: str, gun: str, hours: int, as_json: bool) -> None:
    """A one-time code for the owner of gun GUN at station SID to register it as their shared
    pile (older live codes of the gun become void)."""
    from cloud.audit import service as audit
    from cloud.db import db

    try:
        with db.transaction() as s:
            code, expires_at = pairing.issue(s, sid, gun, issued_by=ACTOR, ttl_ms=hours * 3_600_000)
            audit.record(
                s, ACTOR, "sharing.pairing_code", f"gun:{sid}/{gun}", {"expires_at": expires_at}
            )
    except SharingError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps({"code": code, "sid": sid, "gun": gun, "expires_at": expires_at}))
    else:
        click.echo(f"{code}  ({sid}/{gun}, valid for {hours} h)")
