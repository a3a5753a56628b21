"""Station monitoring (area "stations"): the list of stations in scope, and per station its
guns by state, today's sessions, kWh and hours, the running sessions (these and the load
level polled by the page from `live`, every LIVE_EVERY_S while its tab is shown), the
transformer load curve, its faults, and
the load policy pushed to the gateway (`set_load_policy`, the reply shown and audited), and
its reservations (rules, recent ones, no-shows; cloud/web/pages/reservations.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request
from flask_babel import gettext as _

from cloud.alarms import service as alarms
from cloud.db import db
from cloud.stations import monitor
from cloud.web import access, formatting
from cloud.web.pages import reservations
from cloud.web.pages.stations_common import FormError, day_start, number, page_arg, send_audited

bp = Blueprint("stations", __name__, url_prefix="/stations")
DAY_MS = 86_400_000
LIVE_EVERY_S = 5  # the station page polls its live parts this often while the tab is shown
POLICY_FIELDS = (  # form field, lowest, highest
    ("rated_kva", 1.0, 100_000.0),
    ("cap_above_pct", 1.0, 200.0),
    ("block_above_pct", 1.0, 200.0),
    ("cap_power_pct", 0.0, 100.0),
    ("hysteresis_pct", 0.0, 50.0),
)


@bp.get("/")
@access.requires("stations")
def index() -> Any:
    page = monitor.list_stations(db.session, sids=access.scope(), page=page_arg())
    return render_template("console/stations/list.html", page=page)


def _monitor_or_404(sid: str, now: int | None = None) -> dict[str, Any]:
    now = access.clock() if now is None else now
    view = monitor.station_monitor(
        db.session, sid, sids=access.scope(), day_start=day_start(now), now=now
    )
    if view is None:
        abort(404)
    return view


@bp.get("/<sid>")
@access.requires("stations")
def detail(sid: str) -> Any:
    now = access.clock()
    view = _monitor_or_404(sid, now)
    faults = alarms.list_alarms(db.session, sids=access.scope(), sid=sid, page=1, per_page=20)
    return render_template(
        "console/stations/detail.html",
        st=view,
        now=now,
        live_every_s=LIVE_EVERY_S,
        faults=faults,
        cap_pct=monitor.CAP_PCT,
        block_pct=monitor.BLOCK_PCT,
        can_change=access.can("stations", write=True),
        rsv=reservations.section(sid, access.clock()),
    )


@bp.get("/<sid>/live")
@access.requires("stations")
def live(sid: str) -> Any:
    """The station page's live parts (gun counts, today, load level, guns, running sessions),
    each to be swapped into its place by id (hx-swap-oob): what the page polls. The same
    owner scope as the page: a station outside it answers 404."""
    now = access.clock()
    view = _monitor_or_404(sid, now)
    return render_template("console/stations/_live_answer.html", st=view, now=now)


@bp.get("/<sid>/load.json")
@access.requires("stations")
def load(sid: str) -> Any:
    view = _monitor_or_404(sid)
    now = access.clock()
    curve = monitor.load_curve(
        db.session, sid, sids=access.scope(), since=now - DAY_MS, until=now + 60_000
    )
    return jsonify(
        {
            "sid": sid,
            "level": view["load_level"],
            "load_pct": view["load_pct"],
            "cap_pct": monitor.CAP_PCT,
            "block_pct": monitor.BLOCK_PCT,
            "points": [[p["ts"], p["load_pct"]] for p in curve],
        }
    )


@bp.post("/<sid>/policy")
@access.requires("stations")
def policy(sid: str) -> Any:
    _monitor_or_404(sid)
    try:
        payload = {
            k: v
            for k, lo, hi in POLICY_FIELDS
            if (v := number(request.form, k, lo, hi)) is not None
        }
    except FormError as e:
        return render_template(
            "console/stations/_reply.html",
            ok=False,
            text=_("Not a number in its range: %(field)s", field=str(e)),
        ), 400
    mode = request.form.get("mode") or ""
    if mode in ("threshold", "share"):
        payload["mode"] = mode
    if "rated_kva" not in payload:
        return render_template(
            "console/stations/_reply.html", ok=False, text=_("Give the transformer's rating (kVA).")
        ), 400
    ok, text, status = send_audited(
        sid,
        "set_load_policy",
        payload,
        action="station.load_policy",
        target=f"station:{sid}",
        keep_detail=True,
        invalid=lambda why: _("The policy is not valid: %(why)s", why=why),
    )
    return render_template("console/stations/_reply.html", ok=ok, text=text), status


LEVELS = {
    "normal": lambda: _("normal"),
    "capped": lambda: _("capped"),
    "blocked": lambda: _("blocked"),
    "failsafe": lambda: _("failsafe"),
}
BUCKETS = {
    "charging": lambda: _("charging"),
    "idle": lambda: _("idle"),
    "plugged": lambda: _("plugged"),
    "faulted": lambda: _("faulted"),
    "offline": lambda: _("offline"),
}
# an orderly session's plan as the gateway reports it (docs/load-control.md, "Orderly charging")
PLANS = {
    "on_track": lambda: _("on track"),
    "cannot_meet": lambda: _("cannot meet the departure"),
    "done": lambda: _("energy delivered"),
    "past_departure": lambda: _("past the departure"),
}


@bp.app_context_processor
def labels() -> dict[str, Any]:
    def level_label(level: str | None) -> str:
        return LEVELS[level]() if level in LEVELS else _("no meter")

    def bucket_label(bucket: str) -> str:
        return BUCKETS[bucket]() if bucket in BUCKETS else bucket

    def plan_label(status: str) -> str:
        return PLANS[status]() if status in PLANS else status

    def kwh(wh: int | None) -> str:
        return formatting.number(None if wh is None else round(wh / 1000, 3))

    def car_takes(w: int | None) -> str:
        """What the car takes (kW), as the station learned it; worded while not known."""
        return _("not known yet") if w is None else formatting.number(round(w / 1000, 3))

    def elapsed(seconds: int | None) -> str:
        """A running session's time so far as H:MM:SS (the same in both languages)."""
        if seconds is None:
            return ""
        h, rest = divmod(int(seconds), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"

    return {
        "level_label": level_label,
        "bucket_label": bucket_label,
        "plan_label": plan_label,
        "kwh": kwh,
        "car_takes": car_takes,
        "elapsed": elapsed,
    }
