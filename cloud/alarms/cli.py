"""`jc-cloud alarms …`: run the sweep (once or every N seconds), manage SMS recipients."""

from __future__ import annotations

import time

import click
from flask import current_app
from flask.cli import with_appcontext

from cloud.alarms import jobs, service


@click.group("alarms")
def alarms_group() -> None:
    """Alarms: the periodic sweep and who is told by SMS."""


@alarms_group.command("sweep")
@click.option("--every", type=float, default=None, help="Run again every this many seconds (until stopped).")
@with_appcontext
def sweep_cmd(every: float | None) -> None:
    """Sweep gateway alarms and offline stations, queue and send SMS notifications."""
    from sqlalchemy.orm import Session

    from cloud.db import db

    while True:
        with Session(db.engine) as s:
            out = jobs.run(s, int(time.time() * 1000), current_app.config)
        click.echo(" ".join(f"{k}={v}" for k, v in out.items()))
        if every is None:
            return
        time.sleep(max(1.0, every))


@alarms_group.command("recipient-add")
@click.argument("sid")
@click.argument("phone")
@click.option("--name", default=None)
@with_appcontext
def recipient_add(sid: str, phone: str, name: str | None) -> None:
    """Tell PHONE by SMS of station SID's alarms."""
    from cloud.db import db

    try:
        with db.transaction() as s:
            row = service.add_recipient(s, sid, phone, name)
    except service.AlarmError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{row['sid']} {row['phone']}")


@alarms_group.command("recipient-remove")
@click.argument("sid")
@click.argument("phone")
@with_appcontext
def recipient_remove(sid: str, phone: str) -> None:
    """Stop telling PHONE of station SID's alarms."""
    from cloud.db import db

    try:
        with db.transaction() as s:
            gone = service.remove_recipient(s, sid, phone)
    except service.AlarmError as e:
        raise click.ClickException(str(e)) from None
    click.echo("removed" if gone else "not a recipient")


@alarms_group.command("recipients")
@click.argument("sid")
@with_appcontext
def recipients_cmd(sid: str) -> None:
    """List who is told of station SID's alarms."""
    from cloud.db import db

    with db.transaction() as s:
        for r in service.recipients(s, sid):
            click.echo(f"{r['phone']}\t{r['name'] or ''}\t{'on' if r['enabled'] else 'off'}")
