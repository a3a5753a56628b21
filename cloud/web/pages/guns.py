"""Gun monitoring (area "guns"): the list of guns in scope, and per gun its identity and
state, today's and cumulative kWh, sessions and hours, live voltage, current and power (a
chart polling `live.json`), an orderly session's plan, the running order, and remote stop (`stop`, audited)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template
from flask_babel import gettext as _

from cloud.db import db
from cloud.stations import monitor
from cloud.web import access
from cloud.web.pages.stations import BUCKETS, labels
from cloud.web.pages.stations_common import day_start, page_arg, send_audited

bp = Blueprint("guns", __name__, url_prefix="/guns")


@bp.get("/")
@access.requires("guns")
def index() -> Any:
    page = monitor.list_guns(db.session, sids=access.scope(), page=page_arg())
    return render_template("console/guns/list.html", page=page)


@bp.get("/<sid>/<gun>")
@access.requires("guns")
def detail(sid: str, gun: str) -> Any:
    now = access.clock()
    view = monitor.gun_monitor(
        db.session, sid, gun, sids=access.scope(), day_start=day_start(now), now=now
    )
    if view is None:
        abort(404)
    return render_template(
        "console/guns/detail.html", g=view, can_change=access.can("guns", write=True)
    )


@bp.get("/<sid>/<gun>/live.json")
@access.requires("guns")
def live(sid: str, gun: str) -> Any:
    reading = monitor.live(db.session, sid, gun, sids=access.scope())
    if reading is None:
        abort(404)
    label = BUCKETS.get(reading["bucket"])
    extra: dict[str, Any] = {"state_label": label() if label else reading["bucket"]}
    o = reading["orderly"]
    if o is not None:  # the plan's figures as the page words them, for the page to refresh
        words = labels()
        extra["orderly_text"] = {
            "status": words["plan_label"](o["status"]),
            "delivered": words["kwh"](o["delivered_wh"]),
            "expected": words["kwh"](o["expected_wh"]),
            "acceptance": words["car_takes"](o["acceptance_w"]),
        }
    return jsonify({**reading, **extra})


@bp.post("/<sid>/<gun>/stop")
@access.requires("guns")
def stop(sid: str, gun: str) -> Any:
    reading = monitor.live(db.session, sid, gun, sids=access.scope())
    if reading is None:
        abort(404)
    payload: dict[str, Any] = {"gun": gun}
    if reading.get("session_id"):
        payload["session_id"] = reading["session_id"]
    ok, text, status = send_audited(
        sid,
        "stop",
        payload,
        action="gun.stop",
        target=f"gun:{sid}/{gun}",
        invalid=lambda why: _("The command is not valid: %(why)s", why=why),
    )
    return render_template("console/guns/_reply.html", ok=ok, text=text), status
