"""Driver API: stations near a point, a station's details, a gun by its QR code (routes on the
`api.driver` blueprint, cloud/api/driver.py; the plain functions are cloud/stations/service.py)."""

from __future__ import annotations

import math
from typing import Any

from flask import current_app, jsonify, request

from cloud.api.driver import bp
from cloud.api.driver_auth import principal
from cloud.charging import service as charging
from cloud.charging.service import ChargingError, ChargingSettings
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.ledger import service as ledger
from cloud.models import now_ms
from cloud.sharing import service as sharing
from cloud.stations import service
from cloud.swap import service as swap

MAX_RADIUS_M = 100_000


def query(allowed: tuple[str, ...]) -> dict[str, str]:
    """The query string, with only `allowed` keys, each once."""
    out: dict[str, str] = {}
    for key in request.args:
        if key not in allowed:
            raise InvalidField(
                f"unknown parameter {key!r} (allowed: {', '.join(allowed)})", field=key
            )
        values = request.args.getlist(key)
        if len(values) != 1:
            raise InvalidField(f"{key} given more than once", field=key)
        out[key] = values[0]
    return out


def number(q: dict[str, str], key: str, low: float, high: float) -> float | None:
    if key not in q:
        return None
    try:
        v = float(q[key])
    except ValueError:
        raise InvalidField(f"{key} must be a number", field=key) from None
    if not math.isfinite(v) or not low <= v <= high:
        raise InvalidField(f"{key} must be {low:g}..{high:g}", field=key)
    return v


def integer(q: dict[str, str], key: str, low: int, high: int, default: int | None) -> int | None:
    if key not in q:
        return default
    raw = q[key]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidField(f"{key} must be a whole number {low}..{high}", field=key)
    v = int(raw)
    if not low <= v <= high:
        raise InvalidField(f"{key} must be a whole number {low}..{high}", field=key)
    return v


@bp.get("/stations")
def stations_list() -> Any:
    q = query(("lat", "lng", "radius_m", "limit", "free", "shared"))
    lat, lng = number(q, "lat", -90, 90), number(q, "lng", -180, 180)
    if (lat is None) != (lng is None):
        raise InvalidField("give lat and lng together", field="lat" if lat is None else "lng")
    radius = integer(q, "radius_m", 1, MAX_RADIUS_M, 20_000)
    limit = integer(q, "limit", 1, 100, 50)
    free = q.get("free", "0")
    if free not in ("0", "1", "true", "false"):
        raise InvalidField("free: 1 or 0", field="free")
    shared = q.get("shared", "0")
    if shared not in ("0", "1", "true", "false"):
        raise InvalidField("shared: 1 or 0", field="shared")
    assert radius is not None and limit is not None
    # "shared, open now": stations with a private pile open to others at this moment
    only = sharing.open_sids(db.session, now_ms()) if shared in ("1", "true") else None
    views = service.find(
        db.session,
        lat=lat,
        lng=lng,
        radius_m=radius,
        limit=limit,
        free_only=free in ("1", "true"),
        only=only,
    )
    # A swap station is in the archive like any station but has no guns: marked, with its
    # bays and packs, so the finder links its swap page instead of showing it as 0 guns.
    marks = swap.finder_marks(db.session, [v["sid"] for v in views])
    for v in views:
        v["kind"] = "swap" if v["sid"] in marks else "charging"
        if v["sid"] in marks:
            v["swap"] = marks[v["sid"]]
    return jsonify({"stations": views})


@bp.get("/stations/<sid>")
def station_get(sid: str) -> Any:
    view = service.station_details(db.session, sid) if len(sid) <= 64 else None
    if view is None:
        raise ChargingError("not_found", f"no station {sid!r}")
    shared = sharing.marks(db.session, sid)  # a private pile: open to others now or not
    for g in view["guns"]:
        g["shared"] = shared.get(g["gun"])
    return jsonify(view)


@bp.get("/guns/<code>")
def gun_get(code: str) -> Any:
    s = db.session
    gun = service.gun_by_code(s, code)
    if gun is None:
        raise ChargingError("gun_not_found", "no gun with that code")
    settings = ChargingSettings.from_settings(current_app.config)
    station = service.station_brief(s, gun.sid)
    gv = service.gun_view(s, gun.sid, gun.gun_id)
    assert station is not None and gv is not None
    did = principal().driver_id
    b = ledger.balances(s, str(did))
    balance = b.available
    price_now = station["price_now"]
    wh = None
    if price_now:
        # billed as the bill bills it (each line rounded half up): what a start by amount of
        # the whole balance would deliver at this price
        wh = charging.energy_for_fen(max(0, balance - b.debt), price_now["energy_price_e4"],
                                     price_now["service_price_e4"])
    has_pw = charging.has_payment_password(s, did)
    return jsonify(
        {
            "station": {
                k: station[k]
                for k in ("sid", "name", "address", "online", "load_level", "limiting")
            },
            "gun": {
                **{
                    k: gv[k]
                    for k in (
                        "gun",
                        "code",
                        "name",
                        "kind",
                        "state",
                        "free",
                        "rated_power_w",
                        "power_w",
                    )
                },
                "shared": sharing.marks(s, gun.sid).get(gun.gun_id),
            },
            "wallet": {"balance_fen": balance, "debt_fen": b.debt},
            "price_now": price_now,
            "price_next": station["price_next"],
            "energy_wh_for_balance": wh,
            "presets_fen": list(settings.presets_fen),
            "payment_password_set": has_pw,
            "payment_password_required_above_fen": settings.paypw_above_fen if has_pw else None,
            "time": now_ms(),
        }
    )
