"""Charging tables: a driver's rating of a settled order, a pay-per-session start waiting
for its WeChat payment (the order is made, with its hold, once the money is in), and the
progress poll's snapshot of each order."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class OrderRating(Base):
    __tablename__ = "order_ratings"
    __table_args__ = (CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),)
    order_id: Mapped[str] = mapped_column(String(64), ForeignKey("orders.order_id"), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    stars: Mapped[int]
    comment: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class ChargingPrepay(Base):
    """The terms of a start paid by one WeChat payment: pending until the payment is in (then
    `paid`, and the order exists), `cancelled` when the payment came in but may not start
    (another order running, the gun or the price gone, paid past its window). A pending one
    whose payments are all closed shows as cancelled (cloud/charging/service.py)."""

    __tablename__ = "charging_prepays"
    __table_args__ = (
        CheckConstraint("hold_fen > 0 AND amount_fen >= hold_fen AND limit_value >= 0", name="amounts"),
        CheckConstraint("state IN ('pending', 'paid', 'cancelled')", name="state"),
    )
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    sid: Mapped[str] = mapped_column(String(64))
    gun: Mapped[str] = mapped_column(String(36))
    limit_mode: Mapped[str] = mapped_column(String(16))
    limit_value: Mapped[int]
    hold_fen: Mapped[int]
    amount_fen: Mapped[int]  # what the driver pays: the hold plus any debt collected first
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[int] = mapped_column(default=now_ms)
    departure_at: Mapped[int | None]  # orderly charging (migration 0020_orderly)


class OrderProgress(Base):
    """What the driver's progress poll answers, kept by the writers (cloud/charging/progress.py):
    one row per order, rewritten in the transaction that changes the order, its session or,
    while it charges, its gun's telemetry. `body` is the order's view as JSON without the
    parts the poll adds as it answers (`duration_s`, which runs on by the clock, the station's
    name and the gun's code, read from the archive); `digest` is of `body` (the ETag's base).
    `live`: the view reads the gun's telemetry (a running order with its session running)."""

    __tablename__ = "order_progress"
    __table_args__ = (
        Index("ix_order_progress_sid_live", "sid", sqlite_where=text("live"), postgresql_where=text("live")),
    )
    order_id: Mapped[str] = mapped_column(String(64), ForeignKey("orders.order_id"), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    gun: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[int | None]
    ended_at: Mapped[int | None]
    live: Mapped[bool] = mapped_column(Boolean, default=False)
    digest: Mapped[str] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
