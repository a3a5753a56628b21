"""Driver API: a trip planned with its charging stops (`POST /api/v1/driver/trips/plan`, on the
`api.driver` blueprint; the plain functions are cloud/trips/service.py). No plan is not an
error: the answer says `feasible: false` and why, in the driver's language."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify

from cloud.api.driver import _body, _error, bp, language
from cloud.db import db
from cloud.models import now_ms
from cloud.trips import service
from cloud.trips.service import TripError

_PLACES = {"zh-CN": ("出发地", "目的地"), "en": ("the origin", "the destination")}
# Why there is no plan (an answer, not an error: not in the error catalog), zh-CN and English.
REASONS = {
    "out_of_range": ("以 {soc_pct}% 电量从{from}出发，约 {range_km} 公里续航内没有可用的充电站："
                     "下一个（{next}）在 {next_km} 公里外。",
                     "No station within range of {range_km} km at {soc_pct} % SoC from {from}: "
                     "the next ({next}) is {next_km} km away."),
    "soc_below_minimum": ("当前电量 {soc_pct}% 已低于设定的最低电量 {min_pct}%，无法保证每次到达都不低于它。",
                          "The state of charge now ({soc_pct} %) is below the minimum you set "
                          "({min_pct} %): no plan keeps every arrival above it."),
    "excluded": ("（沿途另有 {n} 座充电站因离线、负荷受限或无电价未计入）",
                 " ({n} stations along the way were left out: offline, blocked by load or without a price)"),
}


@bp.errorhandler(TripError)
def _trip_error(e: TripError) -> Response:
    if e.code == "trip_router_failed":
        current_app.logger.warning("trip planning: %s", e.detail)
    resp = _error(e.code, e.detail, {})
    if e.facts.get("retryable"):
        resp.headers["Retry-After"] = "5"
    return resp


def reason_text(reason: dict[str, Any], lang: str) -> str:
    """The reason there is no plan, in `lang` (station names as the operator wrote them)."""
    origin, dest = _PLACES.get(lang, _PLACES["en"])
    pick = 0 if lang == "zh-CN" else 1
    facts = {**reason, "from": reason.get("from") or origin, "next": reason.get("next") or dest}
    text = REASONS[reason["code"]][pick].format(**facts)
    excluded = sum((reason.get("excluded") or {}).values())
    if excluded:
        text += REASONS["excluded"][pick].format(n=excluded)
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
