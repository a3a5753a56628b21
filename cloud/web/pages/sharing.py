"""Private pile sharing in the console (docs/sharing.md): the shared piles with their owner,
switch, open windows and money, and the owners' withdrawals (area "money": administrators
and finance; a station owner sees the piles of its stations and no withdrawals); the pairing
codes an operator issues for one gun so that its owner can register it (area "stations",
changed by administrators and operators, audited)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from cloud.db import db
from cloud.sharing import pairing, withdrawals
from cloud.sharing import service as sharing
from cloud.sharing.service import SharingError
from cloud.web import access

bp = Blueprint("sharing", __name__, url_prefix="/sharing")

STATES = {
    "held": lambda: _("held"),
    "sending": lambda: _("sending"),
    "paid": lambda: _("paid"),
    "released": lambda: _("released (back to the earnings)"),
}
DAYS = {
    "mon": lambda: _("Mon"),
    "tue": lambda: _("Tue"),
    "wed": lambda: _("Wed"),
    "thu": lambda: _("Thu"),
    "fri": lambda: _("Fri"),
    "sat": lambda: _("Sat"),
    "sun": lambda: _("Sun"),
}


@bp.app_context_processor
def labels() -> dict[str, Any]:
    return {
        "withdrawal_state": lambda v: STATES[v]() if v in STATES else v,
        "weekday": lambda v: DAYS[v]() if v in DAYS else v,
    }


@bp.get("")
@access.requires("money")
def index() -> Any:
    scope = access.scope()
    piles = sharing.console_piles(db.session, sids=scope, now=access.clock())
    # a withdrawal belongs to a pile owner, not to a station: a scoped operator sees none
    rows = [] if scope is not None else withdrawals.listing(db.session)
    return render_template(
        "console/sharing/index.html", piles=piles, withdrawals=rows, show_withdrawals=scope is None
    )


def _pairing_page(
    code: str | None = None,
    expires_at: int | None = None,
    sid: str = "",
    gun: str = "",
    error: str | None = None,
    status: int = 200,
) -> Any:
    return render_template(
        "console/sharing/pairing.html",
        code=code,
        expires_at=expires_at,
        sid=sid,
        gun=gun,
        error=error,
        can_issue=access.can("stations", write=True),
    ), status


@bp.get("/pairing")
@access.requires("stations")
def pairing_form() -> Any:
    return _pairing_page()


@bp.post("/pairing")
@access.requires("stations")
def pairing_issue() -> Any:
    from cloud.audit import service as audit

    sid, gun = request.form.get("sid", "").strip(), request.form.get("gun", "").strip()
    scope = access.scope()
    if scope is not None and sid not in scope:
        return _pairing_page(sid=sid, gun=gun, error=_("No such gun at that station."), status=404)
    try:
        with db.transaction() as s:
            code, expires_at = pairing.issue(
                s, sid, gun, issued_by=access.actor(), now=access.clock()
            )
            # the code itself is never written down: the audit says who issued one for which gun
            audit.record(
                s,
                access.actor(),
                "sharing.pairing_code",
                f"gun:{sid}/{gun}",
                {"expires_at": expires_at},
                access.client_ip(),
            )
    except SharingError:
        return _pairing_page(sid=sid, gun=gun, error=_("No such gun at that station."), status=404)
    return _pairing_page(code=code, expires_at=expires_at, sid=sid, gun=gun)
