"""tariff schedule: a scheduled assignment can be cancelled (kept, marked) and its cancel pushed

Revision ID: 0016_tariff_schedule
Revises: 0020_orderly
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0016_tariff_schedule"
down_revision: str | None = "0020_orderly"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("station_tariffs") as batch:
        batch.add_column(sa.Column("cancelled_at", BIGINT, nullable=True))
        batch.add_column(sa.Column("cancelled_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cancel_pushed_at", BIGINT, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("station_tariffs") as batch:
        batch.drop_column("cancel_pushed_at")
        batch.drop_column("cancelled_by")
        batch.drop_column("cancelled_at")
