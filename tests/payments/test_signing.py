"""WeChat Pay v3 signatures and notification encryption, as pure functions: any message
verifies with the right key, and fails after any single-byte change or with another key."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud.fakes.keys import FakeKeys, new_rsa_key
from cloud.payments.errors import DecryptionFailed, SignatureInvalid
from cloud.payments.wechatpay import aead, signing
from cloud.payments.wechatpay.verify import KeyRing, MemoryReplayGuard, cert_serial, verify_signed

OTHER_KEY = new_rsa_key()
NOW = 1_796_000_000
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

nonces = st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=32)
alnum_nonces = st.text(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"),
                       min_size=1, max_size=32)
bodies = st.binary(max_size=600)
timestamps = st.integers(min_value=0, max_value=4_000_000_000)


def flip(data: bytes, index: int, bit: int) -> bytes:
    i = index % len(data)
    return data[:i] + bytes([data[i] ^ (1 << bit)]) + data[i + 1:]


def ring(keys: FakeKeys) -> KeyRing:
    return KeyRing.public_key(keys.wechatpay_public_key_id, keys.wechatpay_key.public_key())


def answer_headers(keys: FakeKeys, ts: int, nonce: str, body: bytes, *, key=None) -> dict[str, str]:
    sig = signing.sign(key or keys.wechatpay_key, signing.response_message(ts, nonce, body))
    return {"Wechatpay-Timestamp": str(ts), "Wechatpay-Nonce": nonce, "Wechatpay-Signature": sig,
            "Wechatpay-Serial": keys.wechatpay_public_key_id,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}


@PROPS
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       path=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80),
       ts=timestamps, nonce=alnum_nonces, body=bodies, index=st.integers(min_value=0), bit=st.integers(0, 7))
def test_request_signature_verifies_and_any_byte_change_breaks_it(keys, method, path, ts, nonce, body, index, bit):
    header = signing.authorization(mchid=keys.mchid, serial_no=keys.merchant_serial_no,
                                   private_key=keys.merchant_key, method=method, path_query=path,
                                   body=body, timestamp=ts, nonce=nonce)
    fields = signing.parse_authorization(header)
    assert (fields["mchid"], fields["serial_no"], fields["timestamp"], fields["nonce_str"]) == \
        (keys.mchid, keys.merchant_serial_no, str(ts), nonce)
    msg = signing.request_message(method, path, ts, nonce, body)
    public = keys.merchant_key.public_key()
    assert signing.verify(public, msg, fields["signature"])
    assert not signing.verify(public, flip(msg, index, bit), fields["signature"])
    assert not signing.verify(OTHER_KEY.public_key(), msg, fields["signature"])


@PROPS
@given(ts=st.integers(min_value=NOW - 300, max_value=NOW + 300), nonce=nonces, body=bodies,
       index=st.integers(min_value=0), bit=st.integers(0, 7))
def test_answer_verifies_and_fails_after_any_single_byte_change(keys, ts, nonce, body, index, bit):
    headers = answer_headers(keys, ts, nonce, body)
    assert verify_signed(ring(keys), headers, body, now=NOW) == keys.wechatpay_public_key_id
    if body:
        with pytest.raises(SignatureInvalid) as e:
            verify_signed(ring(keys), headers, flip(body, index, bit), now=NOW)
        assert e.value.code == "BAD_SIGNATURE"
    changed_nonce = nonce[:-1] + ("A" if nonce[-1] != "A" else "B")
    with pytest.raises(SignatureInvalid):
        verify_signed(ring(keys), {**headers, "Wechatpay-Nonce": changed_nonce}, body, now=NOW)
    sig = headers["Wechatpay-Signature"].encode()
    with pytest.raises(SignatureInvalid):
        verify_signed(ring(keys), {**headers, "Wechatpay-Signature": flip(sig, index, bit).decode("latin-1")},
                      body, now=NOW)
    with pytest.raises(SignatureInvalid) as e:
        verify_signed(ring(keys), answer_headers(keys, ts, nonce, body, key=OTHER_KEY), body, now=NOW)
    assert e.value.code == "BAD_SIGNATURE"


@PROPS
@given(skew=st.integers(min_value=301, max_value=10**9), sign=st.sampled_from([-1, 1]), body=bodies)
def test_a_timestamp_more_than_five_minutes_off_is_refused(keys, skew, sign, body):
    headers = answer_headers(keys, NOW + sign * skew, "N", body)
    with pytest.raises(SignatureInvalid) as e:
        verify_signed(ring(keys), headers, body, now=NOW)
    assert e.value.code == "STALE_TIMESTAMP"


def test_probe_missing_unknown_serial_and_type_are_refused(keys):
    body = b'{"a":1}'
    good = answer_headers(keys, NOW, "NONCE", body)
    cases = {
        "SIGNATURE_PROBE": {**good, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + good["Wechatpay-Signature"]},
        "SIGNATURE_MISSING": {k: v for k, v in good.items() if k != "Wechatpay-Signature"},
        "UNKNOWN_SERIAL": {**good, "Wechatpay-Serial": "PUB_KEY_ID_0000000000"},
        "UNSUPPORTED_SIGNATURE_TYPE": {**good, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"},
    }
    for code, headers in cases.items():
        with pytest.raises(SignatureInvalid) as e:
            verify_signed(ring(keys), headers, body, now=NOW)
        assert e.value.code == code
    # header names are case-insensitive, as HTTP's are
    assert verify_signed(ring(keys), {k.lower(): v for k, v in good.items()}, body, now=NOW)


def test_replay_guard_refuses_the_same_signed_message_twice(keys):
    guard, body = MemoryReplayGuard(), b"{}"
    headers = answer_headers(keys, NOW, "NONCE", body)
    verify_signed(ring(keys), headers, body, now=NOW, replay_guard=guard)
    with pytest.raises(SignatureInvalid) as e:
        verify_signed(ring(keys), headers, body, now=NOW + 10, replay_guard=guard)
    assert e.value.code == "REPLAYED"
    # a fresh signature of the same body (what a WeChat retry carries) is not a replay
    verify_signed(ring(keys), answer_headers(keys, NOW + 15, "OTHER", body), body, now=NOW + 15,
                  replay_guard=guard)


def test_replay_memory_forgets_expired_entries_and_stays_bounded():
    guard = MemoryReplayGuard(max_entries=100)
    for i in range(1000):
        assert guard.first_time(f"k{i}", now=i, ttl_s=50)
    assert len(guard._seen) <= 100
    assert not guard.first_time("k999", now=1000, ttl_s=50)  # recent: remembered
    assert guard.first_time("k900", now=1000, ttl_s=50)  # expired at 950: forgotten
    assert all(exp >= 1000 for exp in guard._seen.values())


def _cert(key, serial: int, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))


def test_platform_certificate_mode_by_serial_and_validity(keys):
    now = dt.datetime.fromtimestamp(NOW, dt.UTC)
    cert = _cert(keys.wechatpay_key, 0x5157F09EFDC096DE15EBE81A47057A72, now - dt.timedelta(days=1),
                 now + dt.timedelta(days=365))
    expired = _cert(OTHER_KEY, 0x1234ABCD, now - dt.timedelta(days=400), now - dt.timedelta(days=35))
    ring_ = KeyRing().add_certificate(cert).add_certificate(expired)
    assert cert_serial(cert) == "5157F09EFDC096DE15EBE81A47057A72"
    body = b'{"x":"y"}'
    headers = {**answer_headers(keys, NOW, "N1", body), "Wechatpay-Serial": cert_serial(cert)}
    assert verify_signed(ring_, headers, body, now=NOW) == cert_serial(cert)
    old = {**answer_headers(keys, NOW, "N2", body, key=OTHER_KEY), "Wechatpay-Serial": cert_serial(expired)}
    with pytest.raises(SignatureInvalid) as e:
        verify_signed(ring_, old, body, now=NOW)
    assert e.value.code == "UNKNOWN_SERIAL"


def test_public_key_ids_must_look_like_wechat_s():
    with pytest.raises(ValueError, match="PUB_KEY_ID_"):
        KeyRing.public_key("5157F09EFDC096DE", OTHER_KEY.public_key())


@PROPS
@given(plain=st.binary(max_size=2000), nonce=st.text(st.characters(min_codepoint=48, max_codepoint=122),
                                                     min_size=12, max_size=12),
       ad=st.text(max_size=20), index=st.integers(min_value=0), bit=st.integers(0, 7))
def test_aes_gcm_round_trip_and_tamper(keys, plain, nonce, ad, index, bit):
    ct = aead.encrypt(keys.apiv3_key, nonce=nonce, associated_data=ad, plaintext=plain)
    assert aead.decrypt(keys.apiv3_key, nonce=nonce, associated_data=ad, ciphertext=ct) == plain
    import base64
    raw = base64.b64decode(ct)
    with pytest.raises(DecryptionFailed):
        aead.decrypt(keys.apiv3_key, nonce=nonce, associated_data=ad,
                     ciphertext=base64.b64encode(flip(raw, index, bit)).decode())
    with pytest.raises(DecryptionFailed):
        aead.decrypt(b"0" * 32, nonce=nonce, associated_data=ad, ciphertext=ct)
    with pytest.raises(DecryptionFailed):
        aead.decrypt(keys.apiv3_key, nonce=nonce, associated_data=ad + "x", ciphertext=ct)


def test_authorization_parse_rejects_malformed_headers():
    for bad in ['Bearer abc', 'WECHATPAY2-SHA256-RSA2048 mchid="1"',
                'WECHATPAY2-SHA256-RSA2048 mchid="1",mchid="2",nonce_str="n",signature="s",timestamp="1",serial_no="x"',
                'WECHATPAY2-SHA256-RSA2048 mchid=1,nonce_str="n"']:
        with pytest.raises(ValueError):
            signing.parse_authorization(bad)


def test_a_respelt_signature_is_refused_so_the_replay_guard_sees_every_copy(keys):
    """base64's unused low bits give a signature other spellings of the same bytes; the
    replay guard keys on the header, so only the canonical spelling verifies."""
    import base64

    body = b'{"id":"EV-1"}'
    headers = answer_headers(keys, NOW, "NONCE-R", body)
    sig = headers["Wechatpay-Signature"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = sig.rstrip("=")
    pad = sig[len(last):]
    respelt = last[:-1] + alphabet[alphabet.index(last[-1]) ^ 1] + pad  # an unused bit with "=" padding
    assert base64.b64decode(respelt) == base64.b64decode(sig) and respelt != sig
    with pytest.raises(SignatureInvalid) as e:
        verify_signed(ring(keys), {**headers, "Wechatpay-Signature": respelt}, body, now=NOW)
    assert e.value.code == "BAD_SIGNATURE"
