"""The record of issued certificates, and the station certificates that verify signatures."""

from __future__ import annotations

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import IssuedCert
from cloud.pki.ca import cert_pem, common_name, fingerprint


def record_issued(session: Session, cert: x509.Certificate, kind: str) -> IssuedCert:
    row = IssuedCert(
        serial=format(cert.serial_number, "x"),
        kind=kind,
        subject_cn=common_name(cert.subject) or "",
        fingerprint_sha256=fingerprint(cert),
        not_before=int(cert.not_valid_before_utc.timestamp() * 1000),
        not_after=int(cert.not_valid_after_utc.timestamp() * 1000),
        pem=cert_pem(cert).decode("ascii"),
    )
    session.add(row)
    return row


def station_certificates(session: Session, sid: str) -> list[x509.Certificate]:
    """Every unrevoked certificate issued to station `sid`, newest first."""
    rows = session.scalars(
        select(IssuedCert.pem)
        .where(
            IssuedCert.subject_cn == sid,
            IssuedCert.kind == "station",
            IssuedCert.revoked_at.is_(None),
        )
        .order_by(IssuedCert.issued_at.desc())
    )
    return [x509.load_pem_x509_certificate(pem.encode("ascii")) for pem in rows]
