"""Wallet tables: WeChat Pay payments (recharges and session prepayments), refund requests
and their parts (one provider refund, one `out_refund_no`, each). Money in integer fen, times
in epoch ms. The ledger holds the money; these rows hold what the provider was asked and said."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms

PAYMENT_STATES = ("pending", "paid", "closed")
PAYMENT_PURPOSES = ("wallet", "session")
PART_STATES = ("processing", "succeeded", "failed")
# How it was paid (cloud.wallet.service.CHANNELS): the mini-program's JSAPI, JSAPI under the
# official account in WeChat's browser, an H5 payment in another phone browser
PAYMENT_CHANNELS = ("jsapi", "oa_jsapi", "h5")


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


class WalletPayment(Base):
    """One WeChat Pay order of ours. `refunded_fen` is what refund parts not failed take from
    it; it never exceeds the amount (a CHECK), so a payment is never refunded twice over."""

    __tablename__ = "wallet_payments"
    __table_args__ = (
        CheckConstraint(f"state IN ({_in(PAYMENT_STATES)})", name="state"),
        CheckConstraint(f"purpose IN ({_in(PAYMENT_PURPOSES)})", name="purpose"),
        CheckConstraint("amount_fen > 0 AND refunded_fen >= 0 AND refunded_fen <= amount_fen", name="amounts"),
        CheckConstraint("refunded_fen = 0 OR state = 'paid'", name="refund_paid_only"),
        Index("ix_wallet_payments_state_created_at", "state", "created_at"),
        Index("ix_wallet_payments_driver_id_id", "driver_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)  # purpose "session"
    amount_fen: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="pending")
    refunded_fen: Mapped[int] = mapped_column(default=0)
    # PAYMENT_CHANNELS; None: made before the channel was stored (migration 0033_audit9b)
    channel: Mapped[str | None] = mapped_column(String(16))
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    transaction_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[int]  # time_expire sent to the provider
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
    paid_at: Mapped[int | None]
    checked_at: Mapped[int | None]  # when the provider was last asked about it


class WalletRefund(Base):
    """A refund the driver asked for (a balance refund) or the rest of a session prepayment
    (`key` "prepay:<order>", so that it is made once)."""

    __tablename__ = "wallet_refunds"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        Index("ix_wallet_refunds_driver_id_id", "driver_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    driver_id: Mapped[int] = mapped_column(ForeignKey("drivers.id"))
    key: Mapped[str | None] = mapped_column(String(80), unique=True)
    amount_fen: Mapped[int]
    created_at: Mapped[int] = mapped_column(default=now_ms)


class WalletRefundPart(Base):
    """One provider refund against one payment, under its own `out_refund_no` (the ledger's
    refund key is "refund:<out_refund_no>"). Retried with the same number until final."""

    __tablename__ = "wallet_refund_parts"
    __table_args__ = (
        CheckConstraint(f"state IN ({_in(PART_STATES)})", name="state"),
        CheckConstraint("amount_fen > 0", name="amount"),
        Index("ix_wallet_refund_parts_state_updated_at", "state", "updated_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("wallet_refunds.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("wallet_payments.id"), index=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default="processing")
    provider_refund_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
