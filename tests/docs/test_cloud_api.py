"""docs/api/cloud.openapi.yaml against the Flask app (test client): every path and method
answers, and every answer, errors included, validates against the documented schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from cloud import create_app
from cloud.db import db
from cloud.migrate import upgrade
from cloud.models import StationSeq, StationState
from cloud.models.security import ProvisioningToken
from cloud.pki.ca import make_csr, new_key
from cloud.pki.hierarchy import Pki
from tests.docs.openapi_support import ResponseChecker, load_spec, operations

TELEMETRY = {"v": 1, "ts": 1767225600000,
             "transformer": {"load_pct": 42.5, "s_total_va": 68000, "p_total_w": 66640, "level": "normal"},
             "guns": [{"id": "P1-1", "state": "charging", "power_w": 7000, "limit_w": 7000,
                       "energy_wh": 123456, "session_id": None, "soc": None}]}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    # no broker here: its access control is someone else's ("external") in this test
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
                      "CA_DIR": str(tmp_path / "ca"), "BROKER_HOST": "mqtt.example.cn", "BROKER_PORT": 8883,
                      "BROKER_ACCESS_CONTROL": "external"})
    with app.app_context():
        upgrade(db.engine)
    return app


def csr(cn: str) -> str:
    return make_csr(cn, new_key()).public_bytes(serialization.Encoding.PEM).decode()


def token(app: Flask, sid: str) -> str:
    result = app.test_cli_runner().invoke(args=["token", sid, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["token"]


class Exercise:
    def __init__(self, client: FlaskClient, check: ResponseChecker) -> None:
        self.client, self.check = client, check

    def __call__(self, method: str, path: str, expect: int, doc_path: str | None = None, **kw: Any) -> Any:
        resp = self.client.open(path, method=method, **kw)
        body = resp.get_json(silent=True)
        assert resp.status_code == expect, f"{method} {path}: {resp.status_code} {resp.data[:300]!r}"
        self.check(path=doc_path or path, method=method, status=resp.status_code,
                   content_type=resp.content_type, body=body)
        return body


def test_every_documented_operation_answers_as_documented(app: Flask, tmp_path: Path) -> None:
    spec = load_spec("cloud")
    check = ResponseChecker(spec)
    x = Exercise(app.test_client(), check)
    prov = "/api/v1/provision"

    # before `jc-cloud ca init`
    assert x("GET", "/api/v1/ca", 503)["error"]["code"] == "ca_unavailable"
    assert x("POST", prov, 503, json={"v": 1, "token": "t", "csr_pem": "c"})["error"]["code"] == "ca_unavailable"

    ca = Pki.init(tmp_path / "ca")
    got = x("GET", "/api/v1/ca", 200)
    assert got["ca_sha256"] == ca.root_fingerprint

    for bad in ({"token": "t", "csr_pem": "c"}, {"v": True, "token": "t", "csr_pem": "c"},
                {"v": 1, "csr_pem": "c"}, {"v": 1, "token": 5, "csr_pem": "c"}, {"v": 1, "token": "t", "csr_pem": ""},
                {"v": 1, "token": "t", "csr_pem": "c", "sid": ""}):
        assert x("POST", prov, 400, json=bad)["error"]["code"] == "invalid_request"
    assert x("POST", prov, 400, data=b"not json", content_type="application/json")["error"]["code"] == "invalid_request"
    assert x("POST", prov, 401, json={"v": 1, "token": "made-up", "csr_pem": csr("S1")})["error"]["code"] == "token_invalid"

    tok = token(app, "S1")
    assert x("POST", prov, 401, json={"v": 1, "token": tok, "csr_pem": csr("S1"), "sid": "S2"})["error"]["code"] == "token_invalid"
    assert x("POST", prov, 400, json={"v": 1, "token": tok, "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nxx"}
             )["error"]["code"] == "invalid_csr"
    assert x("POST", prov, 403, json={"v": 1, "token": tok, "csr_pem": csr("S2")})["error"]["code"] == "csr_cn_mismatch"
    ok = x("POST", prov, 200, json={"v": 1, "token": tok, "csr_pem": csr("S1"), "sid": "S1"})
    assert ok["sid"] == "S1" and ok["broker"] == {"host": "mqtt.example.cn", "port": 8883}
    assert ok["ca_sha256"] == ca.root_fingerprint
    assert x("POST", prov, 401, json={"v": 1, "token": tok, "csr_pem": csr("S1")})["error"]["code"] == "token_used"

    old = token(app, "S3")
    with app.app_context(), db.transaction() as s:
        s.execute(update(ProvisioningToken).where(ProvisioningToken.sid == "S3").values(expires_at=1))
    assert x("POST", prov, 401, json={"v": 1, "token": old, "csr_pem": csr("S3")})["error"]["code"] == "token_expired"

    assert x("GET", "/api/v1/health", 200) == {"ok": True}

    # everything else wants an API token: none, a made-up one, a revoked one
    runner = app.test_cli_runner()
    revoked = json.loads(runner.invoke(args=["api-token", "create", "old", "--json"]).output)["token"]
    assert runner.invoke(args=["api-token", "revoke", "old"]).exit_code == 0
    for headers in ({}, {"Authorization": "Bearer jct_made-up"}, {"Authorization": f"Bearer {revoked}"},
                    {"Authorization": f"Basic {revoked}"}):
        resp = app.test_client().get("/api/v1/stations", headers=headers)
        check(path="/api/v1/stations", method="get", status=resp.status_code, content_type=resp.content_type,
              body=resp.get_json())
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert resp.get_json()["error"]["code"] == "unauthorized"
    live = json.loads(runner.invoke(args=["api-token", "create", "docs", "--json"]).output)["token"]
    x.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {live}"

    # S1 and S3 are known from their tokens; S1 has also sent state and telemetry
    listed = x("GET", "/api/v1/stations", 200)["stations"]
    assert [s["sid"] for s in listed] == ["S1", "S3"] and listed[0]["online"] is False
    x("GET", "/api/v1/stations/S1", 200, doc_path="/api/v1/stations/{sid}")
    with app.app_context(), db.transaction() as s:
        s.add(StationState(sid="S1", online=True, state_ts=1767225500000, fw="0.1.0", cfg_rev="3",
                           last_seen=1767225600500, telemetry=TELEMETRY, telemetry_ts=TELEMETRY["ts"]))
        s.add(StationSeq(sid="S1", acked_seq=42))
    one = x("GET", "/api/v1/stations/S1", 200, doc_path="/api/v1/stations/{sid}")
    assert one["online"] is True and one["acked_seq"] == 42 and one["telemetry"] == TELEMETRY
    x("GET", "/api/v1/stations", 200)
    assert x("GET", "/api/v1/stations/NOPE", 404, doc_path="/api/v1/stations/{sid}")["error"]["code"] == "unknown_station"

    # an unknown path and a wrong method under /api/: the same error shape
    client = app.test_client()
    for method, path, code, name in (("GET", "/api/v1/nothing-here", 404, "not_found"),
                                     ("GET", prov, 405, "method_not_allowed"),
                                     ("POST", "/api/v1/stations", 405, "method_not_allowed")):
        resp = client.open(path, method=method)
        assert resp.status_code == code and resp.content_type == "application/json"
        check.component("Error", resp.get_json())
        assert resp.get_json()["error"]["code"] == name

    # the document's security: a bearer scheme, required except where the app leaves it open
    from cloud.api.auth import OPEN_ENDPOINTS

    assert spec["components"]["securitySchemes"]["apiToken"] == {**spec["components"]["securitySchemes"]["apiToken"],
                                                                "type": "http", "scheme": "bearer"}
    assert spec["security"] == [{"apiToken": []}]
    open_ops = {op["operationId"] for p in spec["paths"].values() for op in p.values()
                if isinstance(op, dict) and op.get("security") == []}
    assert open_ops == {"getCa", "provision", "health", "driverLogin", "wechatPayNotify", "wechatRefundNotify",
                        "wechatTransferNotify"}
    assert {app.view_functions[e].__name__ for e in OPEN_ENDPOINTS} == {"ca_certificate", "provision", "health",
                                                                       "wechat_pay_notify", "wechat_refund_notify",
                                                                       "wechat_transfer_notify"}
    for path, method in operations(spec):
        op = spec["paths"][path][method]
        if op.get("security") != []:
            assert "401" in op["responses"], f"{method} {path} wants a token but documents no 401"

    # the driver routes (tag `drivers`, driver tokens) are walked through, each answer checked
    # against this document, in tests/drivers_api/test_openapi.py
    # and the payment provider's callbacks (tag `payments`) in tests/wallet/test_openapi.py
    # (the transfer callback in tests/sharing/test_transfer_notify.py)
    for path, method in operations(spec):
        if {"drivers", "payments"} & set(spec["paths"][path][method].get("tags", [])):
            continue
        ok_codes = {int(c) for c in spec["paths"][path][method]["responses"] if c.startswith("2")}
        assert any((path, method, c) in check.seen for c in ok_codes), f"{method.upper()} {path}: no success seen"
