"""Tariffs (电价): every version (never edited: a change is a new version), time-of-use
periods 尖峰平谷 with prices to 0.0001 CNY, idle fee, reservation fee (预约费: per reservation and
per minute reserved, to 0.0001 CNY; a cloud-side charge, not sent to the gateway); assignments to stations, the future ones
being the scheduled price changes (调价任务) that `jc-cloud jobs` sends to the gateway ahead
of their time. Each shows whether the gateway acknowledged it; a future one can be cancelled
(kept, marked, withdrawn from the gateway by the same job)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l

from cloud.audit import service as audit
from cloud.db import db, take_write_lock
from cloud.tariffs import service as tariffs
from cloud.tariffs.models import StationTariff
from cloud.web import access

bp = Blueprint("tariffs", __name__, url_prefix="/tariffs")
PERIOD_LABELS = {"sharp": _l("Sharp (尖)"), "peak": _l("Peak (峰)"), "flat": _l("Flat (平)"),
                 "valley": _l("Valley (谷)")}
ROWS = 6  # period rows on the form


def page_arg(name: str = "page") -> int:
    try:
        return max(1, int(request.args.get(name, "1")))
    except ValueError:
        return 1


@bp.get("/")
@access.requires("tariffs")
def index() -> Any:
    sids = access.scope()
    versions = tariffs.version_page(db.session, page=page_arg())
    assigned = tariffs.assignment_page(db.session, sids=sids, page=page_arg("apage"))
    scheduled = tariffs.assignment_page(db.session, sids=sids, scheduled_after=access.clock(), per=200)
    return render_template("console/tariffs/index.html", versions=versions, assigned=assigned,
                           scheduled=scheduled, labels=PERIOD_LABELS, now=access.clock(),
                           error=request.args.get("error"), cancel_errors=CANCEL_ERRORS)


CANCEL_ERRORS = {"unknown_assignment": _l("No such scheduled change."),
                 "cancelled": _l("This scheduled change is cancelled already."),
                 "history": _l("This change is in force already: it cannot be cancelled; assign another "
                               "tariff from a subsequent time.")}


@bp.post("/assignments/<int:assignment_id>/cancel")
@access.requires("tariffs")
def cancel(assignment_id: int) -> Any:
    """Cancel a scheduled price change before its time (audited); the gateway is told by the
    push job (`cancel_tariff`) if it had been sent the change."""
    scope = access.scope()
    try:
        with db.transaction() as s:
            take_write_lock(s)
            row = s.get(StationTariff, assignment_id)
            if row is None or (scope is not None and row.sid not in scope):
                raise tariffs.TariffServiceError("unknown_assignment", "no such scheduled change")
            row = tariffs.cancel(s, assignment_id, by=access.actor(), now=access.clock())
            audit.record(s, access.actor(), "tariff.cancel", f"station:{row.sid}",
                         {"tariff_id": row.tariff_id, "effective_from": row.effective_from,
                          "assignment_id": row.id, "pushed_at": row.pushed_at}, ip=access.client_ip())
    except tariffs.TariffServiceError as e:
        return redirect(url_for("tariffs.index", error=e.code), code=303)
    return redirect(url_for("tariffs.index"), code=303)


def _body(form: Any) -> dict[str, Any]:
    periods = []
    for i in range(ROWS):
        start, end = (form.get(f"start{i}") or "").strip(), (form.get(f"end{i}") or "").strip()
        if not start and not end:
            continue
        name = form.get(f"name{i}") or ""
        if name not in tariffs.PERIOD_NAMES:
            raise tariffs.TariffServiceError("invalid_period", f"period {i + 1}: choose sharp, peak, flat or valley")
        periods.append({"start": start, "end": end, "name": name,
                        "energy_price_e4": tariffs.price_e4(form.get(f"energy{i}") or ""),
                        "service_price_e4": tariffs.price_e4(form.get(f"service{i}") or "")})
    body: dict[str, Any] = {"currency": "CNY", "tz": current_app.config["CONSOLE_TIMEZONE"], "periods": periods}
    if (form.get("idle_step_min") or "").strip():
        try:
            body["idle"] = {k: int(form.get(f"idle_{k}") or "") for k in ("grace_min", "step_min", "fen_per_step", "cap_fen")}
        except ValueError as exc:
            raise tariffs.TariffServiceError("invalid_idle", "idle fee: whole numbers") from exc
    reservation = {}
    for key, field in (("fee_e4", "reservation_fee"), ("per_minute_e4", "reservation_per_minute")):
        text = (form.get(field) or "").strip()
        try:
            reservation[key] = tariffs.price_e4(text) if text else 0
        except tariffs.TariffServiceError as exc:
            raise tariffs.TariffServiceError(
                "invalid_reservation_fee", f"reservation fee {text!r}: CNY with at most 4 decimals") from exc
    body["reservation"] = reservation
    return body


@bp.route("/new", methods=["GET", "POST"])
@access.requires("tariffs")
def create() -> Any:
    error, form = None, request.form
    base = None
    if request.method == "GET" and request.args.get("from"):
        base = tariffs.get(db.session, request.args["from"])
    if request.method == "POST":
        try:
            with db.transaction() as s:
                row = tariffs.create(s, _body(form), code=(form.get("code") or "").strip(),
                                     name=(form.get("name") or "").strip()[:128] or None, created_by=access.actor())
                audit.record(s, access.actor(), "tariff.create", f"tariff:{row.tariff_id}",
                             {"body": row.body, "name": row.name, "reservation": tariffs.reservation_of(row)},
                             ip=access.client_ip())
        except tariffs.TariffServiceError as e:
            error = e
        else:
            return redirect(url_for("tariffs.index"), code=303)
    return render_template("console/tariffs/form.html", form=form, base=base, error=error, rows=ROWS,
                           labels=PERIOD_LABELS), 400 if error else 200


def parse_local(text: str) -> int:
    """'2026-12-03T08:00' in the stations' zone -> epoch ms."""
    zone = ZoneInfo(current_app.config["CONSOLE_TIMEZONE"])
    return int(datetime.fromisoformat(text).replace(tzinfo=zone).timestamp() * 1000)


ASSIGN_ERRORS = {"in_the_past": _l("The effective time is in the past: a price change cannot rewrite history. "
                                    "Give a time from now on, or leave it empty for now.")}


@bp.route("/assign", methods=["GET", "POST"])
@access.requires("tariffs")
def assign() -> Any:
    error, form = None, request.form
    if request.method == "POST":
        try:
            sid, tid = (form.get("sid") or "").strip(), (form.get("tariff_id") or "").strip()
            when = (form.get("effective_from") or "").strip()
            try:
                at = parse_local(when) if when else None
            except ValueError as exc:
                raise tariffs.TariffServiceError("invalid_time", "effective from: a date and time") from exc
            scope = access.scope()
            if scope is not None and sid not in scope:
                raise tariffs.TariffServiceError("unknown_station", f"no station {sid!r}")
            with db.transaction() as s:
                row = tariffs.assign(s, sid, tid, effective_from=at)
                audit.record(s, access.actor(), "tariff.assign", f"station:{sid}",
                             {"tariff_id": tid, "effective_from": row.effective_from}, ip=access.client_ip())
        except tariffs.TariffServiceError as e:
            error = ASSIGN_ERRORS.get(e.code, e)
        else:
            return redirect(url_for("tariffs.index"), code=303)
    versions = tariffs.version_page(db.session, per=200).rows
    return render_template("console/tariffs/assign.html", form=form, error=error, versions=versions), 400 if error else 200
