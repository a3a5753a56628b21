"""the progress poll's snapshot: one row per order, what GET /orders/<id> answers

Orders made before this revision have no row: the poll reads them the full way (and their
next change writes the row).

Revision ID: 0026_poll
Revises: 0031_sharing2
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_poll"
down_revision: str | None = "0031_sharing2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "order_progress",
        sa.Column(
            "order_id",
            sa.String(64),
            sa.ForeignKey("orders.order_id", name=op.f("fk_order_progress_order_id_orders")),
            nullable=False,
        ),
        sa.Column("driver_id", sa.String(64), nullable=False),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("gun", sa.String(36), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", BIGINT, nullable=True),
        sa.Column("ended_at", BIGINT, nullable=True),
        sa.Column("live", sa.Boolean(), nullable=False),
        sa.Column("digest", sa.String(32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_progress")),
    )
    op.create_index(
        "ix_order_progress_sid_live",
        "order_progress",
        ["sid"],
        sqlite_where=sa.text("live"),
        postgresql_where=sa.text("live"),
    )


def downgrade() -> None:
    op.drop_index("ix_order_progress_sid_live", table_name="order_progress")
    op.drop_table("order_progress")
