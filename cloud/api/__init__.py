"""JSON API blueprint (`/api/v1`): provisioning now; the driver API later. Errors are JSON."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from cloud.api import errors, provision, stations  # noqa: E402,F401  (routes register on import)
from cloud.api.auth import OPEN_ENDPOINTS, authenticate, bearer  # noqa: E402


@bp.before_request
def _require_token() -> None:
    """Every API call but health, the CA and provisioning carries a live API token."""
    from flask import g, request

    from cloud.api.errors import ApiError
    from cloud.db import db

    if request.endpoint in OPEN_ENDPOINTS:
        return
    token = bearer(request.headers.get("Authorization"))
    row = authenticate(db.session, token) if token else None
    if row is None:
        raise ApiError(
            401,
            "unauthorized",
            "send `Authorization: Bearer <token>` with a live API token (jc-cloud api-token create)",
        )
    g.api_token = row
