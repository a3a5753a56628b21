"""Operators of the console, the stations an owner owns, and their console sessions."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class Operator(Base):
    """One console account. `role` is admin | operator | finance | owner (cloud/operators/
    roles.py); an owner's stations are rows of `operator_stations`. `failures` counts wrong
    passwords in a row; reaching the limit sets `locked_until` and starts the count afresh."""

    __tablename__ = "operators"
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(20))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failures: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[int | None]
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
    password_changed_at: Mapped[int] = mapped_column(default=now_ms)
    last_login_at: Mapped[int | None]


class OperatorStation(Base):
    """A station an owner owns (a table rather than a column on stations: one owner may hold
    many stations, and the station archive stays the charging package's)."""

    __tablename__ = "operator_stations"
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True, index=True)


class OperatorSession(Base):
    """One console login: the cookie carries a random token, the database its SHA-256, the
    absolute expiry, the last activity (idle timeout) and the revocation."""

    __tablename__ = "operator_sessions"
    __table_args__ = (Index("ix_operator_sessions_operator_live", "operator_id", "revoked_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("operators.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    last_seen_at: Mapped[int] = mapped_column(default=now_ms)
    expires_at: Mapped[int]
    revoked_at: Mapped[int | None]
    # logout | password | deactivated
    revoke_reason: Mapped[str | None] = mapped_column(String(16))
    ip: Mapped[str | None] = mapped_column(String(64))
