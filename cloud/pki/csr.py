"""Checks on a station's CSR before the CA signs it."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from cloud.pki.ca import common_name


class CsrRefused(ValueError):
    """The CSR cannot be signed; `code` is the API error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def check_station_csr(csr_pem: str | bytes, sid: str) -> x509.CertificateSigningRequest:
    """The parsed CSR if it is self-signed correctly, holds a P-256 key and names CN = sid."""
    data = csr_pem.encode() if isinstance(csr_pem, str) else csr_pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError:
        raise CsrRefused(
            "invalid_csr", "csr_pem is not a PEM certificate signing request"
        ) from None
    if not csr.is_signature_valid:
        raise CsrRefused("invalid_csr", "the CSR's signature does not match its key")
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise CsrRefused("invalid_csr", "the station key must be EC P-256 (secp256r1)")
    cn = common_name(csr.subject)
    if cn != sid:
        raise CsrRefused(
            "csr_cn_mismatch", f"the CSR's CN is {cn!r}; this token is for station {sid!r}"
        )
    return csr
