"""reports: closed days rolled up per station and for all; indexes for the console's figures, revenue
reports and exports

Revision ID: 0011_reports
Revises: 0010_operators
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0011_reports"
down_revision: str | None = "0010_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, table, columns): what docs/reports.md says each query walks.
INDEXES = (
    ("ix_orders_settled_at", "orders", ["settled_at"]),
    ("ix_orders_sid_settled_at", "orders", ["sid", "settled_at"]),
    ("ix_orders_created_at", "orders", ["created_at"]),
    ("ix_orders_sid_created_at", "orders", ["sid", "created_at"]),
    ("ix_sessions_ended_at", "sessions", ["ended_at"]),
    ("ix_sessions_sid_ended_at", "sessions", ["sid", "ended_at"]),
    ("ix_drivers_created_at", "drivers", ["created_at"]),
    ("ix_ledger_transactions_kind_created_at", "ledger_transactions", ["kind", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "report_days",
        sa.Column("tz", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        *(sa.Column(c, BIGINT, nullable=False) for c in (
            "charging_fen", "energy_wh", "sessions", "charging_ms", "new_accounts", "recharge_fen",
            "computed_at")),
        sa.PrimaryKeyConstraint("tz", "sid", "day", name=op.f("pk_report_days")),
    )
    op.create_index("ix_report_days_tz_day", "report_days", ["tz", "day"], unique=False)
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_report_days_tz_day", table_name="report_days")
    op.drop_table("report_days")
