"""Reservation tables: the operators' rules per station and the drivers' reservations."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms

# A reservation holds its gun while it is `pending` (the `reserve` command on its way) or
# `active` (the station confirmed); the partial unique indexes keep one such per gun and
# one per driver, whatever two requests race.
LIVE = ("pending", "active")
_LIVE_SQL = "state IN ('pending', 'active')"


class ReservationRule(Base):
    """A station's reservation rules, set by operators (no row: reservations are off)."""

    __tablename__ = "reservation_rules"
    __table_args__ = (
        CheckConstraint("max_minutes BETWEEN 5 AND 1440", name="max_minutes"),
        CheckConstraint("fee_mode IN ('none', 'fixed', 'tariff_idle', 'tariff')", name="fee_mode"),
        CheckConstraint("fee_fen BETWEEN 0 AND 100000", name="fee_fen"),
        CheckConstraint("no_show_limit BETWEEN 0 AND 100 AND suspend_days BETWEEN 0 AND 365", name="no_show"),
    )
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    max_minutes: Mapped[int] = mapped_column(default=30)
    fee_mode: Mapped[str] = mapped_column(String(16), default="none")
    fee_fen: Mapped[int] = mapped_column(default=0)  # the fixed fee (fee_mode fixed)
    refund_on_start: Mapped[bool] = mapped_column(Boolean, default=True)
    refund_on_cancel: Mapped[bool] = mapped_column(Boolean, default=True)
    keep_on_no_show: Mapped[bool] = mapped_column(Boolean, default=True)
    no_show_limit: Mapped[int] = mapped_column(default=0)  # 0: no limit
    suspend_days: Mapped[int] = mapped_column(default=0)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class Reservation(Base):
    __tablename__ = "reservations"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'active', 'used', 'cancelled', 'expired', 'failed')", name="state"),
        CheckConstraint("fee_state IN ('none', 'held', 'refunded', 'kept')", name="fee_state"),
        CheckConstraint("release IN ('none', 'pending', 'confirmed')", name="release"),
        CheckConstraint("fee_fen >= 0 AND until > created_at", name="amounts"),
        Index("ux_reservations_live_gun", "sid", "gun", unique=True,
              sqlite_where=text(_LIVE_SQL), postgresql_where=text(_LIVE_SQL)),
        Index("ux_reservations_live_driver", "driver_id", unique=True,
              sqlite_where=text(_LIVE_SQL), postgresql_where=text(_LIVE_SQL)),
        Index("ix_reservations_state_until", "state", "until"),
        Index("ix_reservations_sid_created_at", "sid", "created_at"),
        Index("ix_reservations_driver_created_at", "driver_id", "created_at"),
    )
    reservation_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    gun: Mapped[str] = mapped_column(String(36))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    until: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    fee_fen: Mapped[int] = mapped_column(default=0)
    fee_tariff_id: Mapped[str | None] = mapped_column(String(64))  # the tariff version that priced the fee
    fee_state: Mapped[str] = mapped_column(String(16), default="none")
    # The fee's fate as the station's rules said when the driver reserved (the terms shown):
    # the rules changed afterwards do not change a running reservation's.
    refund_on_start: Mapped[bool] = mapped_column(Boolean, default=True)
    refund_on_cancel: Mapped[bool] = mapped_column(Boolean, default=True)
    keep_on_no_show: Mapped[bool] = mapped_column(Boolean, default=True)
    ended_at: Mapped[int | None]
    order_id: Mapped[str | None] = mapped_column(String(64))  # the order that used it
    failure: Mapped[str | None] = mapped_column(String(200))  # why `failed`, in English
    no_show: Mapped[bool] = mapped_column(Boolean, default=False)
    # Whether the station was reachable when the reservation ended: if not, the gateway ended
    # it by itself (it holds `until`), and `release` waits for the station's word.
    offline_at_end: Mapped[bool] = mapped_column(Boolean, default=False)
    release: Mapped[str] = mapped_column(String(16), default="none")
    released_seen_at: Mapped[int | None]  # telemetry time that showed the gun no longer reserved
