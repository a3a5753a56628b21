"""Reservations on the station page (area "stations"): the station's reservation rules (a
form, audited through cloud.reservations.service.set_rule), its recent reservations and the
drivers' no-shows. The rows are drawn by the station page (stations.detail) from `section`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _

from cloud.db import db
from cloud.reservations import service
from cloud.reservations.rules import FEE_MODES, RuleError
from cloud.web import access

bp = Blueprint("reservations", __name__, url_prefix="/stations")
NO_SHOW_WINDOW_MS = 30 * 86_400_000
NUMBERS = ("max_minutes", "fee_fen", "no_show_limit", "suspend_days")
FLAGS = ("enabled", "refund_on_start", "refund_on_cancel", "keep_on_no_show")


def section(sid: str, now: int) -> dict[str, Any]:
    """What the station page shows of reservations: rules, the latest 20, no-shows of 30 days."""
    return {"rule": service.get_rule(db.session, sid), "fee_modes": FEE_MODES,
            "items": service.station_listing(db.session, sid, limit=20),
            "no_shows": service.no_shows(db.session, sid, since=now - NO_SHOW_WINDOW_MS, now=now)}


def _in_scope(sid: str) -> None:
    scope = access.scope()
    if scope is not None and sid not in scope:
        abort(404)


@bp.post("/<sid>/reservation-rules")
@access.requires("stations")
def rules(sid: str) -> Any:
    _in_scope(sid)
    form = request.form
    values: dict[str, Any] = {k: form.get(k, "").strip() for k in NUMBERS}
    values.update({k: form.get(k) in ("on", "1", "true") for k in FLAGS})
    values["fee_mode"] = form.get("fee_mode", "none")
    try:
        with db.transaction() as s:
            service.set_rule(s, sid, values, actor=access.actor(), ip=access.client_ip())
    except RuleError as e:
        return render_template("console/stations/_rules_reply.html", ok=False,
                               text=_("Not a valid rule: %(field)s", field=e.field)), 400
    except LookupError:
        abort(404)
    return render_template("console/stations/_rules_reply.html", ok=True, text=_("Reservation rules saved."))


STATES = {"pending": lambda: _("waiting for the station"), "active": lambda: _("active"),
          "used": lambda: _("used"), "cancelled": lambda: _("cancelled"), "expired": lambda: _("expired (no-show)"),
          "failed": lambda: _("failed")}
FEES = {"none": lambda: _("no fee"), "held": lambda: _("held"), "refunded": lambda: _("refunded"),
        "kept": lambda: _("kept")}
RELEASES = {"none": lambda: "", "pending": lambda: _("waiting for the station's word"),
            "confirmed": lambda: _("released")}
MODES = {"none": lambda: _("no fee"), "fixed": lambda: _("fixed fee"),
         "tariff_idle": lambda: _("the tariff's idle fee for the time held"),
         "tariff": lambda: _("the tariff's reservation fee")}


@bp.app_context_processor
def labels() -> dict[str, Any]:
    def reservation_label(kind: str, value: str) -> str:
        table = {"state": STATES, "fee": FEES, "release": RELEASES, "mode": MODES}[kind]
        return table[value]() if value in table else value

    return {"reservation_label": reservation_label}
