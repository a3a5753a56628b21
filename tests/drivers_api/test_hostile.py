"""Hostile input to every driver route gets a clear 4xx in the documented shape, never a
500: any JSON value (hypothesis), bodies that are not JSON, the wrong content type,
oversized and deeply nested bodies, odd Unicode, odd headers."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.fakes.server import FakeServer
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.drivers_api.support import BASE, auth, error_code, token_of

CHECK = ResponseChecker(load_spec("cloud"))
ROUTES = [("POST", f"{BASE}/login"), ("POST", f"{BASE}/logout"), ("GET", f"{BASE}/me"), ("PATCH", f"{BASE}/me"),
          ("POST", f"{BASE}/payment-password"), ("PUT", f"{BASE}/payment-password"),
          ("POST", f"{BASE}/payment-password/verify")]
FIELDS = ["code", "everywhere", "nickname", "avatar_url", "phone", "password", "old_password", "new_password"]

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                      max_leaves=12)
bodies = values | st.dictionaries(st.sampled_from(FIELDS), values | st.from_regex(r"[0-9]{6}", fullmatch=True)
                                  | st.from_regex(r"(\+86)?1[3-9][0-9]{9}", fullmatch=True), max_size=4)


def _checked(resp: Any, method: str, path: str) -> None:
    assert resp.status_code < 500, (method, path, resp.status_code, resp.get_data(as_text=True)[:300])
    CHECK(path=path, method=method, status=resp.status_code, content_type=resp.content_type,
          body=resp.get_json(silent=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(route=st.sampled_from(ROUTES), body=bodies, lang=st.sampled_from([None, "en", "zh-CN"]))
def test_any_json_body_gets_a_documented_answer(app: Flask, client: FlaskClient, wechat: FakeServer,
                                                route: tuple[str, str], body: Any, lang: str | None) -> None:
    method, path = route
    token = _token(app, client, wechat)
    headers = auth(token, lang)
    resp = client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                       headers=headers)
    _checked(resp, method, path)


def _token(app: Flask, client: FlaskClient, wechat: FakeServer) -> str:
    # one driver per app (the test's examples share it); logged in again if a body logged it out
    tok = app.config.get("_test_token")
    if tok is None or client.get(f"{BASE}/me", headers=auth(tok)).status_code != 200:
        tok = token_of(client, wechat, "fuzz")
        app.config["_test_token"] = tok
    return str(tok)


def test_bodies_that_are_not_json_objects(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    h = auth(token_of(client, wechat, "alice"))
    raw_bodies = [
        (b"", "application/json"), (b"not json", "application/json"), (b"{\"a\": }", "application/json"),
        (b"\xff\xfe\x00", "application/json"), (b"[" * 50_000 + b"]" * 50_000, "application/json"),
        (b"[" * 5_000 + b"]" * 5_000, "application/json"), (b'{"nickname": "x"}', "text/plain"),
        (b"nickname=x", "application/x-www-form-urlencoded"), (b'{"nickname": "x"}', "multipart/form-data"),
        (b"NaN", "application/json"), (b'{"phone": 1e999}', "application/json"),
        (b'{"nickname": "\\ud800"}', "application/json"), (b'{"nickname": "x", "nickname": 5}', "application/json"),
        (b"1" * 10_000, "application/json"), (b'"' + b"a" * 15_000 + b'"', "application/json"),
    ]
    for method, path in ROUTES:
        if method == "GET":
            continue
        for raw, ctype in raw_bodies:
            if path.endswith("/logout") and raw == b"":
                continue  # no body is a valid logout
            resp = client.open(path, method=method, data=raw, content_type=ctype, headers=h)
            _checked(resp, method, path)
            assert resp.status_code in (400, 413), (path, raw[:40], ctype, resp.status_code)
            assert error_code(resp) in ("invalid_request", "payload_too_large", "phone_invalid")
    # none of it logged the driver out or changed anything
    resp = client.patch(f"{BASE}/me", data=b"[" * 50_000 + b"]" * 50_000, content_type="application/json", headers=h)
    assert error_code(resp) == "payload_too_large"
    resp = client.patch(f"{BASE}/me", data=b"[" * 5_000 + b"]" * 5_000, content_type="application/json", headers=h)
    assert error_code(resp) == "invalid_request"
    assert client.get(f"{BASE}/me", headers=h).json["nickname"] is None


def test_odd_headers_and_methods(client: FlaskClient, wechat: FakeServer) -> None:
    tok = token_of(client, wechat, "alice")
    for headers in ({"Authorization": "Bearer " + tok + "\u00e9"}, {"Authorization": "Bearer \x00"},
                    {"Authorization": "Bearer " + "jcd_" + "x" * 10_000}, {"Authorization": "Bearer  " + tok + " "},
                    {"Accept-Language": "x" * 5000}, {"Authorization": "Bearer"}):
        resp = client.get(f"{BASE}/me", headers=headers)
        assert resp.status_code in (200, 401), (headers, resp.status_code)
        CHECK(path=f"{BASE}/me", method="get", status=resp.status_code, content_type=resp.content_type,
              body=resp.get_json())
    for method, path in (("DELETE", f"{BASE}/me"), ("GET", f"{BASE}/login"), ("PUT", f"{BASE}/payment-password/verify")):
        resp = client.open(path, method=method, headers=auth(tok))
        assert resp.status_code == 405 and error_code(resp) == "method_not_allowed"
    resp = client.get(f"{BASE}/nothing", headers=auth(tok))
    assert resp.status_code == 404 and error_code(resp) == "not_found"


def test_a_name_given_twice_is_refused_not_resolved(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    """JSON with one name twice in an object means what the reader decides (the first, the
    last, either): a proxy or client reading the other one would see another amount or
    name. Refused whole, at any depth, with the name; nothing changed. NaN and Infinity are
    not JSON (RFC 8259) either."""
    h = auth(token_of(client, wechat, "alice"))
    for raw, field in ((b'{"nickname": "a", "nickname": "b"}', "nickname"),
                       (b'{"nickname": "a", "phone": null, "phone": "13800138000"}', "phone")):
        resp = client.patch(f"{BASE}/me", data=raw, content_type="application/json", headers=h)
        assert (resp.status_code, error_code(resp), resp.json["error"].get("field")) == (400, "invalid_request", field)
    resp = client.post(f"{BASE}/orders", headers=h, content_type="application/json",
                       data=b'{"gun_code": "G1", "limit": {"mode": "amount", "value": 100, "value": 500000}}')
    assert (resp.status_code, error_code(resp), resp.json["error"].get("field")) == (400, "invalid_request", "value")
    for raw in (b'{"nickname": NaN}', b'{"nickname": "a", "x": Infinity}', b'{"nickname": -Infinity}'):
        resp = client.patch(f"{BASE}/me", data=raw, content_type="application/json", headers=h)
        assert (resp.status_code, error_code(resp)) == (400, "invalid_request"), raw
        assert "field" not in resp.json["error"]  # the body as a whole is not JSON
    assert client.get(f"{BASE}/me", headers=h).json["nickname"] is None
