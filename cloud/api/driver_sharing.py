"""Driver API: a private pile's owner side (docs/sharing.md) — register a gun with a pairing
code, set its open windows, price and switch, see earnings per order and withdrawals, ask for
a withdrawal. Routes on the `api.driver` blueprint (cloud/api/driver.py); the plain functions
are cloud/sharing/. A driver only ever sees their own piles: another's pile id answers as a
missing one (404 `not_found`)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from cloud.api.driver import _body, _error, bp
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, query
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.drivers.models import Driver
from cloud.drivers.service import DriverSettings
from cloud.models import now_ms
from cloud.sharing import pairing, withdrawals
from cloud.sharing import service as sharing
from cloud.sharing.service import SharingError

# the service's codes the API answers under another (already documented) name
RENAMED = {
    "pile_not_found": "not_found",
    "withdrawal_not_found": "not_found",
    "invalid_switch": "invalid_request",
}


@bp.errorhandler(SharingError)
def _sharing_error(e: SharingError) -> Response:
    facts: dict[str, Any] = {}
    if isinstance(e, pairing.PairingLocked):
        facts["retry_at"] = e.retry_at
    if e.code == "invalid_switch":
        facts["field"] = "open"
    return _error(RENAMED.get(e.code, e.code), str(e), facts)


def _pile_id(raw: str) -> int:
    """A path's pile id; anything but a whole number names no pile (404 like a missing one)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise SharingError("pile_not_found", f"no shared pile {raw!r}")
    return int(raw)


def _me() -> str:
    return str(principal().driver_id)


def _pile_view(pile_id: int) -> dict[str, Any]:
    s = db.session
    return sharing.view(s, sharing.own_pile(s, _me(), pile_id), now_ms())


@bp.post("/shared-piles")
def shared_pile_register() -> Any:
    body = _body(("gun_code", "pairing_code"), ("gun_code", "pairing_code"))
    for key in ("gun_code", "pairing_code"):
        if not isinstance(body[key], str) or not 1 <= len(body[key]) <= 64:
            raise InvalidField(f"{key} must be a string of 1-64 characters", field=key)
    pile_id = pairing.register_with_code(
        db.transaction,
        _me(),
        body["gun_code"],
        body["pairing_code"],
        commission_bp=sharing.commission_bp_of(current_app.config),
    )
    return jsonify(_pile_view(pile_id)), 201


@bp.get("/shared-piles")
def shared_piles_list() -> Any:
    query(())
    s, t = db.session, now_ms()
    return jsonify({"piles": [sharing.view(s, p, t) for p in sharing.piles_of(s, _me())]})


@bp.get("/shared-piles/<pile_id>")
def shared_pile_get(pile_id: str) -> Any:
    query(())
    return jsonify(_pile_view(_pile_id(pile_id)))


@bp.put("/shared-piles/<pile_id>/windows")
def shared_pile_windows(pile_id: str) -> Any:
    pid = _pile_id(pile_id)
    with db.transaction() as s:
        sharing.own_pile(s, _me(), pid)  # another's pile: 404 before the body is looked at
    body = _body(("windows",), ("windows",))
    with db.transaction() as s:
        sharing.set_windows(s, _me(), pid, body["windows"])
    return jsonify(_pile_view(pid))


@bp.put("/shared-piles/<pile_id>/price")
def shared_pile_price(pile_id: str) -> Any:
    pid = _pile_id(pile_id)
    with db.transaction() as s:
        sharing.own_pile(s, _me(), pid)
    body = _body(("periods", "idle"), ("periods",))
    with db.transaction() as s:
        tariff_id = sharing.set_price(s, _me(), pid, {"currency": "CNY", **body})
    return jsonify({**_pile_view(pid), "tariff_id": tariff_id})


@bp.post("/shared-piles/<pile_id>/open")
def shared_pile_switch(pile_id: str) -> Any:
    pid = _pile_id(pile_id)
    with db.transaction() as s:
        sharing.own_pile(s, _me(), pid)
    body = _body(("open",), ("open",))
    with db.transaction() as s:
        sharing.set_open(s, _me(), pid, body["open"])
    return jsonify(_pile_view(pid))


@bp.get("/sharing/earnings")
def sharing_earnings() -> Any:
    q = query(("limit",))
    limit = integer(q, "limit", 1, 200, 50)
    assert limit is not None
    return jsonify(sharing.earnings(db.session, _me(), limit=limit))


def _transfers() -> Any:
    """The merchant's transfer provider, or None when WeChat Pay is not configured."""
    from cloud.wallet.settings import configured, provider_for

    if not configured(current_app.config):
        return None
    return provider_for(current_app.config, current_app.extensions)


@bp.get("/sharing/withdrawals")
def sharing_withdrawals_list() -> Any:
    q = query(("limit",))
    limit = integer(q, "limit", 1, 100, 20)
    assert limit is not None
    provider = _transfers()
    return jsonify(
        {
            "withdrawals": [
                withdrawals.with_confirmation(withdrawals.view(w), provider)
                for w in withdrawals.of_owner(db.session, _me(), limit=limit)
            ]
        }
    )


@bp.get("/sharing/withdrawals/<withdrawal_id>")
def sharing_withdrawal_get(withdrawal_id: str) -> Any:
    """One withdrawal of the owner's; a `sending` one is asked of WeChat Pay first (the client
    calls this once the payee confirmed the transfer in WeChat), as the job would."""
    query(())
    if not withdrawal_id.isascii() or not withdrawal_id.isdigit() or len(withdrawal_id) > 18:
        raise SharingError("withdrawal_not_found", f"no withdrawal {withdrawal_id!r}")
    wid = int(withdrawal_id)
    view = withdrawals.view(withdrawals.own(db.session, _me(), wid))
    db.session.rollback()
    provider = _transfers()
    if view["state"] == "sending" and provider is not None:
        view = withdrawals.follow(db.transaction, provider, wid)
    return jsonify(withdrawals.with_confirmation(view, provider))


@bp.post("/sharing/withdrawals")
def sharing_withdrawal_create() -> Any:
    """The payment password when one is set (as a wallet start's), then hold the amount and
    ask WeChat Pay for the transfer at once; an answer still pending
    (or none) is followed by the `sharing_withdrawals` job."""
    from cloud.wallet.settings import configured, provider_for

    body = _body(("amount_fen", "payment_password"), ("amount_fen",))
    if not configured(current_app.config):
        return _error("payment_not_configured", "WeChat Pay is not configured", {})
    withdrawals.check_amount(body["amount_fen"])  # a malformed amount spends no password attempt
    me = _me()
    # the payment password when the owner set one, under the wallet's lockout: refused, nothing held
    withdrawals.check_password(
        db.transaction,
        int(me),
        body.get("payment_password"),
        DriverSettings.from_settings(current_app.config).lockout,
        now_ms(),
    )
    with db.transaction() as s:
        driver = s.get(Driver, int(me))
        w = withdrawals.request(s, me, body["amount_fen"], driver.openid if driver else "")
        wid = w.id
    provider = provider_for(current_app.config, current_app.extensions)
    view = withdrawals.send(
        db.transaction,
        provider,
        wid,  # type: ignore[arg-type]
        scene_id=withdrawals.scene_id_of(current_app.config),
    )
    return jsonify(withdrawals.with_confirmation(view, provider)), 201
