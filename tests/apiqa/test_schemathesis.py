"""Schemathesis against docs/api/cloud.openapi.yaml on the real app: every documented driver
operation (tag `drivers`, so routes other areas add are fuzzed as soon as the document has
them) gets generated requests, valid and invalid, through the WSGI app on a temporary
SQLite file with a logged-in driver's token (the fake WeChat login). No answer may be a
server error (a 500, or any 5xx but the documented 502/503 answers that name a state of an
upstream, WeChat unreachable or not configured), every answer must be a documented status
with a body and headers the document allows, and a request the document rules out must be
refused with a 4xx.

The example count is bounded (APIQA_EXAMPLES, default 6 per operation and mode) so that the
run stays well under a minute; raise it for a longer hunt:
`APIQA_EXAMPLES=500 python -m pytest tests/apiqa/test_schemathesis.py`.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.core.failures import ServerError
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.api.driver_messages import CATALOG
from cloud.fakes.server import FakeServer
from tests.apiqa.support import DRIVER_OPS, EXISTING
from tests.drivers_api.support import BASE, auth, token_of

SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "api" / "cloud.openapi.yaml"
EXAMPLES = int(os.environ.get("APIQA_EXAMPLES", "6"))
# 502/503 answers of the driver API that say something about an upstream, not a crash.
UPSTREAM_CODES = {code for code, entry in CATALOG.items() if entry[0] in (502, 503)}


def no_server_error(ctx: object, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """A 500 (an unexpected exception) is always a failure; another 5xx only passes as one of
    the API's own upstream answers (`UPSTREAM_CODES`; status_code_conformance checks that the
    operation documents it)."""
    code = None
    if response.status_code >= 500:
        try:
            code = json.loads(response.content)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
    if response.status_code >= 500 and (response.status_code == 500 or code not in UPSTREAM_CODES):
        raise ServerError(operation=case.operation.label, status_code=response.status_code)


CHECKS = [no_server_error, status_code_conformance, response_schema_conformance, content_type_conformance,
          response_headers_conformance, negative_data_rejection]

schema = schemathesis.openapi.from_path(SPEC_PATH)
# The token is ours (a real login), not a generated one: missing and forged tokens are
# tests/drivers_api's cases, and a generated token would stop every request at the door.
schema.config.generation.update(modes=["positive", "negative"], max_examples=EXAMPLES, database="none",
                                with_security_parameters=False)
drivers = schema.include(tag="drivers")

# Operations that end the caller's own session: each call gets a token of its own.
SPENDS_TOKEN = {("/api/v1/driver/logout", "post")}
_users = itertools.count()


# Operations that only get past "not set" once the driver has a payment password.
NEEDS_PASSWORD = {(f"{BASE}/payment-password", "put"), (f"{BASE}/payment-password/verify", "post")}
PASSWORD = "135790"


@dataclass
class Driver:
    headers: dict[str, str]
    password_set: bool = False


@pytest.fixture
def driver(sqlite_app: Flask, wechat: FakeServer) -> Driver:
    """A logged-in driver (one per operation under test)."""
    return Driver(auth(token_of(sqlite_app.test_client(), wechat, f"fuzz-{next(_users)}")))


@drivers.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=True)
def test_driver_operation_fuzzed(case: schemathesis.Case, sqlite_app: Flask, wechat: FakeServer,
                                 driver: Driver) -> None:
    op, headers = (case.path, case.method.lower()), driver.headers
    if op in NEEDS_PASSWORD and not driver.password_set:
        resp = sqlite_app.test_client().post(f"{BASE}/payment-password", json={"password": PASSWORD},
                                             headers=headers)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        driver.password_set = True
    if op in SPENDS_TOKEN:
        headers = auth(token_of(sqlite_app.test_client(), wechat, f"fuzz-{next(_users)}"))
    positive = case.meta is None or case.meta.generation.mode.is_positive
    if op == (f"{BASE}/login", "post") and positive and isinstance(case.body, dict) \
            and set(case.body) == {"code"} and next(_users) % 2:
        # A generated code only ever meets "invalid code": every other one becomes a real one.
        case.body["code"] = wechat.login.issue_code(f"fuzz-login-{next(_users)}")
    resp = case.call_and_validate(app=sqlite_app, headers=headers, checks=CHECKS)
    assert resp.status_code < 500


def test_every_driver_operation_is_fuzzed() -> None:
    """The parametrization above covers every documented driver operation, the existing ones
    at least: none is left out unseen."""
    fuzzed = {(r.ok().path, r.ok().method) for r in drivers.get_all_operations()}
    assert fuzzed == set(DRIVER_OPS)
    assert EXISTING <= fuzzed, EXISTING - fuzzed
