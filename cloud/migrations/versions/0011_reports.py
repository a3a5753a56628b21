"""reports: indexes for the console's figures, revenue reports and exports

Revision ID: 0011_reports
Revises: 0006_tariffs
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011_reports"
down_revision: str | None = "0006_tariffs"
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
    for name, table, cols in INDEXES:
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
