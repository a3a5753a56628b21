"""Drivers, their login sessions (our bearer tokens, stored hashed) and payment passwords."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class Driver(Base):
    """A WeChat user of one mini-program: openid is unique per appid, unionid (across a
    developer's apps) when WeChat gives one. `phone` is what the driver typed (11 digits), not
    verified by WeChat."""

    __tablename__ = "drivers"
    __table_args__ = (
        UniqueConstraint("appid", "openid"),
        Index("ix_drivers_created_at", "created_at"),  # new accounts (migration 0011_reports)
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    nickname: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(512))
    phone: Mapped[str | None] = mapped_column(String(11))
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
    last_login_at: Mapped[int] = mapped_column(default=now_ms)


class DriverOpenid(Base):
    """Every (appid, openid) a driver logged in with: the mini-program's and the official
    account's (the H5 app's). An openid is per app, and WeChat Pay wants the payer's openid
    under the appid of the order: the H5 app in WeChat's browser pays with the account's."""

    __tablename__ = "driver_openids"
    appid: Mapped[str] = mapped_column(String(32), primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), index=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)


class DriverSession(Base):
    """One login: the token's SHA-256 (never the token), its expiry and its revocation."""

    __tablename__ = "driver_sessions"
    __table_args__ = (Index("ix_driver_sessions_driver_live", "driver_id", "revoked_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    expires_at: Mapped[int]
    revoked_at: Mapped[int | None]
    # logout | logout_all | superseded (too many live sessions) | blocked
    revoke_reason: Mapped[str | None] = mapped_column(String(16))


class PaymentPassword(Base):
    """A driver's 6-digit payment password: argon2id hash and the wrong attempts that count
    towards a lockout (epoch ms, oldest first; see cloud/drivers/lockout.py)."""

    __tablename__ = "driver_payment_passwords"
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    failures: Mapped[str] = mapped_column(String(255), default="")  # "ms,ms,…"
    locked_until: Mapped[int | None]
    # bumped by every attempt's first statement: attempts on one driver take turns (a row
    # lock on PostgreSQL, the write lock on SQLite) and never judge from a stale count
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class WebLoginState(Base):
    """One H5 login through WeChat's web authorisation under way: the `state` sent to WeChat
    and the browser nonce (kept in that browser's cookie) that must come back with it, both
    as SHA-256; `used_at` makes the state good for one callback only."""

    __tablename__ = "driver_web_login_states"
    __table_args__ = (Index("ix_driver_web_login_states_expires_at", "expires_at"),)
    state_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce_sha256: Mapped[str] = mapped_column(String(64))
    return_to: Mapped[str] = mapped_column(String(200))  # an app route ("#/…"), never a URL
    created_at: Mapped[int]
    expires_at: Mapped[int]
    used_at: Mapped[int | None]
