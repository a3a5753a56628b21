"""Provisioning over HTTPS: one-time tokens, expiry, CSR checks; the issued cert works on the
broker; re-provisioning and `jc-cloud revoke` take certificates back on the real broker."""

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
            "BROKER_CLOUD_PORT": broker.cloud_port,
            "BROKER_CA_FILE": str(broker.ca_file),
            "CLOUD_CERT_FILE": str(broker.cloud.cert_file),
            "CLOUD_KEY_FILE": str(broker.cloud.key_file),
            "BROKER_PID_FILE": str(broker.pid_file),
        }
    )
    with app.app_context():
        upgrade(db.engine)
    server_id = broker.pki.issuer("server").new_server_identity()
    server_id.write(tmp_path / "https.crt", tmp_path / "https.key")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "https.crt", tmp_path / "https.key")
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(broker.ca_file))
    yield Cloud(app, f"https://127.0.0.1:{server.server_port}", client_ctx)
    server.shutdown()
    publisher = app.extensions.get("jc_publisher")
    if publisher is not None:
        publisher.close()


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
    assert body["ca_sha256"] == tok["ca_sha256"] == broker.root_fingerprint
    # the chain: the station issuing CA (which signed the certificate), then the pinned root
    chain = x509.load_pem_x509_certificates(body["ca_chain_pem"].encode())
    assert [cert_pem(c) for c in chain] == [cert_pem(broker.ca.cert), broker.ca_file.read_bytes()]
    cert.verify_directly_issued_by(chain[0])
    chain[0].verify_directly_issued_by(chain[1])
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


def _provision(cloud: Cloud, broker: Broker, sid: str, where: Path) -> tuple[ClientCert, str]:
    from cloud.pki.ca import Identity

    tok = cloud.token(sid)
    key, csr = _csr(sid)
    status, body = cloud.provision({"v": 1, "token": tok["token"], "csr_pem": csr})
    assert status == 200, body
    where.mkdir(parents=True, exist_ok=True)
    (where / "station.crt").write_text(body["cert_pem"])
    (where / "station.key").write_bytes(key)
    ident = Identity(key, body["cert_pem"].encode())
    return ClientCert(sid, where / "station.crt", where / "station.key", ident), body["serial"]


def _reaches_cloud(broker: Broker, client: Any, sid: str) -> bool:
    """A record the station publishes arrives at a cloud subscriber."""
    watcher = broker.connect(broker.cloud, f"watch-{sid}-{time.monotonic_ns()}")
    got = threading.Event()
    watcher.on_message = lambda _c, _u, m: got.set()
    subscribed = threading.Event()
    watcher.on_subscribe = lambda *_a: subscribed.set()
    watcher.subscribe(f"jc/v1/st/{sid}/up", qos=1)
    assert subscribed.wait(5)
    client.publish(f"jc/v1/st/{sid}/up", b"{}", qos=1).wait_for_publish(5)
    ok = got.wait(3)
    watcher.disconnect()
    return ok


def _refused(broker: Broker, cert: ClientCert) -> bool:
    from tests.support.broker import ConnectRefused

    try:
        c = broker.connect(cert, cert.cn, timeout=3)
    except ConnectRefused:
        return True
    c.disconnect()
    return False


def _rows(cloud: Cloud, sid: str) -> list[dict[str, Any]]:
    from sqlalchemy import text

    with cloud.app.app_context():
        return [dict(r._mapping) for r in db.session.execute(
            text("SELECT serial, revoked_at, revoke_reason FROM issued_certs WHERE subject_cn = :s"),
            {"s": sid})]


