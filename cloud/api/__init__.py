"""JSON API blueprint (`/api/v1`): provisioning now; the driver API later. Errors are JSON."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from cloud.api import errors, provision, stations  # noqa: E402,F401  (routes register on import)
