"""Driver API: a trip planned with its charging stops (`POST /api/v1/driver/trips/plan`, on the
`api.driver` blueprint; the plain functions are cloud/trips/service.py). No plan is not an
error: the answer says `feasible: false` and why, in the driver's language."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from cloud.api.driver import _body, _error, bp, language
from cloud.api.driver_messages import message
from cloud.db import db
from cloud.models import now_ms
from cloud.trips import service
from cloud.trips.service import TripError

_PLACES = {"zh-CN": ("出发地", "目的地"), "en": ("the origin", "the destination")}


@bp.errorhandler(TripError)
def _trip_error(e: TripError) -> Response:
    if e.code == "trip_router_failed":
        current_app.logger.warning("trip planning: %s", e.detail)
    resp = _error(e.code, e.detail, {"km": e.facts.get("km", 5)})
    if e.facts.get("retryable"):
        resp.headers["Retry-After"] = "5"
    return resp


def reason_text(reason: dict[str, Any], lang: str) -> str:
    """The reason there is no plan, in `lang` (station names as the operator wrote them)."""
    origin, dest = _PLACES.get(lang, _PLACES["en"])
    code = f"trip_{reason['code']}"
    facts = {**{k: v for k, v in reason.items() if k != "code"}, "from": reason.get("from") or origin,
             "next": reason.get("next") or dest}
    text = message(code, lang, **facts)
    excluded = sum((reason.get("excluded") or {}).values())
    if excluded:
        text += message("trip_excluded", lang, n=excluded)
    return text


@bp.post("/trips/plan")
def trip_plan() -> Any:
    body = _body(service.BODY_KEYS, ("origin", "destination", "car", "soc_pct"))
    settings = service.TripSettings.from_settings(current_app.config)
    result = service.plan_trip(db.session, settings, body, now_ms())
    lang = language()
    if not result["feasible"]:
        result["reason"]["message"] = reason_text(result["reason"], lang)
    resp = jsonify(result)
    resp.headers["Content-Language"] = lang
    resp.vary.add("Accept-Language")
    return resp
