"""`jc-cloud swap …`: battery-swap stations from the command line (no swap-station device
protocol exists, so operators report bays and stock here or in the console). Each change is
audited as actor `cli`."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from cloud.drivers.errors import InvalidField
from cloud.swap import service
from cloud.swap.service import SwapError

ACTOR = "cli"


def _run(action) -> None:  # type: ignore[no-untyped-def]
    from cloud.db import db

    try:
        with db.transaction() as s:
            action(s)
    except InvalidField as e:
        raise click.ClickException(f"{e.facts.get('field')}: {e.detail}") from None
    except (SwapError, LookupError) as e:
        raise click.ClickException(str(e)) from None


@click.group("swap")
def swap_group() -> None:
    """Battery-swap stations: the station, bays, pack types, packs, bookings."""


@swap_group.command("station")
@click.argument("sid")
@click.option("--slot-minutes", type=int, default=10, show_default=True)
@with_appcontext
def station(sid: str, slot_minutes: int) -> None:
    """Make archived station SID a battery-swap station."""
    _run(lambda s: service.set_swap_station(s, sid, slot_minutes=slot_minutes, actor=ACTOR))


@swap_group.command("bay")
@click.argument("sid")
@click.argument("bay_id")
@click.argument("state", type=click.Choice(["free", "swapping", "maintenance"]))
@with_appcontext
def bay(sid: str, bay_id: str, state: str) -> None:
    """Add a bay or set its state."""
    _run(lambda s: service.set_bay(s, sid, bay_id, state, actor=ACTOR))


@swap_group.command("pack-type")
@click.argument("type_code")
@click.option("--name", required=True)
@click.option("--kwh", type=int, required=True)
@click.option("--charge-minutes", type=int, default=60, show_default=True)
@with_appcontext
def pack_type(type_code: str, name: str, kwh: int, charge_minutes: int) -> None:
    """Add or change a pack type."""
    _run(lambda s: service.set_pack_type(s, type_code, name=name, kwh=kwh, charge_minutes=charge_minutes,
                                         actor=ACTOR))


@swap_group.command("pack")
@click.argument("sid")
@click.argument("pack_id")
@click.option("--type", "type_code", required=True)
@click.option("--state", type=click.Choice(["charging", "ready", "out"]), required=True)
@click.option("--soc", type=int, default=100, show_default=True)
@click.option("--ready-in", type=int, default=None, help="minutes until ready (charging)")
@with_appcontext
def pack(sid: str, pack_id: str, type_code: str, state: str, soc: int, ready_in: int | None) -> None:
    """Add a pack to SID's stock or change it."""
    from cloud.models import now_ms

    ready_at = now_ms() + ready_in * 60_000 if ready_in is not None else None
    _run(lambda s: service.set_pack(s, sid, pack_id, type_code=type_code, state=state, soc_pct=soc,
                                    ready_at=ready_at, actor=ACTOR))


@swap_group.command("used")
@click.argument("booking_id")
@click.option("--bay", "bay_id", default=None)
@with_appcontext
def used(booking_id: str, bay_id: str | None) -> None:
    """The booking's swap is done."""
    from cloud.db import db

    try:
        view = service.mark_used(db.transaction, booking_id, bay_id=bay_id, actor=ACTOR)
    except (InvalidField, SwapError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(view, ensure_ascii=False))


@swap_group.command("show")
@click.argument("sid")
@with_appcontext
def show(sid: str) -> None:
    """SID's bays, packs and latest bookings as JSON."""
    from cloud.db import db

    try:
        view = service.console_view(db.session, sid)
    except SwapError as e:
        raise click.ClickException(str(e)) from None
    click.echo(json.dumps(view, ensure_ascii=False, indent=1))
