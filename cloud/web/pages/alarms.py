"""Alarms (area "alarms"): active and past alarms with raise and clear times, filters and
pages; one alarm with its evidence; acknowledge with a note (the service audits it); the SMS
recipients of a station. Over cloud/alarms/service.py, owner-scoped by access.scope()."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import get_locale

from cloud.alarms import service as alarms
from cloud.alarms.rules import KIND_SEVERITY, SEVERITIES
from cloud.db import db
from cloud.models import Station
from cloud.web import access

bp = Blueprint("alarms", __name__, url_prefix="/alarms")
PER_PAGE = 50


def message(e: alarms.AlarmError) -> str:
    zh, en = alarms.MESSAGES.get(e.code, (str(e), str(e)))
    return en if str(get_locale()).startswith("en") else zh


def _filters() -> dict[str, Any]:
    a = request.args
    state = a.get("state") if a.get("state") in ("active", "past", "all") else "active"
    ack = {"yes": True, "no": False}.get(a.get("ack") or "")
    return {"state": state, "sid": (a.get("sid") or "").strip()[:64] or None,
            "kind": a.get("kind") if a.get("kind") in KIND_SEVERITY else None,
            "min_severity": a.get("severity") if a.get("severity") in SEVERITIES else None, "acknowledged": ack}


@bp.get("/")
@access.requires("alarms")
def index() -> Any:
    f = _filters()
    try:
        page = alarms.list_alarms(db.session, sids=access.scope(), state=None if f["state"] == "all" else f["state"],
                                  sid=f["sid"], kind=f["kind"], min_severity=f["min_severity"],
                                  acknowledged=f["acknowledged"], page=request.args.get("page", 1), per_page=PER_PAGE)
    except alarms.AlarmError as e:
        return render_template("console/alarms/list.html", page=None, f=f, error=message(e), kinds=KIND_SEVERITY,
                               severities=SEVERITIES, args={}), 400
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    pages = max(1, -(-page.total // page.per_page))
    return render_template("console/alarms/list.html", page=page, pages=pages, f=f, error=None, kinds=KIND_SEVERITY,
                           severities=SEVERITIES, args=args)


@bp.get("/<alarm_id>")
@access.requires("alarms")
def detail(alarm_id: str) -> Any:
    try:
        alarm = alarms.get(db.session, alarm_id, access.scope())  # type: ignore[arg-type]
    except alarms.AlarmError:
        abort(404)
    return render_template("console/alarms/detail.html", a=alarm, error=None)


@bp.post("/<alarm_id>/ack")
@access.requires("alarms")
def acknowledge(alarm_id: str) -> Any:
    note = request.form.get("note") or ""
    try:
        with db.transaction() as s:
            alarms.acknowledge(s, alarm_id, actor=access.actor(), note=note, now=access.clock(),  # type: ignore[arg-type]
                               sids=access.scope())
    except alarms.AlarmError as e:
        if e.code == "alarm_not_found":
            abort(404)
        a = alarms.get(db.session, alarm_id, access.scope())  # type: ignore[arg-type]
        return render_template("console/alarms/detail.html", a=a, error=message(e)), 400
    back = request.form.get("next") or ""
    return redirect(back if back.startswith("/alarms") else url_for("alarms.detail", alarm_id=alarm_id), code=303)


@bp.route("/recipients", methods=["GET", "POST"])
@access.requires("alarms")
def recipients() -> Any:
    sids = access.scope()
    sid = (request.values.get("sid") or "").strip()[:64]
    error = None
    if sid and ((sids is not None and sid not in sids) or db.session.get(Station, sid) is None):
        # another owner's station answers as one that does not exist: nothing to probe
        unknown = message(alarms.AlarmError("station_not_found", "no such station"))
        return render_template("console/alarms/recipients.html", sid="", rows=[], error=unknown), 404
    if request.method == "POST":
        try:
            with db.transaction() as s:
                if not sid or s.get(Station, sid) is None:
                    raise alarms.AlarmError("station_not_found", f"no station {sid!r}")
                if request.form.get("remove"):
                    alarms.remove_recipient(s, sid, request.form["remove"], sids=sids)
                else:
                    alarms.add_recipient(s, sid, request.form.get("phone") or "",
                                         (request.form.get("name") or "").strip()[:64] or None, sids=sids)
                from cloud.audit import service as audit

                audit.record(s, access.actor(), "alarm.recipient." + ("remove" if request.form.get("remove") else "add"),
                             f"station:{sid}", {"phone": request.form.get("remove") or request.form.get("phone")},
                             access.client_ip())
        except alarms.AlarmError as e:
            error = message(e)
        else:
            return redirect(url_for("alarms.recipients", sid=sid), code=303)
    rows = alarms.recipients(db.session, sid, sids) if sid else []
    return render_template("console/alarms/recipients.html", sid=sid, rows=rows, error=error), 400 if error else 200
