"""`jc-cloud station …` and `jc-cloud gun …`: the station archive drivers see, and the guns'
QR codes to print and stick on the piles."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from cloud.stations import service


@click.group("station")
def station_group() -> None:
    """The station archive: name, address, GCJ-02 coordinates; the guns' QR codes."""


@station_group.command("set")
@click.argument("sid")
@click.option("--name", default=None)
@click.option("--lat", type=float, default=None, help="GCJ-02 latitude (as WeChat's map gives it).")
@click.option("--lng", type=float, default=None, help="GCJ-02 longitude.")
@click.option("--address", default=None)
@click.option("--city", default=None)
@click.option("--phone", default=None)
@click.option("--open-hours", default=None, help='e.g. "00:00-24:00"')
@with_appcontext
def station_set(sid: str, name: str | None, lat: float | None, lng: float | None, address: str | None,
                city: str | None, phone: str | None, open_hours: str | None) -> None:
    """Change station SID's archive (only the options given change)."""
    from cloud.db import db

    try:
        with db.transaction() as s:
            st = service.set_station(s, sid, name=name, lat=lat, lng=lng, address=address, city=city,
                                     phone=phone, open_hours=open_hours)
            click.echo(f"{st.sid}\t{st.name or ''}\t{st.lat},{st.lng}\t{st.address or ''}")
    except service.StationArchiveError as e:
        raise click.ClickException(str(e)) from None


@station_group.command("qr")
@click.argument("sid")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["png", "svg"]), default="png", show_default=True)
@click.option("--base-url", default=None,
              help="Public base URL of the H5 app (default: PUBLIC_BASE_URL); without one, the bare code.")
@with_appcontext
def station_qr(sid: str, out: Path, fmt: str, base_url: str | None) -> None:
    """Write one QR code per gun of SID with a code into OUT (<sid>_<gun>.<format>)."""
    import segno
    from sqlalchemy import select

    from cloud.db import db
    from cloud.models import Gun

    base = base_url or current_app.config.get("PUBLIC_BASE_URL")
    with db.transaction() as s:
        guns = list(s.scalars(select(Gun).where(Gun.sid == sid, Gun.code.is_not(None)).order_by(Gun.gun_id)))
    if not guns:
        raise click.ClickException(f"station {sid!r} has no gun with a code: jc-cloud gun set {sid} GUN --code …")
    out.mkdir(parents=True, exist_ok=True)
    for g in guns:
        assert g.code is not None
        content = service.qr_content(g.code, base)
        path = out / f"{sid}_{g.gun_id}.{fmt}"
        # error level M survives a scuffed sticker; a 4-module quiet zone as the standard asks
        segno.make(content, error="m").save(str(path), scale=10, border=4)
        click.echo(f"{path}\t{content}")


@click.group("gun")
def gun_group() -> None:
    """Guns' archive: QR code value, name, rated power, kind."""


@gun_group.command("set")
@click.argument("sid")
@click.argument("gun")
@click.option("--code", default=None, help="The QR code's value (unique over all guns).")
@click.option("--rated-power-w", type=int, default=None)
@click.option("--name", default=None)
@click.option("--kind", type=click.Choice(service.GUN_KINDS), default=None)
@with_appcontext
def gun_set(sid: str, gun: str, code: str | None, rated_power_w: int | None, name: str | None,
            kind: str | None) -> None:
    """Change gun GUN (e.g. P1-1) of station SID."""
    from cloud.db import db

    try:
        with db.transaction() as s:
            g = service.set_gun(s, sid, gun, code=code, rated_power_w=rated_power_w, name=name, kind=kind)
            click.echo(f"{g.sid}\t{g.gun_id}\t{g.code or ''}\t{g.rated_power_w or ''}\t{g.name or ''}")
    except service.StationArchiveError as e:
        raise click.ClickException(str(e)) from None
