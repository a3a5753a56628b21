"""Topic helpers, canonical JSON and record signatures."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from jcproto import (
    ProtocolError,
    canonical_json,
    parse_topic,
    shared_subscription,
    sign_record,
    subscription,
    topic,
    verify_record,
    with_signature,
)


def test_topics() -> None:
    assert topic("S-1_a", "up") == "jc/v1/st/S-1_a/up"
    assert parse_topic("jc/v1/st/S1/reply") == ("S1", "reply")
    assert subscription("state") == "jc/v1/st/+/state"
    assert shared_subscription("ingest", "up") == "$share/ingest/jc/v1/st/+/up"
    for bad in [
        "jc/v1/st/S1",
        "jc/v1/st/S1/up/x",
        "jc/v2/st/S1/up",
        "jc/v1/st/a b/up",
        "jc/v1/st/S1/foo",
    ]:
        with pytest.raises(ProtocolError):
            parse_topic(bad)
    with pytest.raises(ProtocolError):
        topic("S/1", "up")
    with pytest.raises(ProtocolError):
        topic("S1", "nope")  # type: ignore[arg-type]


def test_canonical_json_sorted_compact_utf8() -> None:
    assert (
        canonical_json({"b": 1, "a": {"y": None, "x": "站"}})
        == '{"a":{"x":"站","y":null},"b":1}'.encode()
    )


def _key_and_cert(cn: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    import datetime as dt

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return key, cert


RECORD = {
    "seq": 3,
    "type": "session_ended",
    "ts": 5,
    "session_id": "s",
    "cost_fen": 150,
    "energy_stop_wh": 2000,
}


def test_signature_good_and_tampered() -> None:
    key, cert = _key_and_cert("S1")
    signed = with_signature(RECORD, key)
    assert verify_record(signed, cert)
    assert verify_record(dict(reversed(list(signed.items()))), cert)  # key order is irrelevant
    assert not verify_record({**signed, "cost_fen": 1}, cert)
    other_key, other_cert = _key_and_cert("S2")
    assert not verify_record(signed, other_cert)
    assert not verify_record({**signed, "signature": "!!notbase64"}, cert)
    assert not verify_record(RECORD, cert)  # unsigned
    assert sign_record(signed, key) != ""  # an existing signature field is ignored when signing


def test_only_p256_keys_sign() -> None:
    with pytest.raises(ValueError):
        sign_record(RECORD, ec.generate_private_key(ec.SECP384R1()))
