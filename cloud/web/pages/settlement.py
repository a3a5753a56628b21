"""Settlement with station owners (area "settlement"): the days (periods) with their totals,
a day's statement per station and fee type, an owner's statement, closing a day, the shares
per station. Finance and admins change; an owner reads its own stations' statements
(access.scope())."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale

from cloud.db import db
from cloud.settlement import service as settlement
from cloud.settlement.split import FEES
from cloud.web import access

bp = Blueprint("settlement", __name__, url_prefix="/settlement")
DAYS = 31


def message(e: settlement.SettlementError) -> str:
    zh, en = settlement.MESSAGES.get(e.code, (str(e), str(e)))
    return en if str(get_locale()).startswith("en") else zh


def _tz() -> str:
    return str(current_app.config["CONSOLE_TIMEZONE"])


def _scope(s: Any) -> tuple[set[str] | None, list[dict[str, Any]], dict[str, Any] | None]:
    """The stations this statement covers: an owner's own; for finance and admins all, or one
    owner's when `?owner=<id>` picks one."""
    sids = access.scope()
    if sids is not None:
        return sids, [], None
    owners = settlement.owners(s)
    picked = next((o for o in owners if str(o["id"]) == request.args.get("owner")), None)
    return (picked["sids"] if picked else None), owners, picked


@bp.get("/")
@access.requires("settlement")
def index() -> Any:
    tz = _tz()
    today = settlement.local_day(access.clock(), tz)
    with db.transaction() as s:
        settlement.take_in(s, tz)
        sids, owners, picked = _scope(s)
        rows = settlement.periods(s, today - timedelta(days=DAYS - 1), today, sids)
    return render_template("console/settlement/list.html", rows=rows, owners=owners, picked=picked, today=today.isoformat())


@bp.get("/<day>")
@access.requires("settlement")
def statement(day: str) -> Any:
    try:
        d = settlement.parse_day(day)
    except settlement.SettlementError:
        abort(404)
    with db.transaction() as s:
        settlement.take_in(s, _tz())
        sids, owners, picked = _scope(s)
        st = settlement.statement(s, d, sids, _tz())
    ended = settlement.day_end_ms(d, _tz()) <= access.clock()
    return render_template("console/settlement/statement.html", st=st, fees=FEES, owners=owners, picked=picked,
                           ended=ended, error=request.args.get("error"))


@bp.post("/<day>/close")
@access.requires("settlement")
def close(day: str) -> Any:
    try:
        with db.transaction() as s:
            settlement.close(s, day, actor=access.actor(), tz=_tz(), now=access.clock(), ip=access.client_ip())
    except settlement.SettlementError as e:
        if e.code == "bad_day":
            abort(404)
        return redirect(url_for("settlement.statement", day=day, error=message(e)), code=303)
    return redirect(url_for("settlement.statement", day=day), code=303)


@bp.route("/shares", methods=["GET", "POST"])
@access.requires("settlement")
def shares() -> Any:
    error, form = None, request.form
    if request.method == "POST":
        sid = (form.get("sid") or "").strip()[:64]
        try:
            with db.transaction() as s:
                settlement.set_share(s, sid, electricity_bp=form.get("electricity_bp"), service_bp=form.get("service_bp"),
                                     idle_bp=form.get("idle_bp"), commission_bp=form.get("commission_bp"),
                                     effective_day=form.get("effective_day"), actor=access.actor(), ip=access.client_ip())
        except settlement.SettlementError as e:
            error = message(e)
        else:
            return redirect(url_for("settlement.shares"), code=303)
    rows = settlement.shares(db.session, access.scope())
    tomorrow = (settlement.local_day(access.clock(), _tz()) + timedelta(days=1)).isoformat()
    return render_template("console/settlement/shares.html", rows=rows, error=error, form=form, fees=FEES,
                           tomorrow=tomorrow), 400 if error else 200
