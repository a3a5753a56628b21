"""Provisioning tokens and every certificate the CA issued."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class ProvisioningToken(Base):
    """A one-time token: only its SHA-256 is stored; used_at set once, atomically."""

    __tablename__ = "provisioning_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    expires_at: Mapped[int]
    used_at: Mapped[int | None]
    cert_serial: Mapped[str | None] = mapped_column(String(40))


class IssuedCert(Base):
    __tablename__ = "issued_certs"
    serial: Mapped[str] = mapped_column(String(40), primary_key=True)  # hex
    kind: Mapped[str] = mapped_column(String(16))  # station | cloud | server
    subject_cn: Mapped[str] = mapped_column(String(64), index=True)
    fingerprint_sha256: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[int]
    not_after: Mapped[int]
    pem: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[int] = mapped_column(default=now_ms)
    revoked_at: Mapped[int | None]
    # RFC 5280 reason: "superseded" (re-provisioned: signatures made before still count) or
    # "keyCompromise" (`jc-cloud revoke`: none of its signatures count any more).
    revoke_reason: Mapped[str | None] = mapped_column(String(32))


class ApiToken(Base):
    """A bearer token for tools and the console: only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    revoked_at: Mapped[int | None]
    last_used_at: Mapped[int | None]
