"""Battery-swap stations in the console (area "stations", docs/swap.md): the swap stations
in the operator's scope; one station's bays, packs by type and state, and bookings; forms to
set a bay's state, add or change a pack, and mark a booking's swap done (each audited
through cloud.swap.service)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.swap import service
from cloud.swap.models import BAY_STATES, PACK_STATES
from cloud.swap.service import SwapError
from cloud.web import access

bp = Blueprint("swap", __name__, url_prefix="/swap")

LABELS = {"free": lambda: _("free"), "swapping": lambda: _("swapping"), "maintenance": lambda: _("maintenance"),
          "charging": lambda: _("charging"), "ready": lambda: _("ready"), "out": lambda: _("out of service"),
          "booked": lambda: _("booked"), "used": lambda: _("swapped"), "cancelled": lambda: _("cancelled"),
          "expired": lambda: _("expired (no-show)"), "none": lambda: _("no fee"), "held": lambda: _("held"),
          "refunded": lambda: _("refunded"), "kept": lambda: _("kept")}


@bp.app_context_processor
def labels() -> dict[str, Any]:
    return {"swap_label": lambda v: LABELS[v]() if v in LABELS else v}


def _in_scope(sid: str) -> None:
    scope = access.scope()
    if (scope is not None and sid not in scope) or not service.is_swap(db.session, sid):
        abort(404)


@bp.get("")
@access.requires("stations")
def index() -> Any:
    scope = access.scope()
    rows = [r for r in service.stations_list(db.session) if scope is None or r["sid"] in scope]
    return render_template("console/swap/index.html", rows=rows)


def _page(sid: str, error: str | None = None, status: int = 200) -> Any:
    view = service.console_view(db.session, sid, now=access.clock())
    return render_template("console/swap/detail.html", v=view, bay_states=BAY_STATES, pack_states=PACK_STATES,
                           can_change=access.can("stations", write=True), error=error), status


@bp.get("/<sid>")
@access.requires("stations")
def detail(sid: str) -> Any:
    _in_scope(sid)
    return _page(sid)


def _done(sid: str, action: Any) -> Any:
    try:
        with db.transaction() as s:
            action(s)
    except InvalidField as e:
        return _page(sid, _("Not a valid value: %(field)s", field=e.facts.get("field") or ""), 400)
    except SwapError as e:
        if e.code == "not_found":
            abort(404)
        return _page(sid, _("Not done: %(code)s", code=e.code), 409)
    return redirect(url_for("swap.detail", sid=sid), 303)


@bp.post("/<sid>/bays")
@access.requires("stations")
def bay(sid: str) -> Any:
    _in_scope(sid)
    f = request.form
    return _done(sid, lambda s: service.set_bay(s, sid, f.get("bay_id", ""), f.get("state", ""),
                                                actor=access.actor(), ip=access.client_ip()))


@bp.post("/<sid>/packs")
@access.requires("stations")
def pack(sid: str) -> Any:
    _in_scope(sid)
    f = request.form
    minutes = f.get("ready_in_min", "").strip()
    ready_at = access.clock() + int(minutes) * 60_000 if minutes.isascii() and minutes.isdigit() and len(minutes) <= 5 \
        else None
    return _done(sid, lambda s: service.set_pack(
        s, sid, f.get("pack_id", ""), type_code=f.get("type_code", ""), state=f.get("state", ""),
        soc_pct=f.get("soc_pct", "").strip() or 0, ready_at=ready_at, actor=access.actor(), ip=access.client_ip()))


@bp.post("/<sid>/bookings/<booking_id>/used")
@access.requires("stations")
def used(sid: str, booking_id: str) -> Any:
    """The booking's swap is done (the operator's word; no swap-station protocol reports it)."""
    _in_scope(sid)
    f = request.form
    try:
        service.mark_used(db.transaction, booking_id, sid=sid, bay_id=f.get("bay_id") or None, actor=access.actor(),
                              ip=access.client_ip(), now=access.clock())
    except InvalidField as e:
        return _page(sid, _("Not a valid value: %(field)s", field=e.facts.get("field") or ""), 400)
    except SwapError as e:
        if e.code == "not_found":
            abort(404)
        return _page(sid, _("Not done: %(code)s", code=e.code), 409)
    return redirect(url_for("swap.detail", sid=sid), 303)
