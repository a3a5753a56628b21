"""Driver API: reserve a gun, follow and cancel the reservation (routes on the `api.driver`
blueprint, cloud/api/driver.py; the plain functions are cloud/reservations/service.py)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from cloud.api.driver import _body, _error, bp
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, query
from cloud.db import db
from cloud.reservations import service
from cloud.reservations.service import ReservationError, ReservationSettings


@bp.errorhandler(ReservationError)
def _reservation_error(e: ReservationError) -> Response:
    resp = _error(e.code, e.detail, {k: v for k, v in e.facts.items() if k != "until"})
    if isinstance(e.facts.get("until"), int):
        body = resp.get_json()
        body["error"]["until"] = e.facts["until"]
        resp.set_data(current_app.json.dumps(body))
    return resp


def _settings() -> ReservationSettings:
    return ReservationSettings.from_settings(current_app.config)


def _send(timeout: float) -> Any:
    from cloud.commands import send_command

    return lambda sid, type_, payload: send_command(sid, type_, payload, timeout=timeout)


@bp.post("/reservations")
def reservation_create() -> Any:
    body = _body(("gun_code", "minutes"), ("gun_code", "minutes"))
    settings = _settings()
    view = service.reserve(db.transaction, _send(settings.reserve_timeout_s), driver_id=principal().driver_id,
                           gun_code=body["gun_code"], minutes=body["minutes"], settings=settings)
    return jsonify(view), 201


@bp.get("/reservations")
def reservations_list() -> Any:
    q = query(("limit",))
    limit = integer(q, "limit", 1, 100, 20)
    assert limit is not None
    return jsonify({"reservations": service.list_mine(db.session, principal().driver_id, limit=limit)})


@bp.get("/reservations/terms")
def reservation_terms() -> Any:
    q = query(("gun_code", "minutes"))
    if "gun_code" not in q:
        from cloud.drivers.errors import InvalidField

        raise InvalidField("gun_code is required", field="gun_code")
    minutes = integer(q, "minutes", 1, 1440, None)
    return jsonify(service.terms(db.session, principal().driver_id, q["gun_code"], minutes))


@bp.get("/reservations/current")
def reservation_current() -> Any:
    view = service.current(db.session, principal().driver_id)
    if view is None:
        raise ReservationError("not_found", "no live reservation")
    return jsonify(view)


@bp.get("/reservations/<reservation_id>")
def reservation_get(reservation_id: str) -> Any:
    return jsonify(service.get_view(db.session, principal().driver_id, reservation_id))


@bp.post("/reservations/<reservation_id>/cancel")
def reservation_cancel(reservation_id: str) -> Any:
    _body((), optional=True)
    view = service.cancel(db.transaction, _send(_settings().reserve_timeout_s), driver_id=principal().driver_id,
                          reservation_id=reservation_id)
    return jsonify(view)
