"""settlement: owners' shares per station, periods, revenue items, closed periods' lines

Revision ID: 0013_settlement
Revises: 0011_reports
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0013_settlement"
down_revision: str | None = "0015_console_stations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_shares",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("effective_day", sa.String(length=10), nullable=False),
        sa.Column("electricity_bp", BIGINT, nullable=False),
        sa.Column("service_bp", BIGINT, nullable=False),
        sa.Column("idle_bp", BIGINT, nullable=False),
        sa.Column("commission_bp", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_settlement_shares_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_shares")),
    )
    op.create_index("ix_settlement_shares_sid_day", "settlement_shares", ["sid", "effective_day"], unique=True)
    op.create_table(
        "settlement_periods",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("closed_at", BIGINT, nullable=False),
        sa.Column("closed_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_settlement_periods")),
    )
    op.create_table(
        "settlement_items",
        sa.Column("txn_id", BIGINT, autoincrement=False, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("booked_at", BIGINT, nullable=False),
        sa.Column("electricity_fen", BIGINT, nullable=False),
        sa.Column("service_fen", BIGINT, nullable=False),
        sa.Column("idle_fen", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("txn_id", name=op.f("pk_settlement_items")),
    )
    op.create_index("ix_settlement_items_day_sid", "settlement_items", ["day", "sid"], unique=False)
    op.create_table(
        "settlement_lines",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("fee", sa.String(length=16), nullable=False),
        sa.Column("revenue_fen", BIGINT, nullable=False),
        sa.Column("owner_fen", BIGINT, nullable=False),
        sa.Column("commission_fen", BIGINT, nullable=False),
        sa.Column("platform_fen", BIGINT, nullable=False),
        sa.Column("share_bp", BIGINT, nullable=False),
        sa.Column("commission_bp", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("day", "sid", "fee", name=op.f("pk_settlement_lines")),
    )


def downgrade() -> None:
    op.drop_table("settlement_lines")
    op.drop_index("ix_settlement_items_day_sid", table_name="settlement_items")
    op.drop_table("settlement_items")
    op.drop_table("settlement_periods")
    op.drop_index("ix_settlement_shares_sid_day", table_name="settlement_shares")
    op.drop_table("settlement_shares")
