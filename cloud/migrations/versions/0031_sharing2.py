"""private pile sharing, part 2: pairing codes (proof of ownership), wrong guesses, clawbacks

Revision ID: 0031_sharing2
Revises: 0027_h5pay
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0031_sharing2"
down_revision: str | None = "0027_h5pay"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sharing_pairing_codes",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("failures", BIGINT, nullable=False),
        sa.Column("used_at", BIGINT, nullable=True),
        sa.Column("used_by", sa.String(length=64), nullable=True),
        sa.Column("voided_at", BIGINT, nullable=True),
        sa.Column("issued_by", sa.String(length=120), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_pairing_codes")),
    )
    op.create_index("ix_sharing_pairing_codes_sid_gun", "sharing_pairing_codes", ["sid", "gun"])
    op.create_table(
        "sharing_pairing_failures",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=16), nullable=False),
        sa.Column("at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_pairing_failures")),
    )
    op.create_index(
        "ix_sharing_pairing_failures_driver_id_at", "sharing_pairing_failures", ["driver_id", "at"]
    )
    op.create_table(
        "sharing_clawbacks",
        sa.Column("refund_key", sa.String(length=160), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("electricity_fen", BIGINT, nullable=False),
        sa.Column("service_fen", BIGINT, nullable=False),
        sa.Column("idle_fen", BIGINT, nullable=False),
        sa.Column("refund_fen", BIGINT, nullable=False),
        sa.Column("owner_fen", BIGINT, nullable=False),
        sa.Column("debt_fen", BIGINT, nullable=False),
        sa.Column("txn_id", BIGINT, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("refund_key", name=op.f("pk_sharing_clawbacks")),
    )
    op.create_index("ix_sharing_clawbacks_order_id", "sharing_clawbacks", ["order_id"])


def downgrade() -> None:
    op.drop_index("ix_sharing_clawbacks_order_id", table_name="sharing_clawbacks")
    op.drop_table("sharing_clawbacks")
    op.drop_index("ix_sharing_pairing_failures_driver_id_at", table_name="sharing_pairing_failures")
    op.drop_table("sharing_pairing_failures")
    op.drop_index("ix_sharing_pairing_codes_sid_gun", table_name="sharing_pairing_codes")
    op.drop_table("sharing_pairing_codes")
