"""Order tables: the charging order and its bill lines (electricity and service per
time-of-use period, idle fee), in integer fen."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms
from cloud.orders.machine import State

STATES = ", ".join(f"'{s.value}'" for s in State)
LINE_KINDS = "'electricity', 'service', 'idle'"
LIMIT_MODES = "'amount', 'energy', 'time', 'full'"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(f"state IN ({STATES})", name="state"),
        CheckConstraint(f"limit_mode IN ({LIMIT_MODES})", name="limit_mode"),
        CheckConstraint("hold_fen >= 0 AND limit_value >= 0", name="amounts"),
        CheckConstraint("state <> 'abnormal' OR abnormal_reason IS NOT NULL", name="reason"),
        # the console's reports and exports (migration 0011_reports; docs/reports.md)
        Index("ix_orders_settled_at", "settled_at"),
        Index("ix_orders_sid_settled_at", "sid", "settled_at"),
        Index("ix_orders_created_at", "created_at"),
        Index("ix_orders_sid_created_at", "sid", "created_at"),
    )
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    sid: Mapped[str] = mapped_column(String(64), index=True)  # station
    gun: Mapped[str] = mapped_column(String(36))
    limit_mode: Mapped[str] = mapped_column(String(16))
    limit_value: Mapped[int]  # fen | Wh | s | 0 (full), as the start command's limit
    hold_fen: Mapped[int]
    tariff_id: Mapped[str | None] = mapped_column(String(64))
    tariff_version: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(16), default=State.CREATED.value, index=True)
    abnormal_reason: Mapped[str | None] = mapped_column(String(200))
    session_id: Mapped[str | None] = mapped_column(String(36), index=True)
    total_fen: Mapped[int | None]  # the bill, once settled
    debt_fen: Mapped[int | None]  # what the bill exceeded the hold by (the driver's debt)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
    settled_at: Mapped[int | None]
    # wallet: the hold comes from the balance; prepay: from one WeChat payment for this session
    funding: Mapped[str] = mapped_column(String(8), default="wallet", server_default="wallet")
    # orderly charging: when the driver leaves (epoch ms); the energy wanted is the energy
    # limit (migration 0020_orderly)
    departure_at: Mapped[int | None]


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint(f"kind IN ({LINE_KINDS})", name="kind"),
        CheckConstraint("fen >= 0 AND (energy_wh IS NULL OR energy_wh >= 0)", name="amounts"),
    )
    order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("orders.order_id"), primary_key=True
    )
    n: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    period: Mapped[str | None] = mapped_column(String(32))  # time-of-use period name
    energy_wh: Mapped[int | None]
    fen: Mapped[int]
