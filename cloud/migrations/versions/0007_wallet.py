"""wallet: WeChat Pay payments (recharges, session prepayments), refunds and their parts

Revision ID: 0007_wallet
Revises: 0009_charging
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0007_wallet"
down_revision: str | None = "0012_alarms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "wallet_payments",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("driver_id", BIGINT, nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("refunded_fen", BIGINT, nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=True),
        sa.Column("transaction_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.Column("paid_at", BIGINT, nullable=True),
        sa.Column("checked_at", BIGINT, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'paid', 'closed')", name=op.f("ck_wallet_payments_state")),
        sa.CheckConstraint("purpose IN ('wallet', 'session')", name=op.f("ck_wallet_payments_purpose")),
        sa.CheckConstraint("amount_fen > 0 AND refunded_fen >= 0 AND refunded_fen <= amount_fen",
                           name=op.f("ck_wallet_payments_amounts")),
        sa.CheckConstraint("refunded_fen = 0 OR state = 'paid'", name=op.f("ck_wallet_payments_refund_paid_only")),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name=op.f("fk_wallet_payments_driver_id_drivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_payments")),
        sa.UniqueConstraint("out_trade_no", name=op.f("uq_wallet_payments_out_trade_no")),
    )
    op.create_index("ix_wallet_payments_state_created_at", "wallet_payments", ["state", "created_at"], unique=False)
    op.create_index("ix_wallet_payments_driver_id_id", "wallet_payments", ["driver_id", "id"], unique=False)
    op.create_index(op.f("ix_wallet_payments_order_id"), "wallet_payments", ["order_id"], unique=False)
    op.create_table(
        "wallet_refunds",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("refund_no", sa.String(length=32), nullable=False),
        sa.Column("driver_id", BIGINT, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=True),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_wallet_refunds_amount")),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name=op.f("fk_wallet_refunds_driver_id_drivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_refunds")),
        sa.UniqueConstraint("refund_no", name=op.f("uq_wallet_refunds_refund_no")),
        sa.UniqueConstraint("key", name=op.f("uq_wallet_refunds_key")),
    )
    op.create_index("ix_wallet_refunds_driver_id_id", "wallet_refunds", ["driver_id", "id"], unique=False)
    op.create_table(
        "wallet_refund_parts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("refund_id", BIGINT, nullable=False),
        sa.Column("payment_id", BIGINT, nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("provider_refund_id", sa.String(length=64), nullable=True),
        sa.Column("attempts", BIGINT, nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("state IN ('processing', 'succeeded', 'failed')", name=op.f("ck_wallet_refund_parts_state")),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_wallet_refund_parts_amount")),
        sa.ForeignKeyConstraint(["refund_id"], ["wallet_refunds.id"],
                                name=op.f("fk_wallet_refund_parts_refund_id_wallet_refunds")),
        sa.ForeignKeyConstraint(["payment_id"], ["wallet_payments.id"],
                                name=op.f("fk_wallet_refund_parts_payment_id_wallet_payments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_refund_parts")),
        sa.UniqueConstraint("out_refund_no", name=op.f("uq_wallet_refund_parts_out_refund_no")),
    )
    op.create_index("ix_wallet_refund_parts_state_updated_at", "wallet_refund_parts", ["state", "updated_at"],
                    unique=False)
    op.create_index(op.f("ix_wallet_refund_parts_refund_id"), "wallet_refund_parts", ["refund_id"], unique=False)
    op.create_index(op.f("ix_wallet_refund_parts_payment_id"), "wallet_refund_parts", ["payment_id"], unique=False)


def downgrade() -> None:
    op.drop_table("wallet_refund_parts")
    op.drop_table("wallet_refunds")
    op.drop_table("wallet_payments")
