"""Sharing tables: shared guns with their owner and switch, open windows, per-session splits."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class SharedPile(Base):
    """A gun a driver owns and shares (one registration per gun). The commission is the
    platform's rate when the owner registered, so a settings change after it does not alter it."""

    __tablename__ = "sharing_piles"
    __table_args__ = (
        CheckConstraint("commission_bp BETWEEN 0 AND 10000", name="commission_bp"),
        Index("ix_sharing_piles_sid_gun", "sid", "gun", unique=True),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    gun: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    commission_bp: Mapped[int]
    is_open: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class SharingWindow(Base):
    """One open span of a weekday (0 Monday), minutes from local midnight, end exclusive."""

    __tablename__ = "sharing_windows"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6 AND start_min >= 0 AND end_min <= 1440 AND start_min < end_min",
                        name="span"),
    )
    pile_id: Mapped[int] = mapped_column(ForeignKey("sharing_piles.id"), primary_key=True)
    weekday: Mapped[int] = mapped_column(primary_key=True)
    start_min: Mapped[int] = mapped_column(primary_key=True)
    end_min: Mapped[int]


class SharingSplit(Base):
    """How one settled order on a shared gun was split (its ledger transaction: `txn_id`)."""

    __tablename__ = "sharing_splits"
    __table_args__ = (Index("ix_sharing_splits_owner_id_created_at", "owner_id", "created_at"),)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    pile_id: Mapped[int] = mapped_column(ForeignKey("sharing_piles.id"))
    owner_id: Mapped[str] = mapped_column(String(64))
    total_fen: Mapped[int]
    owner_fen: Mapped[int]
    platform_fen: Mapped[int]
    commission_bp: Mapped[int]
    txn_id: Mapped[int | None]
    created_at: Mapped[int] = mapped_column(default=now_ms)


class Withdrawal(Base):
    """An owner's withdrawal of earnings: `held` (set aside in the ledger), `sending` (the
    transfer was accepted, its outcome not yet known), then `paid` or `released` (back to the
    earnings). `out_bill_no` is the transfer's number at the provider: one transfer, ever."""

    __tablename__ = "sharing_withdrawals"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        CheckConstraint("state IN ('held', 'sending', 'paid', 'released')", name="state"),
        Index("ix_sharing_withdrawals_owner_id_created_at", "owner_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    owner_id: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int]
    out_bill_no: Mapped[str] = mapped_column(String(32), unique=True)
    openid: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="held")
    transfer_bill_no: Mapped[str | None] = mapped_column(String(64))
    package_info: Mapped[str | None] = mapped_column(String(512))
    failure: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class PairingCode(Base):
    """A one-time code proving a driver may register a gun as their pile: issued by an operator
    (console or `jc-cloud sharing pairing-code`) for one station's gun and handed to its owner,
    or made by the station's gateway for the owner at the pile (`issued_by` `gateway:<sid>`);
    only its SHA-256 is kept. Live until `expires_at`, used once, void after too many wrong
    guesses at this gun."""

    __tablename__ = "sharing_pairing_codes"
    __table_args__ = (Index("ix_sharing_pairing_codes_sid_gun", "sid", "gun"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64))
    gun: Mapped[str] = mapped_column(String(16))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[int]
    failures: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[int | None]
    used_by: Mapped[str | None] = mapped_column(String(64))
    voided_at: Mapped[int | None]
    issued_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class PairingFailure(Base):
    """A driver's wrong pairing code (the driver is locked out after a few in a window)."""

    __tablename__ = "sharing_pairing_failures"
    __table_args__ = (Index("ix_sharing_pairing_failures_driver_id_at", "driver_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    gun: Mapped[str] = mapped_column(String(16))
    at: Mapped[int]


class Clawback(Base):
    """The owner's part of one refund of a shared order taken back (per fee line), from the
    earnings as far as they reach and the rest as the owner's debt (`debt_fen`)."""

    __tablename__ = "sharing_clawbacks"
    __table_args__ = (Index("ix_sharing_clawbacks_order_id", "order_id"),)
    refund_key: Mapped[str] = mapped_column(String(160), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    owner_id: Mapped[str] = mapped_column(String(64))
    electricity_fen: Mapped[int] = mapped_column(default=0)
    service_fen: Mapped[int] = mapped_column(default=0)
    idle_fen: Mapped[int] = mapped_column(default=0)
    refund_fen: Mapped[int]  # what the driver got back in this refund
    owner_fen: Mapped[int]  # the owner's part of it (the three lines)
    debt_fen: Mapped[int]  # of owner_fen, what the earnings did not cover
    txn_id: Mapped[int | None]
    created_at: Mapped[int] = mapped_column(default=now_ms)
