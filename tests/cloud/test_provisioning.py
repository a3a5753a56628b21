"""Provisioning over HTTPS: one-time tokens, expiry, CSR checks; the issued cert works on the broker."""

from __future__ import annotations

import json
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from flask import Flask
from werkzeug.serving import make_server

from cloud import create_app
from cloud.db import db
from cloud.migrate import upgrade
from cloud.pki.ca import cert_pem, key_pem, make_csr, new_key
from tests.support.broker import Broker, ClientCert


@dataclass
class Cloud:
    app: Flask
    url: str
    ctx: ssl.SSLContext

    def token(self, sid: str, ttl: int = 600) -> dict[str, Any]:
        result = self.app.test_cli_runner().invoke(args=["token", sid, "--ttl", str(ttl), "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    def provision(self, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + "/api/v1/provision", data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


@pytest.fixture
def cloud(broker: Broker, tmp_path: Path) -> Iterator[Cloud]:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite'}",
            "CA_DIR": str(broker.ca_dir),
            "BROKER_HOST": broker.host,
            "BROKER_PORT": broker.port,
        }
    )
    with app.app_context():
        upgrade(db.engine)
    server_id = broker.ca.new_server_identity()
    server_id.write(tmp_path / "https.crt", tmp_path / "https.key")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "https.crt", tmp_path / "https.key")
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(broker.ca_file))
    yield Cloud(app, f"https://127.0.0.1:{server.server_port}", client_ctx)
    server.shutdown()


def _csr(cn: str) -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization

    key = new_key()
    return key_pem(key), make_csr(cn, key).public_bytes(serialization.Encoding.PEM).decode()


def test_token_is_traded_once_for_a_certificate(cloud: Cloud, broker: Broker) -> None:
    tok = cloud.token("S1")
    key, csr = _csr("S1")
    status, body = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": csr, "sid": "S1"})
    assert status == 200, body
    cert = x509.load_pem_x509_certificate(body["cert_pem"].encode())
    assert body["sid"] == "S1" and cert.subject.rfc4514_string() == "CN=S1"
    assert body["ca_sha256"] == tok["ca_sha256"] == broker.ca.fingerprint
    assert body["ca_chain_pem"].encode() == cert_pem(broker.ca.cert)
    assert body["broker"] == {"host": broker.host, "port": broker.port}
    status, again = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": csr})
    assert (status, again["error"]["code"]) == (401, "token_used")


def test_expired_and_unknown_tokens_are_refused(cloud: Cloud) -> None:
    tok = cloud.token("S1", ttl=1)
    _, csr = _csr("S1")
    time.sleep(1.1)
    status, body = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": csr})
    assert (status, body["error"]["code"]) == (401, "token_expired")
    status, body = cloud.provision({"v": 1, "token": "made-up", "csr_pem": csr})
    assert (status, body["error"]["code"]) == (401, "token_invalid")


def test_csr_with_the_wrong_cn_is_refused_and_the_token_kept(cloud: Cloud) -> None:
    tok = cloud.token("S1")
    _, wrong = _csr("S2")
    status, body = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": wrong})
    assert (status, body["error"]["code"]) == (403, "csr_cn_mismatch")
    status, body = cloud.provision(
        {"v": 1, "token": tok["token"], "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nxx"}
    )
    assert (status, body["error"]["code"]) == (400, "invalid_csr")
    _, right = _csr("S1")
    status, _ = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": right})
    assert status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        {"token": "t", "csr_pem": "c"},
        {"v": 1, "csr_pem": "c"},
        {"v": 1, "token": "t"},
        {"v": 1, "token": 5, "csr_pem": "c"},
    ],
)
def test_malformed_requests_get_json_errors(cloud: Cloud, body: Any) -> None:
    status, resp = cloud.provision(body)
    assert status == 400 and resp["error"]["code"] == "invalid_request" and resp["error"]["message"]


def test_issued_certificate_connects_and_is_confined(
    cloud: Cloud, broker: Broker, tmp_path: Path
) -> None:
    tok = cloud.token("S7")
    key, csr = _csr("S7")
    status, body = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": csr})
    assert status == 200
    d = tmp_path / "gw"
    d.mkdir()
    (d / "station.crt").write_text(body["cert_pem"])
    (d / "station.key").write_bytes(key)
    from cloud.pki.ca import Identity

    ident = ClientCert(
        "S7", d / "station.crt", d / "station.key", Identity(key, body["cert_pem"].encode())
    )
    c = broker.connect(ident, "gw-S7")
    results: dict[int, str] = {}
    c.on_publish = lambda _c, _u, mid, rc, _p: results.__setitem__(mid, str(rc))
    own = c.publish("jc/v1/st/S7/up", b"{}", qos=1)
    other = c.publish("jc/v1/st/S1/up", b"{}", qos=1)
    own.wait_for_publish(5)
    other.wait_for_publish(5)
    deadline = time.monotonic() + 5
    while len(results) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (
        results[own.mid] in ("Success", "No matching subscribers")
        and results[other.mid] == "Not authorized"
    )
