"""Settlement with station owners (area "settlement"): the days (periods) with their totals,
a day's statement per station and fee type, an owner's statement, closing a day, the shares
per station, statements exported as CSV or Excel, and owner payouts (a closed day's share
made payable in the ledger, then paid by bank transfer with its reference). Finance and
admins change; an owner reads its own stations' statements and its own payouts
(access.scope())."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale

from cloud.db import db
from cloud.reports.export import csv_stream, xlsx_stream
from cloud.settlement import export as statements
from cloud.settlement import payouts
from cloud.settlement import service as settlement
from cloud.settlement.split import FEES
from cloud.web import access

bp = Blueprint("settlement", __name__, url_prefix="/settlement")
DAYS = 31


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def message(e: settlement.SettlementError) -> str:
    zh, en = {**settlement.MESSAGES, **payouts.MESSAGES}.get(e.code, (str(e), str(e)))
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
        payout = None
        if picked is not None:
            payout = next(iter(payouts.payouts(s, owner_id=picked["id"], day=d.isoformat())), None)
    ended = settlement.day_end_ms(d, _tz()) <= access.clock()
    return render_template("console/settlement/statement.html", st=st, fees=FEES, owners=owners, picked=picked,
                           ended=ended, payout=payout, error=request.args.get("error"))


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


# --- exports -------------------------------------------------------------------------------------
def _days() -> tuple[date, date]:
    """?from=&to= (local days, inclusive; default the last 31 days); 400 when not dates or
    more than a year."""
    today = settlement.local_day(access.clock(), _tz())
    try:
        last = settlement.parse_day(request.args.get("to") or today.isoformat())
        first = settlement.parse_day(request.args.get("from") or (last - timedelta(days=DAYS - 1)).isoformat())
    except settlement.SettlementError:
        abort(400)
    if first > last or (last - first).days >= statements.MAX_DAYS:
        abort(400)
    return first, last


def _export(kind: str) -> Any:
    first, last = _days()
    lang = "en" if str(get_locale()).startswith("en") else "zh"
    tz = _tz()
    with db.transaction() as s:
        settlement.take_in(s, tz)
    sids, _owners, picked = _scope(db.session)
    rows = statements.statement_rows(db.session, first, last, sids, tz, lang)
    name = f"statements-{first.isoformat()}-{last.isoformat()}" + (f"-owner{picked['id']}" if picked else "")
    if kind == "csv":
        body: Iterator[Any] = csv_stream(statements.STATEMENT_COLUMNS, rows, lang)
        mimetype = "text/csv; charset=utf-8"
    else:
        body = xlsx_stream(statements.STATEMENT_COLUMNS, rows, lang, sheet="statements")
        mimetype = XLSX
    return Response(stream_with_context(body), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


@bp.get("/statements.csv")
@access.requires("settlement")
def export_csv() -> Any:
    return _export("csv")


@bp.get("/statements.xlsx")
@access.requires("settlement")
def export_xlsx() -> Any:
    return _export("xlsx")


# --- payouts -------------------------------------------------------------------------------------
@bp.get("/payouts")
@access.requires("settlement")
def payout_list() -> Any:
    """Finance and admins: every payout (or one owner's); an owner: its own only."""
    if access.scope() is None:
        owners = settlement.owners(db.session)
        picked = next((o for o in owners if str(o["id"]) == request.args.get("owner")), None)
        rows = payouts.payouts(db.session, owner_id=picked["id"] if picked else None)
    else:
        owners, picked = [], None
        rows = payouts.payouts(db.session, owner_id=access.current().id)
    return render_template("console/settlement/payouts.html", rows=rows, owners=owners, picked=picked,
                           error=request.args.get("error"))


@bp.post("/<day>/payable")
@access.requires("settlement")
def payable(day: str) -> Any:
    owner = request.form.get("owner")
    try:
        with db.transaction() as s:
            payouts.make_payable(s, day, owner, actor=access.actor(), ip=access.client_ip())
    except settlement.SettlementError as e:
        if e.code == "bad_day":
            abort(404)
        return redirect(url_for("settlement.statement", day=day, owner=owner, error=message(e)), code=303)
    return redirect(url_for("settlement.statement", day=day, owner=owner), code=303)


@bp.post("/payouts/<int:payout_id>/paid")
@access.requires("settlement")
def paid(payout_id: int) -> Any:
    try:
        with db.transaction() as s:
            payouts.mark_paid(s, payout_id, reference=request.form.get("reference"), actor=access.actor(),
                              ip=access.client_ip())
    except settlement.SettlementError as e:
        if e.code == "payout_not_found":
            abort(404)
        return redirect(url_for("settlement.payout_list", error=message(e)), code=303)
    return redirect(url_for("settlement.payout_list"), code=303)
