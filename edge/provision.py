"""`jc-gateway provision`: the station gets its certificate from the cloud, once.

1. The station's own P-256 key (made here if missing; it never leaves this machine, mode 0600).
2. The cloud's CA is fetched (`GET /api/v1/ca`) and checked against the SHA-256 fingerprint
   the operator read out with the token (`jc-cloud token`), unless the server's certificate
   already passes the system's trust store or `--ca-file`. Only then is the token sent: a
   man in the middle never sees it.
3. `POST /api/v1/provision` with the one-time token and a CSR (CN = the station id); the
   answer's certificate must carry this station's public key and id and chain to that CA.
4. The certificate, the CA chain and the broker address are stored beside the key, with
   `high_seq` (the highest record seq the cloud holds for this station): a new, empty store
   numbers its first record after it (spec Revision 1.1; applied when the gateway starts).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from edge.credentials import CA_FILE, CERT_FILE, CLOUD_FILE, ensure_key


class ProvisionError(Exception):
    """Provisioning failed; the message says why and what to do."""


@dataclass(frozen=True)
class Provisioned:
    sid: str
    cert_file: Path
    ca_file: Path
    broker_host: str
    broker_port: int
    not_after_ms: int
    high_seq: int = 0


def _split(url: str) -> tuple[str, int, str]:
    u = urllib.parse.urlsplit(url)
    if u.scheme != "https" or not u.hostname:
        raise ProvisionError(f"--url {url!r}: give the cloud's https:// address, e.g. https://cloud.example.com/")
    return u.hostname, u.port or 443, u.path.rstrip("/")


def _request(host: str, port: int, ctx: ssl.SSLContext, method: str, path: str,
             body: dict[str, Any] | None = None, timeout: float = 20.0) -> tuple[int, dict[str, Any], bytes]:
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        peer = conn.sock.getpeercert(binary_form=True) if conn.sock else b""
    except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
        raise ProvisionError(f"cannot reach https://{host}:{port}{path}: {exc}") from exc
    finally:
        conn.close()
    try:
        parsed = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        raise ProvisionError(f"https://{host}:{port}{path} answered {resp.status} with something that is "
                             "not JSON: is this the Juchong cloud?") from None
    return resp.status, parsed, peer or b""


def _trusted_context(ca_pem: bytes | None, ca_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file)
    if ca_pem:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def _fetch_pinned_ca(host: str, port: int, base: str, fingerprint: str) -> bytes:
    """The cloud CA, accepted only if its SHA-256 matches what the operator gave."""
    probe = ssl.create_default_context()
    probe.check_hostname = False
    probe.verify_mode = ssl.CERT_NONE  # nothing secret is sent on this connection
    status, body, _ = _request(host, port, probe, "GET", f"{base}/api/v1/ca")
    if status != 200 or "ca_pem" not in body:
        raise ProvisionError(f"the cloud did not hand out its CA ({status}: {body.get('error', body)})")
    ca_pem = body["ca_pem"].encode("ascii")
    cert = x509.load_pem_x509_certificate(ca_pem)
    got = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    want = fingerprint.lower().replace(":", "").strip()
    if got != want:
        raise ProvisionError(f"the server's CA fingerprint is {got}, not the {want} you were given: "
                             "refusing to send the token (wrong address, or someone in between)")
    return ca_pem


def make_csr(key: ec.EllipticCurvePrivateKey, sid: str) -> bytes:
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, sid)]))
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def provision(*, url: str, token: str, sid: str, credentials: Path, ca_fingerprint: str | None = None,
              ca_file: str | None = None) -> Provisioned:
    host, port, base = _split(url)
    key = ensure_key(credentials)
    ca_pem = _fetch_pinned_ca(host, port, base, ca_fingerprint) if ca_fingerprint else None
    ctx = _trusted_context(ca_pem, ca_file)
    try:
        status, body, _ = _request(host, port, ctx, "POST", f"{base}/api/v1/provision",
                                   {"v": 1, "token": token, "sid": sid, "csr_pem": make_csr(key, sid).decode()})
    except ProvisionError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc) and not ca_fingerprint:
            raise ProvisionError(f"{exc}. The cloud's certificate is not in this machine's trust store: "
                                 "pass --ca-fingerprint (printed by `jc-cloud token`) or --ca-file") from None
        raise
    if status != 200:
        err = body.get("error") if isinstance(body.get("error"), dict) else {}
        code, message = err.get("code", status), err.get("message", body)
        hint = {"token_used": "ask the operator for a new token (`jc-cloud token SID`)",
                "token_expired": "ask the operator for a new token (`jc-cloud token SID`)",
                "token_invalid": f"check the token, and that it was made for station id {sid}",
                "csr_cn_mismatch": "the token was made for another station id: check [station] id"}.get(str(code), "")
        raise ProvisionError(f"the cloud refused: {code}: {message}" + (f"; {hint}" if hint else ""))
    cert_pem = body["cert_pem"].encode("ascii")
    chain_pem = body["ca_chain_pem"].encode("ascii")
    cert = x509.load_pem_x509_certificate(cert_pem)
    mine = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    theirs = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if mine != theirs:
        raise ProvisionError("the certificate the cloud returned is not for this station's key")
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != sid:
        raise ProvisionError(f"the certificate names {cn[0].value if cn else '?'}, not station {sid}")
    # The chain runs from the station issuing CA (first) up to the root the operator pinned (last).
    chain = x509.load_pem_x509_certificates(chain_pem)
    try:
        for child, parent in zip([cert, *chain[:-1]], chain, strict=True):
            child.verify_directly_issued_by(parent)
    except (ValueError, TypeError) as exc:
        raise ProvisionError(f"the certificate does not chain to the cloud's CA: {exc}") from exc
    if ca_pem is not None and chain[-1].public_bytes(serialization.Encoding.PEM) != x509.load_pem_x509_certificate(ca_pem).public_bytes(serialization.Encoding.PEM):
        raise ProvisionError("the CA chain in the answer does not end at the CA checked before")
    credentials.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write(credentials / CERT_FILE, cert_pem)
    _write(credentials / CA_FILE, chain_pem)
    broker = body.get("broker") or {}
    info = {"sid": sid, "broker": {"host": broker.get("host", host), "port": int(broker.get("port", 8883))},
            "ca_sha256": body.get("ca_sha256"), "url": url, "serial": body.get("serial"),
            "not_after": body.get("not_after"), "provisioned_at": int(time.time() * 1000),
            "high_seq": _high_seq(body)}
    _write(credentials / CLOUD_FILE, json.dumps(info, indent=2).encode())
    return Provisioned(sid, credentials / CERT_FILE, credentials / CA_FILE, info["broker"]["host"],
                       info["broker"]["port"], int(body.get("not_after") or 0), info["high_seq"])


def _high_seq(body: dict[str, Any]) -> int:
    value = body.get("high_seq", 0)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**53:
        raise ProvisionError(f"the cloud answered an impossible high_seq {value!r}")
    return value
