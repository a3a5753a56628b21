"""Operators and roles: list, create, change, set a password (area "operators": admins)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.db import db
from cloud.operators import service as operators
from cloud.operators.roles import ROLES
from cloud.web import access

bp = Blueprint("operators", __name__, url_prefix="/operators")


def _page_arg() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def _sids(raw: str | None) -> list[str]:
    return [p for p in (raw or "").replace(",", " ").split() if p]


@bp.get("/")
@access.requires("operators")
def index() -> Any:
    page = operators.listing(db.session, page=_page_arg())
    owned = operators.stations_of(db.session, page.operators)
    return render_template("console/operators/list.html", page=page, owned=owned, roles=ROLES)


@bp.route("/new", methods=["GET", "POST"])
@access.requires("operators")
def create() -> Any:
    error, form = None, request.form
    if request.method == "POST":
        try:
            with db.transaction() as s:
                operators.create(s, (form.get("login") or "").strip(), role=form.get("role") or "",
                                 password=form.get("password") or "", display_name=(form.get("display_name") or "").strip(),
                                 phone=(form.get("phone") or "").strip(), stations=_sids(form.get("stations")),
                                 actor=access.actor(), ip=access.client_ip())
        except operators.OperatorError as e:
            error = e
        else:
            return redirect(url_for("operators.index"), code=303)
    return render_template("console/operators/form.html", op=None, roles=ROLES, error=error, form=form,
                           stations=form.get("stations", "")), 400 if error else 200


@bp.route("/<int:operator_id>", methods=["GET", "POST"])
@access.requires("operators")
def edit(operator_id: int) -> Any:
    op = operators.get(db.session, operator_id)
    if op is None:
        abort(404)
    error, form = None, request.form
    if request.method == "POST":
        try:
            with db.transaction() as s:
                row = operators.get(s, operator_id)
                assert row is not None
                if row.id == access.current().id and (form.get("role") != row.role or not form.get("active")):
                    raise operators.OperatorError("self_lockout", "you cannot demote or deactivate yourself")
                operators.update_operator(s, row, role=form.get("role") or row.role,
                                          display_name=(form.get("display_name") or "").strip(),
                                          phone=(form.get("phone") or "").strip(), active=bool(form.get("active")),
                                          stations=_sids(form.get("stations")) if form.get("role") == "owner" else (),
                                          actor=access.actor(), ip=access.client_ip())
                if form.get("password"):
                    operators.set_password(s, row, form["password"], actor=access.actor(), ip=access.client_ip())
        except operators.OperatorError as e:
            error = e
        else:
            return redirect(url_for("operators.index"), code=303)
    stations = form.get("stations") if error else " ".join(operators.owned_sids(db.session, op))
    return render_template("console/operators/form.html", op=op, roles=ROLES, error=error, form=form,
                           stations=stations), 400 if error else 200


ERROR_TEXT = {
    "password_invalid": lambda: _("A password has 10 to 256 characters, at least 4 of them different."),
    "login_invalid": lambda: _("A login name has 2 to 64 letters, digits, '_', '.' or '-'."),
    "login_taken": lambda: _("That login name is taken."),
    "role_invalid": lambda: _("Choose a role."),
    "phone_invalid": lambda: _("A phone number has 5 to 20 digits."),
    "display_name_invalid": lambda: _("A display name has at most 64 characters."),
    "stations_for_owner_only": lambda: _("Only a station owner is given stations."),
    "station_unknown": lambda: _("No such station."),
    "self_lockout": lambda: _("You cannot demote or deactivate yourself."),
}


@bp.app_template_filter("operator_error")
def operator_error(e: operators.OperatorError) -> str:
    text = ERROR_TEXT.get(e.code)
    return text() if text else str(e)
