"""`jc-cloud operator …`: create operators, set their passwords, list them."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from cloud.operators import service
from cloud.operators.roles import ROLES


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


@click.group("operator")
def operator_group() -> None:
    """Console operators: accounts, roles and passwords (docs/console.md)."""


@operator_group.command("create")
@click.argument("login")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", "display_name", default=None, help="Display name.")
@click.option("--phone", default=None)
@click.option("--station", "stations", multiple=True, help="A station an owner owns (repeat).")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_appcontext
def create_cmd(login: str, role: str, display_name: str | None, phone: str | None, stations: tuple[str, ...],
               password_stdin: bool) -> None:
    """Create operator LOGIN with a role (the password is asked for, or read from stdin)."""
    from cloud.db import db

    password = _read_password(password_stdin)
    try:
        with db.transaction() as s:
            op = service.create(s, login, role=role, password=password, display_name=display_name, phone=phone,
                                stations=stations, actor="cli")
            click.echo(f"operator {op.login} ({op.role}) created")
    except service.OperatorError as e:
        raise click.ClickException(str(e)) from None


@operator_group.command("passwd")
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@with_appcontext
def passwd_cmd(login: str, password_stdin: bool) -> None:
    """Set LOGIN's password: its console sessions end and a lockout is lifted."""
    from cloud.db import db

    password = _read_password(password_stdin)
    try:
        with db.transaction() as s:
            op = service.by_login(s, login)
            if op is None:
                raise click.ClickException(f"no operator named {login!r}")
            service.set_password(s, op, password, actor="cli")
    except service.OperatorError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"password of {login} set; its sessions ended")


@operator_group.command("list")
@with_appcontext
def list_cmd() -> None:
    """All operators: login, role, active, locked, stations (owners)."""
    from cloud.db import db
    from cloud.models.base import now_ms

    s = db.session
    page, n = 1, 0
    while True:
        rows = service.listing(s, page=page, per_page=200)
        owned = service.stations_of(s, rows.operators)
        for op in rows.operators:
            flags = ["active" if op.active else "inactive"]
            if op.locked_until and op.locked_until > now_ms():
                flags.append("locked")
            click.echo("\t".join([op.login, op.role, ",".join(flags), op.display_name or "", " ".join(owned[op.id])]))
            n += 1
        if page >= rows.pages:
            break
        page += 1
    if n == 0:
        click.echo("no operators: jc-cloud operator create NAME --role admin")
