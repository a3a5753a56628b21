"""JSON API blueprint (`/api/v1`): provisioning, stations for tools, and the driver API
(`/api/v1/driver/…`, the nested blueprint `api.driver`, cloud/api/driver.py). Errors are JSON."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from cloud.api import errors, provision, stations  # noqa: E402,F401  (routes register on import)
from cloud.api.auth import OPEN_ENDPOINTS, authenticate, bearer  # noqa: E402
from cloud.api.driver import bp as driver_bp  # noqa: E402

bp.register_blueprint(driver_bp)

# --- charging (stations, orders), wallet (wallet routes, the payment provider's callbacks),
# reservations of guns, battery swap, trip planning and recommendations: routes on the driver
# blueprint and the API blueprint, before any app registers them ---
from cloud.api import (  # noqa: E402,F401
    driver_community,
    driver_inbox,
    driver_orders,
    driver_recommend,
    driver_reservations,
    driver_sharing,
    driver_stations,
    driver_swap,
    driver_trips,
    driver_wallet,
    pay_notify,
)


@bp.before_request
def _require_token() -> None:
    """Every API call but health, the CA and provisioning carries a live API token."""
    from flask import g, request

    from cloud.api.errors import ApiError
    from cloud.db import db

    if request.endpoint in OPEN_ENDPOINTS:
        return
    if "api.driver" in request.blueprints:
        return  # drivers authenticate with their own tokens (cloud/api/driver_auth.py)
    token = bearer(request.headers.get("Authorization"))
    row = authenticate(db.session, token) if token else None
    if row is None:
        raise ApiError(
            401,
            "unauthorized",
            "send `Authorization: Bearer <token>` with a live API token (jc-cloud api-token create)",
        )
    g.api_token = row
