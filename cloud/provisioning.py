"""Provisioning: one-time tokens traded for a station certificate.

An operator makes a token for a sid (`jc-cloud token SID`); the gateway sends it with a CSR
(its own P-256 key, CN = sid) to `POST /api/v1/provision` and gets its certificate, the CA
chain and the broker address. A token works once and until it expires; only its SHA-256 is
stored.

The answer also carries `high_seq`, the highest record seq the cloud holds for the sid, so
that a replaced gateway's new, empty store continues above it (spec Revision 1.1).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from cryptography.x509 import Certificate
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore, take_write_lock
from cloud.models import ProvisioningToken, RawRecord, Station, now_ms
from cloud.pki.ca import CertificateAuthority
from cloud.pki.csr import CsrRefused, check_station_csr
from cloud.pki.registry import record_issued
from jcproto import is_valid_sid


class ProvisioningRefused(Exception):
    """Maps to an API error: `code` and HTTP `status`."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class NewToken:
    sid: str
    token: str
    expires_at: int


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, sid: str, ttl_s: int) -> NewToken:
    if not is_valid_sid(sid):
        raise ValueError(f"invalid station id {sid!r}: use 1-64 of A-Z a-z 0-9 _ -")
    if ttl_s <= 0:
        raise ValueError("the token's lifetime must be positive")
    insert_or_ignore(session, Station.__table__, [{"sid": sid, "created_at": now_ms()}])
    token = secrets.token_urlsafe(24)
    expires_at = now_ms() + ttl_s * 1000
    session.add(ProvisioningToken(sid=sid, token_sha256=_digest(token), expires_at=expires_at))
    return NewToken(sid, token, expires_at)


def redeem(
    session: Session,
    ca: CertificateAuthority,
    token: str,
    csr_pem: str,
    sid: str | None,
    cert_days: int,
) -> Certificate:
    """Check token and CSR, spend the token, issue and record the certificate (caller commits)."""
    take_write_lock(session)  # it reads the token, then spends it: ingest and jobs write meanwhile
    row = session.scalar(
        select(ProvisioningToken).where(ProvisioningToken.token_sha256 == _digest(token))
    )
    if row is None:
        raise ProvisioningRefused("token_invalid", "unknown provisioning token", 401)
    if sid is not None and sid != row.sid:
        raise ProvisioningRefused("token_invalid", "this token is not for that station", 401)
    now = now_ms()
    if row.used_at is not None:
        raise ProvisioningRefused(
            "token_used", "this token has been used; ask the operator for a new one", 401
        )
    if row.expires_at <= now:
        raise ProvisioningRefused(
            "token_expired", "this token has expired; ask the operator for a new one", 401
        )
    try:
        csr = check_station_csr(csr_pem, row.sid)
    except CsrRefused as e:
        raise ProvisioningRefused(
            e.code, e.message, 403 if e.code == "csr_cn_mismatch" else 400
        ) from None
    # Spend the token atomically: of two concurrent requests with it, one updates the row.
    spent = session.execute(
        update(ProvisioningToken)
        .where(ProvisioningToken.id == row.id, ProvisioningToken.used_at.is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise ProvisioningRefused(
            "token_used", "this token has been used; ask the operator for a new one", 401
        )
    public_key = csr.public_key()
    cert = ca.issue_client_cert(row.sid, public_key, days=cert_days)  # type: ignore[arg-type]
    record_issued(session, cert, "station")
    session.execute(
        update(ProvisioningToken)
        .where(ProvisioningToken.id == row.id)
        .values(cert_serial=format(cert.serial_number, "x"))
    )
    return cert


def high_seq(session: Session, sid: str) -> int:
    """The highest seq the cloud holds for `sid` (0 when none)."""
    return int(session.scalar(select(func.max(RawRecord.seq)).where(RawRecord.sid == sid)) or 0)


def list_tokens(session: Session, *, sids: set[str] | None, page: int = 1,
                per_page: int = 50) -> tuple[list[ProvisioningToken], int]:
    """Provisioning tokens newest first (never the tokens: only their state), owner scope `sids`."""
    q = select(ProvisioningToken)
    n = select(func.count()).select_from(ProvisioningToken)
    if sids is not None:
        q, n = q.where(ProvisioningToken.sid.in_(sorted(sids))), n.where(ProvisioningToken.sid.in_(sorted(sids)))
    rows = list(session.scalars(q.order_by(ProvisioningToken.id.desc()).offset((page - 1) * per_page).limit(per_page)))
    return rows, int(session.scalar(n) or 0)
