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


def station_certs(session: Session, *, sids: set[str] | None, page: int = 1,
                  per_page: int = 50) -> tuple[list[IssuedCert], int]:
    """Station certificates newest first (owner scope `sids`, None: all) and their count."""
    from sqlalchemy import func

    q = select(IssuedCert).where(IssuedCert.kind == "station")
    n = select(func.count()).select_from(IssuedCert).where(IssuedCert.kind == "station")
    if sids is not None:
        q, n = q.where(IssuedCert.subject_cn.in_(sorted(sids))), n.where(IssuedCert.subject_cn.in_(sorted(sids)))
    rows = list(session.scalars(q.order_by(IssuedCert.issued_at.desc(), IssuedCert.serial)
                                .offset((page - 1) * per_page).limit(per_page)))
    return rows, int(session.scalar(n) or 0)
