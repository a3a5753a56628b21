"""docs/api/gateway.openapi.yaml against a real `jc-gateway run` on the simulator: every path
and method answers, and every answer (successes and errors) validates against the schema the
document gives for its status code."""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.docs.openapi_support import ResponseChecker, load_spec, operations
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

CARD = "0A1B2C3D"


def call(gw: GatewayProcess, method: str, path: str, body: Any = None, raw: bytes | None = None,
         token: str | None = None, extra: dict[str, str] | None = None) -> tuple[int, str, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": "application/json", **({"X-JC-Token": token} if token else {}), **(extra or {})}
    req = urllib.request.Request(gw.url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            status, ctype, payload = resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as exc:
        status, ctype, payload = exc.code, exc.headers.get("Content-Type", ""), exc.read()
    if ctype.startswith("application/json"):
        return status, ctype, json.loads(payload)
    return status, ctype, payload.decode("utf-8")


class Exercise:
    """Calls the gateway and checks each answer against the document."""

    def __init__(self, gw: GatewayProcess, check: ResponseChecker) -> None:
        self.gw, self.check = gw, check

    def __call__(self, method: str, path: str, expect: int, body: Any = None, raw: bytes | None = None,
                 doc_path: str | None = None) -> Any:
        status, ctype, payload = call(self.gw, method, path, body, raw)
        assert status == expect, f"{method} {path}: {status} {payload!r}, expected {expect}"
        self.check(path=doc_path or path.split("?")[0], method=method, status=status, content_type=ctype,
                   body=payload)
        return payload


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec("gateway")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    with SimProcess("test") as sim, GatewayProcess(sim, tmp_path_factory.mktemp("gw"), cards=[CARD]) as gw:
        gw.sim = sim  # type: ignore[attr-defined]
        gw.wait(lambda s: s["guns"] and all(g["state"] == "available" for g in s["guns"])
                and s["meter"]["s_total_va"] is not None, what="all guns identified, meter read")
        yield gw


def test_every_documented_operation_answers_as_documented(gateway: GatewayProcess, spec: dict[str, Any]) -> None:
    gw, sim = gateway, gateway.sim  # type: ignore[attr-defined]
    check = ResponseChecker(spec)
    x = Exercise(gw, check)

    page = x("GET", "/", 200)
    assert "<html" in page and "api/status" in page

    st = x("GET", "/api/status", 200)
    assert st["sync"] == {"configured": False}
    assert {g["id"] for g in st["guns"]} == {"P1-1", "P2-1", "P3-1", "P3-2"}
    assert st["meter"]["voltages_v"] is not None and st["load"]["load_pct"] is not None

    events = x("GET", "/api/events", 200)
    assert events and {"load_level", "gun_state"} <= {e["kind"] for e in events}
    assert len(x("GET", "/api/events?limit=2", 200)) == 2
    assert len(x("GET", "/api/events?limit=0", 200)) == 1          # clamped to 1..500
    assert x("GET", "/api/events?limit=many", 400)["error"] == "invalid"

    start = "/api/sessions/start"
    assert x("POST", start, 400, raw=b"not json")["error"] == "invalid"
    assert x("POST", start, 400, body=["P1-1"])["error"] == "invalid"
    assert x("POST", start, 400, body={"gun": "P9-1", "card": CARD})["error"] == "unknown_gun"
    assert x("POST", start, 400, body={"gun": "P1-1"})["error"] == "invalid"
    assert x("POST", start, 400, body={"gun": "P1-1", "card": "has space"})["error"] == "invalid"
    assert x("POST", start, 400, body={"gun": "P1-1", "card": CARD, "limit": {"mode": "kwh"}})["error"] == "invalid"
    # orderly charging: a departure goes with an energy limit, as a time in epoch ms
    for bad in ({"limit": {"mode": "full"}, "departure_at": 4_000_000_000_000},
                {"limit": {"mode": "energy", "value": 5000}, "departure_at": "07:30"},
                {"departure_at": 4_000_000_000_000}):
        assert x("POST", start, 400, body={"gun": "P1-1", "card": CARD, **bad})["error"] == "invalid"
    assert x("POST", start, 403, body={"gun": "P1-1", "card": "FFFF0000"})["error"] == "card_refused"
    assert x("POST", start, 409, body={"gun": "P1-1", "card": CARD})["error"] == "not_plugged"

    sim.control("POST", "/piles/2/guns/1/plug", {"ev": {"start_soc": 40}})
    gw.wait(lambda s: gw.gun(s, "P2-1")["state"] == "plugged", what="P2-1 plugged")
    # no tariff at this station: an amount cannot be priced, so it is refused, loudly
    refused = x("POST", start, 409, body={"gun": "P2-1", "card": CARD, "limit": {"mode": "amount", "value": 500}})
    assert refused["error"] == "no_tariff" and "set_tariff" in refused["message"]
    assert any(a["key"] == "no_tariff" for a in x("GET", "/api/status", 200)["alarms"])
    assert [r["detail"]["reason"] for r in gw.records("event") if r["kind"] == "start_refused"] == ["no_tariff"]
    ok = x("POST", start, 200, body={"gun": "P2-1", "card": CARD.lower(),
                                     "limit": {"mode": "energy", "value": 20000}})
    assert ok["ok"] is True and ok["power_cap_w"] > 0
    st = gw.wait(lambda s: (gw.gun(s, "P2-1")["session"] or {}).get("state") == "active", what="session active")
    check(path="/api/status", method="get", status=200, content_type="application/json", body=st)
    sess = gw.gun(st, "P2-1")["session"]
    assert sess["session_id"] == ok["session_id"] and sess["auth"] == f"card:{CARD}"
    assert sess["limit"] == {"mode": "energy", "value": 20000}
    x("GET", "/api/status", 200)
    assert x("POST", start, 409, body={"gun": "P2-1", "card": CARD})["error"] == "busy"

    stop = "/api/sessions/stop"
    assert x("POST", stop, 400, raw=b"{")["error"] == "invalid"
    assert x("POST", stop, 400, body={"gun": 7})["error"] == "unknown_gun"
    assert x("POST", stop, 409, body={"gun": "P1-1"})["error"] == "no_session"
    assert x("POST", stop, 200, body={"gun": "P2-1"}) == {"ok": True}
    gw.wait(lambda s: gw.gun(s, "P2-1")["session"] is None, what="the session ended")
    ended = gw.records("session_ended")
    assert [r["stop_reason"] for r in ended] == ["local"]

    # an alarm acknowledged by hand (the loop raises it again while its cause lasts)
    sim.control("POST", f"/devices/{sim.meter_unit}/link", {"cut": True})
    gw.wait(lambda s: any(a["key"] == "meter_stale" for a in s["alarms"]), timeout=10, what="meter alarm")
    assert x("POST", "/api/alarms/meter_stale/clear", 200) == {"ok": True, "key": "meter_stale"}
    assert x("POST", "/api/alarms/no_such_alarm/clear", 404)["error"] == "no_alarm"
    sim.control("POST", f"/devices/{sim.meter_unit}/link", {"cut": False})

    # a pairing code for a private pile's owner: the token first, then the code, shown once
    info = x("GET", "/api/pairing", 200)
    assert info["allowed"] is True and info["guns"] == ["P1-1", "P2-1", "P3-1", "P3-2"]
    codes = "/api/pairing-codes"
    assert x("POST", codes, 403, body={"gun": "P1-1"})["error"] == "bad_token"
    status, ctype, made = call(gw, "POST", codes, {"gun": "P1-1", "hours": 2}, token=info["token"])
    check(path=codes, method="post", status=status, content_type=ctype, body=made)
    assert status == 201 and made["gun"] == "P1-1" and made["in_cloud"] is False
    [rec] = [r for r in gw.records("event") if r["kind"] == "pairing_code"]
    assert rec["seq"] == made["seq"] and rec["detail"]["expires_at"] == made["expires_at"]
    state = f"/api/pairing-codes/state?gun=P1-1&expires_at={made['expires_at']}"
    for path, code in ((state, 200), ("/api/pairing-codes/state?gun=P1-1", 400)):
        status, ctype, got = call(gw, "GET", path)
        check(path=path.split("?")[0], method="get", status=status, content_type=ctype, body=got)
        assert status == code, got
    for body, code in (({"gun": "P9-1"}, "unknown_gun"), ({"gun": "P1-1", "hours": 500}, "invalid")):
        status, ctype, err = call(gw, "POST", codes, body, token=info["token"])
        check(path=codes, method="post", status=status, content_type=ctype, body=err)
        assert (status, err["error"]) == (400, code)
    status, ctype, err = call(gw, "POST", codes, {"gun": "P1-1"}, token=info["token"],
                              extra={"Origin": "http://evil.example"})
    check(path=codes, method="post", status=status, content_type=ctype, body=err)
    assert (status, err["error"]) == (403, "cross_origin")

    # every action refuses a form of another site and another page's origin, as documented
    for path in (start, "/api/sessions/stop", codes):
        for extra, code in (({"Content-Type": "text/plain"}, 415), ({"Origin": "http://evil.example"}, 403)):
            status, ctype, err = call(gw, "POST", path, {"gun": "P1-1"}, extra=extra)
            check(path=path, method="post", status=status, content_type=ctype, body=err)
            assert (status, err["error"]) == (code, "json_required" if code == 415 else "cross_origin"), path

    # an unknown path and a wrong method: the documented Error shape (components.responses.HttpError)
    for method, path, code in (("GET", "/api/no-such-thing", 404), ("POST", "/api/status", 405),
                               ("GET", start, 405)):
        status, ctype, body = call(gw, method, path)
        assert (status, ctype.split(";")[0]) == (code, "application/json"), (method, path, status, body)
        check.component("Error", body)
        assert body["error"] == "http_error"

    # every documented path and method was called, and each one's success was seen
    for path, method in operations(spec):
        ok_codes = {int(c) for c in spec["paths"][path][method]["responses"] if c.startswith("2")}
        assert any((path, method, c) in check.seen for c in ok_codes), f"{method.upper()} {path}: no success seen"


def _self_signed(directory: Path) -> None:
    """A key, a certificate for it and a 'CA' (the same certificate): enough for the gateway
    to count as provisioned and try its broker."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ST-TEST-01")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "station.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / "station.key").chmod(0o600)
    (directory / "station.crt").write_bytes(pem)
    (directory / "ca.crt").write_bytes(pem)
    # a broker address where nothing listens: the link stays down, the status says so
    (directory / "cloud.json").write_text(json.dumps({"sid": "ST-TEST-01", "broker": {"host": "127.0.0.1", "port": 9}}))


def test_status_of_a_provisioned_gateway_without_its_broker(tmp_path: Path, spec: dict[str, Any]) -> None:
    check = ResponseChecker(spec)
    with SimProcess("test") as sim:
        gw = GatewayProcess(sim, tmp_path)
        _self_signed(tmp_path / "credentials")
        with gw:
            for _ in range(3):
                status, ctype, st = call(gw, "GET", "/api/status")
                check(path="/api/status", method="get", status=status, content_type=ctype, body=st)
                time.sleep(0.3)
    assert st["sync"]["configured"] is True and st["sync"]["connected"] is False
    assert st["sync"]["broker"] == "127.0.0.1:9"
