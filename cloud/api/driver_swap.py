"""Driver API: battery-swap stations near a point, one with its packs ready now and
predicted and its bookable slots, and the driver's swap bookings (book, follow, cancel).
Routes on the `api.driver` blueprint (cloud/api/driver.py); the plain functions are
cloud/swap/service.py. Refusals are SwapError, a ReservationError: the reservation routes'
error handler answers them."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from cloud.api.driver import _body, bp
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, number, query
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.swap import service
from cloud.swap.service import SwapError


@bp.get("/swap-stations")
def swap_stations_list() -> Any:
    q = query(("lat", "lng", "radius_m", "limit"))
    lat, lng = number(q, "lat", -90, 90), number(q, "lng", -180, 180)
    if (lat is None) != (lng is None):
        raise InvalidField("give lat and lng together", field="lat" if lat is None else "lng")
    radius = integer(q, "radius_m", 1, 200_000, 50_000)
    limit = integer(q, "limit", 1, 100, 50)
    assert radius is not None and limit is not None
    return jsonify({"stations": service.find(db.session, lat=lat, lng=lng, radius_m=radius, limit=limit)})


@bp.get("/swap-stations/<sid>")
def swap_station_get(sid: str) -> Any:
    query(())
    return jsonify(service.details(db.session, sid))


@bp.post("/swap-bookings")
def swap_booking_create() -> Any:
    body = _body(("sid", "type_code", "slot_start"), ("sid", "type_code", "slot_start"))
    view = service.book(db.transaction, driver_id=principal().driver_id, sid=body["sid"],
                        type_code=body["type_code"], slot_start=body["slot_start"])
    return jsonify(view), 201


@bp.get("/swap-bookings")
def swap_bookings_list() -> Any:
    q = query(("limit",))
    limit = integer(q, "limit", 1, 100, 20)
    assert limit is not None
    return jsonify({"bookings": service.list_mine(db.session, principal().driver_id, limit=limit)})


@bp.get("/swap-bookings/current")
def swap_booking_current() -> Any:
    view = service.current(db.session, principal().driver_id)
    if view is None:
        raise SwapError("not_found", "no live swap booking")
    return jsonify(view)


@bp.get("/swap-bookings/<booking_id>")
def swap_booking_get(booking_id: str) -> Any:
    return jsonify(service.get_view(db.session, principal().driver_id, booking_id))


@bp.post("/swap-bookings/<booking_id>/cancel")
def swap_booking_cancel(booking_id: str) -> Any:
    _body((), optional=True)
    return jsonify(service.cancel(db.transaction, driver_id=principal().driver_id, booking_id=booking_id))