def test_reprovisioning_revokes_the_old_certificate_on_the_broker(
    cloud: Cloud, broker: Broker, tmp_path: Path
) -> None:
    from cloud.pki.hierarchy import crl_serials

    old, old_serial = _provision(cloud, broker, "S8", tmp_path / "old")
    gw = broker.connect(old, "S8")
    gone = threading.Event()
    gw.on_disconnect = lambda *_a: gone.set()
    new, new_serial = _provision(cloud, broker, "S8", tmp_path / "new")
    # the old gateway connection is dropped, and its certificate no longer connects
    assert gone.wait(5)
    assert _refused(broker, old)
    assert int(old_serial, 16) in crl_serials(broker.pki.crl_file)
    assert int(new_serial, 16) not in crl_serials(broker.pki.crl_file)
    by_serial = {r["serial"]: r for r in _rows(cloud, "S8")}
    assert by_serial[old_serial]["revoke_reason"] == "superseded"
    assert by_serial[new_serial]["revoked_at"] is None
    assert _reaches_cloud(broker, broker.connect(new, "S8"), "S8")


def test_jc_cloud_revoke_takes_a_station_off_the_broker(
    cloud: Cloud, broker: Broker, tmp_path: Path
) -> None:
    cert, serial = _provision(cloud, broker, "S9", tmp_path / "s9")
    other, _ = _provision(cloud, broker, "S10", tmp_path / "s10")
    cloud_client = broker.connect(broker.cloud, "watcher")
    got: list[str] = []
    cloud_client.on_message = lambda _c, _u, m: got.append(m.topic)
    cloud_client.subscribe("jc/v1/st/#", qos=1)
    gw = broker.connect(cert, "S9")
    neighbour = broker.connect(other, "S10")
    gone = threading.Event()
    gw.on_disconnect = lambda *_a: gone.set()
    result = cloud.app.test_cli_runner().invoke(args=["revoke", "S9"])
    assert result.exit_code == 0, result.output
    assert serial in result.output and "warning" not in result.output
    assert gone.wait(5)
    time.sleep(1)
    assert not gw.is_connected() and _refused(broker, cert)
    assert [r["revoke_reason"] for r in _rows(cloud, "S9")] == ["keyCompromise"]
    # the other station is untouched
    neighbour.publish("jc/v1/st/S10/up", b"{}", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 5
    while "jc/v1/st/S10/up" not in got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "jc/v1/st/S10/up" in got and "jc/v1/st/S9/up" not in got
    # nothing left to revoke: a clear error
    again = cloud.app.test_cli_runner().invoke(args=["revoke", "S9"])
    assert again.exit_code != 0 and "no valid certificate" in again.output


def test_revoke_by_serial_keeps_the_stations_other_certificate(
    cloud: Cloud, broker: Broker, tmp_path: Path
) -> None:
    first, first_serial = _provision(cloud, broker, "S11", tmp_path / "a")
    # a second certificate for the same station, issued beside the first (not re-provisioned)
    from cloud.pki.registry import record_issued

    second = broker.new_station_cert("S11", "S11-second")
    with cloud.app.app_context(), db.transaction() as s:
        record_issued(s, second.identity.cert, "station")
    result = cloud.app.test_cli_runner().invoke(args=["revoke", "--serial", first_serial])
    assert result.exit_code == 0, result.output
    assert _refused(broker, first)
    # still registered on the broker (not removed): its records flow
    assert _reaches_cloud(broker, broker.connect(second, "S11"), "S11")


def test_the_answer_carries_the_highest_seq_the_cloud_holds(cloud: Cloud) -> None:
    """Revision 1.1: a replaced gateway's new store starts after high_seq."""
    from cloud.models import RawRecord

    _, csr = _csr("S1")
    status, body = cloud.provision({"v": 1, "token": cloud.token("S1")["token"], "csr_pem": csr})
    assert (status, body["high_seq"]) == (200, 0)
    with cloud.app.app_context():
        for seq in (1, 2, 3, 41):
            db.session.add(RawRecord(sid="S1", seq=seq, type="event", ts=1_767_225_600_000, payload={},
                                     flagged=False, received_at=0))
        db.session.add(RawRecord(sid="S2", seq=99, type="event", ts=1_767_225_600_000, payload={},
                                 flagged=False, received_at=0))
        db.session.commit()
    _, csr = _csr("S1")
    status, body = cloud.provision({"v": 1, "token": cloud.token("S1")["token"], "csr_pem": csr})
    assert (status, body["high_seq"]) == (200, 41)
