"""Hostile input to the wallet routes and the callbacks: any JSON body, any query, any header
gets a documented 4xx (or success), never a server error."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.fakes.server import FakeServer
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.wallet.support import BASE, auth, error_code, login

CHECK = ResponseChecker(load_spec("cloud"))
ROUTES = [("POST", f"{BASE}/wallet/recharges"), ("POST", f"{BASE}/wallet/refunds")]
FIELDS = ["amount_fen", "payment_password", "x"]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
                      max_leaves=8)
bodies = values | st.dictionaries(st.sampled_from(FIELDS), values | st.integers(-10, 600_000)
                                  | st.from_regex(r"[0-9]{6}", fullmatch=True), max_size=3)
SLOW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _token(app: Flask, client: FlaskClient, fake: FakeServer) -> str:
    if "_wallet_token" not in app.config:
        app.config["_wallet_token"] = login(client, fake, "fuzz")[0]
    return str(app.config["_wallet_token"])


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@SLOW
@given(route=st.sampled_from(ROUTES), body=bodies, lang=st.sampled_from([None, "en"]))
def test_any_body_gets_a_documented_answer(app: Flask, client: FlaskClient, fake: FakeServer,
                                           route: tuple[str, str], body: Any, lang: str | None) -> None:
    method, path = route
    resp = client.open(path, method=method, data=json.dumps(body), content_type="application/json",
                       headers=auth(_token(app, client, fake), lang))
    assert resp.status_code < 500, (body, resp.status_code, resp.data[:300])
    CHECK(path=path, method=method, status=resp.status_code, content_type=resp.content_type,
          body=resp.get_json(silent=True))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@SLOW
@given(path=st.text(max_size=30), query=st.dictionaries(st.sampled_from(["limit", "before", "x"]),
                                                         st.text(max_size=12), max_size=3))
def test_any_id_and_query_gets_a_documented_answer(app: Flask, client: FlaskClient, fake: FakeServer,
                                                   path: str, query: dict[str, str]) -> None:
    h = auth(_token(app, client, fake))
    for url, doc in ((f"{BASE}/wallet/recharges/x{quote(path, safe='')}", f"{BASE}/wallet/recharges/{{recharge_id}}"),
                     (f"{BASE}/wallet/recharges", None), (f"{BASE}/wallet/statement", None),
                     (f"{BASE}/wallet/refunds", None)):
        resp = client.get(url, query_string=query, headers=h)
        assert resp.status_code < 500, (url, query, resp.status_code)
        CHECK(path=doc or url, method="get", status=resp.status_code, content_type=resp.content_type,
              body=resp.get_json(silent=True))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@SLOW
@given(body=st.binary(max_size=300) | values.map(lambda v: json.dumps(v).encode()),
       headers=st.dictionaries(st.sampled_from(["Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature",
                                                "Wechatpay-Serial", "Wechatpay-Signature-Type"]),
                               st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
       kind=st.sampled_from(["notify", "refund-notify", "transfer-notify"]))
def test_any_callback_is_refused_cleanly(app: Flask, client: FlaskClient, body: bytes, headers: dict[str, str],
                                         kind: str) -> None:
    resp = client.post(f"/api/v1/pay/wechat/{kind}", data=body, headers={"Content-Type": "application/json",
                                                                          **headers})
    assert resp.status_code in (400, 401), (resp.status_code, resp.data)
    assert json.loads(resp.data)["code"] == "FAIL"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_refused_field_is_named_for_what_it_is_in_chinese(app: Flask, client: FlaskClient,
                                                             fake: FakeServer) -> None:
    """The zh-CN message names the field as the route means it: a refund's amount is no
    withdrawal (提现), a page size no charging mode (充电方式)."""
    h = auth(_token(app, client, fake))
    said = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": "ten"}, headers=h).json["error"]
    assert said["field"] == "amount_fen" and "提现" not in said["message"] and "金额" in said["message"], said
    for path in ("/orders?limit=0", "/wallet/statement?limit=0", "/messages?limit=0"):
        said = client.get(f"{BASE}{path}", headers=h).json["error"]
        assert said["field"] == "limit" and "充电方式" not in said["message"] and "条数" in said["message"], said
    said = client.post(f"{BASE}/orders", json={"gun_code": "G", "limit": 5}, headers=h).json["error"]
    assert said["field"] == "limit" and "充电方式" in said["message"], said  # a start's limit is one


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_query_number_of_thousands_of_digits_is_a_400(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    """Python refuses to read an integer of more than 4300 digits (ValueError): a query of
    that many digits is refused as any other bad number, never a 500."""
    h = auth(_token(app, client, fake))
    for digits in ("9" * 4301, "1" * 10_000):
        for path, name in (("/wallet/statement", "before"), ("/wallet/statement", "limit"),
                           ("/wallet/recharges", "limit"), ("/wallet/refunds", "limit")):
            resp = client.get(f"{BASE}{path}", query_string={name: digits}, headers=h)
            assert (resp.status_code, resp.json["error"]["code"], resp.json["error"]["field"]) == \
                (400, "invalid_request", name), (path, name, len(digits))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("path", ["/wallet/recharges", "/wallet/refunds", "/wallet/statement"])
def test_the_wallet_lists_refuse_unknown_and_repeated_parameters(client: FlaskClient, fake: FakeServer,
                                                                  path: str) -> None:
    """As every other list of the driver API (orders, stations, messages) does."""
    token, _ = login(client, fake, "params")
    assert client.get(f"{BASE}{path}?limit=5", headers=auth(token)).status_code == 200
    for q in ("?page=2", "?limit=5&limit=6", "?Limit=5"):
        r = client.get(f"{BASE}{path}{q}", headers=auth(token))
        assert r.status_code == 400 and error_code(r) == "invalid_request", (q, r.json)
