"""`jc-cloud tariff …`: create versions, assign them to stations, list them. Each change is
in the audit log under the actor "cli", as the console's are under the operator's login."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from cloud.audit import service as audit
from cloud.tariffs import service


def _when(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("an ISO time like 2026-12-01T00:00+08:00") from None
    if t.tzinfo is None:
        raise click.BadParameter("give the UTC offset, e.g. 2026-12-01T00:00+08:00")
    return int(t.timestamp() * 1000)


@click.group("tariff")
def tariff_group() -> None:
    """Tariffs: immutable versions and which one each station uses from when."""


@tariff_group.command("create")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", required=True, help="The tariff's code; each create adds a version.")
@click.option("--name", default=None)
@with_appcontext
def create_cmd(file: Path, code: str, name: str | None) -> None:
    """Store FILE (a tariff object, JSON; optional "reservation": {"fee_e4", "per_minute_e4"},
    the version's reservation fee) as the next version of CODE."""
    from cloud.db import db

    try:
        body = json.loads(file.read_text(encoding="utf-8"))
        with db.transaction() as s:
            row = service.create(s, body, code=code, name=name, created_by="cli")
            audit.record(s, "cli", "tariff.create", f"tariff:{row.tariff_id}",
                         {"body": row.body, "name": row.name, "reservation": service.reservation_of(row)})
            click.echo(row.tariff_id)
    except (ValueError, service.TariffServiceError) as e:
        raise click.ClickException(str(e)) from None


@tariff_group.command("assign")
@click.argument("sid")
@click.argument("tariff_id")
@click.option("--from", "start", default=None, help="ISO time with offset, now or in the future; default now.")
@click.option("--backdate", is_flag=True,
              help="Take a --from in the past: only for a station's first tariff (nothing billed yet to rewrite).")
@with_appcontext
def assign_cmd(sid: str, tariff_id: str, start: str | None, backdate: bool) -> None:
    """From --from on, station SID charges with TARIFF_ID (`jc-cloud jobs` pushes it). A
    --from in the past is refused, unless --backdate and SID has no tariff assigned yet."""
    from cloud.db import db

    try:
        with db.transaction() as s:
            if backdate and service.schedule(s, sid, with_cancelled=True):
                raise click.ClickException(f"--backdate: station {sid} has a tariff already; a start in the "
                                           "past would rewrite its history")
            row = service.assign(s, sid, tariff_id, effective_from=_when(start), backdate=backdate)
            audit.record(s, "cli", "tariff.assign", f"station:{sid}",
                         {"tariff_id": tariff_id, "effective_from": row.effective_from})
            click.echo(f"{row.sid}: {row.tariff_id} from {row.effective_from}")
    except service.TariffServiceError as e:
        raise click.ClickException(str(e)) from None


@tariff_group.command("list")
@click.option("--sid", default=None, help="A station's schedule instead of all versions.")
@with_appcontext
def list_cmd(sid: str | None) -> None:
    from cloud.db import db

    with db.transaction() as s:
        if sid:
            for a in service.schedule(s, sid, with_cancelled=True):
                pushed = f"pushed {a.pushed_at}" if a.pushed_at else "not pushed"
                if a.cancelled:
                    pushed += f", cancelled {a.cancelled_at} by {a.cancelled_by or '?'}"
                click.echo(f"{a.effective_from}\t{a.tariff_id}\t{pushed}")
        else:
            for v in service.versions(s):
                click.echo(f"{v.tariff_id}\t{v.name or ''}\t{json.dumps(v.body, ensure_ascii=False)}")
