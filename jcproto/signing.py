"""Record signatures: ECDSA P-256 with SHA-256 over the canonical JSON, DER, base64.

The gateway signs `session_ended` with the private key whose certificate the cloud issued at
provisioning; the cloud verifies it with that certificate and stores the outcome with the session
(`signature_ok`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from jcproto.canonical import SIGNATURE_FIELD, signing_bytes

_ALGORITHM = ec.ECDSA(hashes.SHA256())


def sign_record(record: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 signature of `record` (its `signature` field, if any, is left out)."""
    if not isinstance(key.curve, ec.SECP256R1):
        raise ValueError(f"records are signed with P-256 keys, not {key.curve.name}")
    return base64.b64encode(key.sign(signing_bytes(record), _ALGORITHM)).decode("ascii")


def with_signature(record: Mapping[str, Any], key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """A copy of `record` with its `signature` field set."""
    out = {k: v for k, v in record.items() if k != SIGNATURE_FIELD}
    out[SIGNATURE_FIELD] = sign_record(out, key)
    return out


def verify_record(
    record: Mapping[str, Any], signer: x509.Certificate | ec.EllipticCurvePublicKey
) -> bool:
    """True when `record["signature"]` is a valid signature by `signer` over the rest of it."""
    public_key = signer.public_key() if isinstance(signer, x509.Certificate) else signer
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    encoded = record.get(SIGNATURE_FIELD)
    if not isinstance(encoded, str):
        return False
    try:
        signature = base64.b64decode(encoded, validate=True)
        public_key.verify(signature, signing_bytes(record), _ALGORITHM)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
