"""The driver's wallet routes on the driver blueprint (`/api/v1/driver/wallet…`): balance,
recharges through WeChat Pay, balance refunds, the statement. Views only translate HTTP to
cloud/wallet/service.py and back; a driver reaches only their own recharges and refunds
(another's id answers 404 `not_found`, exactly as a missing one)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from cloud.api.driver import _body, _settings, bp
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import query
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.models import now_ms
from cloud.payments.provider import PaymentProvider
from cloud.wallet import service
from cloud.wallet.errors import PaymentNotConfigured
from cloud.wallet.settings import WalletSettings, provider_for

MAX_LIMIT = 100


def _provider() -> PaymentProvider:
    return provider_for(current_app.config, current_app.extensions)


def _wallet_settings() -> WalletSettings:
    return WalletSettings.from_settings(current_app.config)


def _int_arg(name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    # 19 digits hold any bound here; more could exceed the digits Python reads (ValueError)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not lo <= int(raw) <= hi:
        raise InvalidField(f"{name} must be an integer {lo}..{hi}", field=name)
    return int(raw)


def _str_arg(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw or len(raw) > 64 or not raw.isascii():
        raise InvalidField(f"{name} is not a recharge id", field=name)
    return raw


@bp.get("/wallet")
def wallet() -> Any:
    return jsonify(service.wallet_view(db.session, principal().driver_id))


def pay_channel(body: dict[str, Any], key: str = "channel") -> service.Channel:
    """The request's payment channel, checked (absent: "jsapi"; null is no channel). "h5"
    sends WeChat Pay the address the request came from (the phone's: docs/payments.md says
    what a reverse proxy must pass on)."""
    if key in body and not isinstance(body[key], str):
        raise InvalidField(f"{key} must be one of {', '.join(service.CHANNELS)}", field=key)
    return service.channel(body.get(key), _wallet_settings(), request.remote_addr)


@bp.post("/wallet/recharges")
def create_recharge() -> Any:
    body = _body(("amount_fen", "channel"), ("amount_fen",))
    ch = pay_channel(body)
    provider = _provider()
    view = service.create_recharge(db.transaction, provider, principal().driver_id, body["amount_fen"],
                                   _wallet_settings(), now_ms(), ch)
    return jsonify(view), 201


@bp.get("/wallet/recharges")
def list_recharges() -> Any:
    query(("limit", "before"))  # an unknown or repeated parameter is refused, as on every list
    limit = _int_arg("limit", 50, 1, MAX_LIMIT) or 50
    return jsonify({"recharges": service.list_payments(db.session, principal().driver_id, limit,
                                                       _str_arg("before"))})


@bp.get("/wallet/recharges/<recharge_id>")
def get_recharge(recharge_id: str) -> Any:
    try:
        provider: PaymentProvider | None = _provider()
    except PaymentNotConfigured:
        provider = None  # nothing to ask: the stored state is the answer
    db.session.rollback()
    return jsonify(service.poll_payment(db.transaction, provider, principal().driver_id, recharge_id[:64],
                                        _wallet_settings(), now_ms()))


@bp.post("/wallet/refunds")
def create_refund() -> Any:
    body = _body(("amount_fen", "payment_password"), optional=True)
    provider = _provider()
    view = service.refund_balance(db.transaction, provider, principal().driver_id, body.get("amount_fen"),
                                  body.get("payment_password"), _settings().lockout, now_ms())
    return jsonify(view), 202


@bp.get("/wallet/refunds")
def list_refunds() -> Any:
    query(("limit",))
    limit = _int_arg("limit", 50, 1, MAX_LIMIT) or 50
    return jsonify({"refunds": service.list_refunds(db.session, principal().driver_id, limit)})


@bp.get("/wallet/statement")
def statement() -> Any:
    query(("limit", "before"))
    limit = _int_arg("limit", 50, 1, MAX_LIMIT) or 50
    before = _int_arg("before", None, 1, 2**62)
    return jsonify({"entries": service.statement_view(db.session, principal().driver_id, limit, before)})
