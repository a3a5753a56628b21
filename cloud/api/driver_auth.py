"""Who calls a driver endpoint: a live driver token (`jcd_…`, from POST /api/v1/driver/login).

Routes under the `api.driver` blueprint (cloud/api/driver.py) get this instead of the tool
token check of cloud/api/__init__.py: a tool token (`jct_…`) is refused here, and a driver
token is refused everywhere else. `principal()` gives the view the caller.
"""

from __future__ import annotations

from flask import g, request

from cloud.api.auth import bearer
from cloud.db import db
from cloud.drivers import service
from cloud.drivers.errors import TokenInvalid
from cloud.models import now_ms

OPEN_DRIVER_ENDPOINTS = {"api.driver.login"}
# Views that check the token themselves, in the same statement as their read (the progress
# poll, cloud/api/driver_orders.py, with cloud.charging.progress.poll): the same rule
# (cloud.drivers.service.principal_of), one round trip fewer.
SELF_CHECKED_ENDPOINTS = {"api.driver.order_get"}
# Read-only views that go on reading in the token check's transaction: one connection
# checkout and one transaction per request (the progress poll, every 5 s per charging driver).
# Their writes, if any, use db.transaction as everywhere else.
SAME_READ_ENDPOINTS = {"api.driver.order_current"}


def bearer_token() -> str:
    """The request's bearer token (TokenInvalid without one)."""
    token = bearer(request.headers.get("Authorization"))
    if token is None:
        raise TokenInvalid("no bearer token")
    return token


def authenticated(who: service.Principal) -> None:
    """A self-checked view's caller, for principal()."""
    g.driver = who


def require_driver() -> None:
    if request.endpoint in OPEN_DRIVER_ENDPOINTS or request.endpoint in SELF_CHECKED_ENDPOINTS:
        return
    token = bearer_token()
    try:
        g.driver = service.authenticate(db.session, token, now_ms())
    except BaseException:
        db.session.rollback()
        raise
    if request.endpoint not in SAME_READ_ENDPOINTS:
        # end the read here: the view's writes start their own transactions
        db.session.rollback()


def principal() -> service.Principal:
    return g.driver  # type: ignore[no-any-return]
