"""Driver API: start, follow, stop and rate charging orders (routes on the `api.driver`
blueprint, cloud/api/driver.py; the plain functions are cloud/charging/service.py)."""

from __future__ import annotations

import hashlib
from typing import Any

from flask import Response, current_app, jsonify, request

from cloud.api.driver import _body, _error, _settings, bp
from cloud.api.driver_auth import authenticated, bearer_token, principal
from cloud.api.driver_stations import integer, query
from cloud.charging import progress, service
from cloud.charging.service import ChargingError, ChargingSettings
from cloud.db import db
from cloud.drivers import service as drivers
from cloud.drivers.errors import InvalidField
from cloud.models import now_ms


@bp.errorhandler(ChargingError)
def _charging_error(e: ChargingError) -> Response:
    shown = ("nearest", "nearest_gun")
    resp = _error(e.code, e.detail, {k: v for k, v in e.facts.items() if k not in shown})
    if any(k in e.facts for k in shown):
        body = resp.get_json()
        body["error"].update({k: e.facts[k] for k in shown if k in e.facts})
        resp.set_data(current_app.json.dumps(body))
    return resp


def _charging() -> ChargingSettings:
    return ChargingSettings.from_settings(current_app.config)


def _send(timeout: float) -> Any:
    from cloud.commands import send_command

    return lambda sid, type_, payload: send_command(sid, type_, payload, timeout=timeout)


@bp.post("/orders")
def order_start() -> Any:
    body = _body(("gun_code", "limit", "pay", "pay_channel", "payment_password", "departure_at"),
                 ("gun_code", "limit"))
    settings = _charging()
    did = principal().driver_id

    def verify(pw: Any) -> None:
        drivers.verify_payment_password(db.transaction, did, pw, _settings().lockout, now_ms())

    if "pay_channel" in body and not isinstance(body["pay_channel"], str):
        raise InvalidField("pay_channel must be jsapi, oa_jsapi or h5", field="pay_channel")
    view = service.start_order(db.transaction, _send(settings.start_timeout_s), driver_id=did,
                               gun_code=body["gun_code"], limit=body["limit"], pay=body.get("pay", "wallet"),
                               payment_password=body.get("payment_password"), settings=settings,
                               verify_password=verify, departure_at=body.get("departure_at"),
                               pay_channel=body.get("pay_channel"), client_ip=request.remote_addr)
    return jsonify(view), 201


@bp.get("/orders")
def orders_list() -> Any:
    q = query(("limit", "before"))
    limit = integer(q, "limit", 1, 100, 20)
    before = integer(q, "before", 0, 2**53, None)
    assert limit is not None
    return jsonify({"orders": service.list_orders(db.session, principal().driver_id, limit=limit, before=before)})


def _follow(view: dict[str, Any] | None) -> bool:
    """A start the sender stopped waiting for: catch up with a late reply or its expiry.
    True if the order was looked at again (the view is then stale)."""
    if view is None or view["state"] != "starting":
        return False
    # the request's own read ends first: on SQLite it holds the write lock (BEGIN IMMEDIATE),
    # which the transaction below would otherwise wait for until the busy timeout
    db.session.rollback()
    with db.transaction() as s:
        service.follow_start(s, view["order_id"])
    db.session.rollback()
    return True


@bp.get("/orders/current")
def order_current() -> Any:
    did = principal().driver_id
    view = service.current(db.session, did)
    if _follow(view):
        view = service.current(db.session, did)
    if view is None:
        raise ChargingError("not_found", "no running order")
    return jsonify(view)


def _etag_key() -> bytes:
    key = current_app.extensions.get("jc_progress_etag_key")
    if key is None:
        secret = str(current_app.config.get("SECRET_KEY") or "")
        key = current_app.extensions["jc_progress_etag_key"] = hashlib.sha256(
            b"jc-progress-etag\0" + secret.encode()).digest()
    return key  # type: ignore[no-any-return]


def _tagged(resp: Response, tag: str) -> Response:
    """A 304 instead when the client's If-None-Match holds the tag (weak comparison)."""
    if request.if_none_match.contains_weak(tag):
        resp = Response(status=304)
    resp.set_etag(tag, weak=True)
    return resp


@bp.get("/orders/<order_id>")
def order_get(order_id: str) -> Any:
    """The progress poll (every 5 s per charging driver): the token check and the order's
    snapshot in one statement (cloud/charging/progress.py); ETag / If-None-Match → 304."""
    token = bearer_token()
    now = now_ms()
    got = progress.poll(db.read_row, token, order_id, now)
    authenticated(got.who)
    did = got.who.driver_id
    if got.row is not None:
        tag = progress.etag_of_row(_etag_key(), did, got.row)
        if request.if_none_match.contains_weak(tag):
            return _tagged(Response(status=304), tag)  # the body is not even built
        return _tagged(Response(progress.answer(got.row, now), mimetype="application/json"), tag)
    view = service.order_view(db.session, did, order_id)
    if _follow(view):
        view = service.order_view(db.session, did, order_id)
    return _tagged(jsonify(view), progress.etag_of_view(_etag_key(), did, view))


@bp.post("/orders/<order_id>/stop")
def order_stop(order_id: str) -> Any:
    _body((), optional=True)
    view = service.stop_order(db.transaction, _send(_charging().start_timeout_s), driver_id=principal().driver_id,
                              order_id=order_id)
    return jsonify(view), 202


@bp.post("/orders/<order_id>/rating")
def order_rate(order_id: str) -> Any:
    body = _body(("stars", "comment"), ("stars",))
    view = service.rate(db.transaction, driver_id=principal().driver_id, order_id=order_id,
                        stars=body["stars"], comment=body.get("comment"))
    return jsonify(view["rating"])
