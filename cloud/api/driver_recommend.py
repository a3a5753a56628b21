"""Driver API: where to charge now (`GET /api/v1/driver/recommendations`, on the `api.driver`
blueprint): a view over cloud/recommend/service.py, reasons in the driver's language."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from cloud.api.driver import bp, language
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, number, query
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.models import now_ms
from cloud.recommend import service
from cloud.recommend.scorer import Situation

PARAMS = ("lat", "lng", "radius_m", "limit", "energy_kwh", "max_power_kw")


@bp.get("/recommendations")
def recommendations() -> Any:
    q = query(PARAMS)
    lat, lng = number(q, "lat", -90, 90), number(q, "lng", -180, 180)
    if lat is None or lng is None:
        raise InvalidField("lat and lng are required", field="lat" if lat is None else "lng")
    radius = integer(q, "radius_m", 100, 50_000, 10_000)
    limit = integer(q, "limit", 1, 50, 10)
    settings = service.RecommendSettings.from_settings(current_app.config)
    energy = number(q, "energy_kwh", 1, 200)
    car_kw = number(q, "max_power_kw", 1, 1000)
    assert radius is not None and limit is not None
    situation = Situation(lat, lng, now_ms(), round(energy * 1000) if energy else settings.energy_wh,
                          round(car_kw * 1000) if car_kw else None)
    lang = language()
    result = service.recommend(db.session, settings, str(principal().driver_id), situation,
                               radius_m=radius, limit=limit, lang=lang)
    resp = jsonify(result)
    resp.headers["Content-Language"] = lang
    resp.vary.add("Accept-Language")
    return resp
