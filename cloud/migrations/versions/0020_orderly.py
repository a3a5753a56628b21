"""orderly charging: an order's departure, a prepaid start's departure, a session's plan

Revision ID: 0020_orderly
Revises: 0018_console_live
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0020_orderly"
down_revision: str | None = "0018_console_live"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.add_column("orders", sa.Column("departure_at", BIGINT, nullable=True))
    op.add_column("charging_prepays", sa.Column("departure_at", BIGINT, nullable=True))
    op.add_column("sessions", sa.Column("orderly", JSONDOC, nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "orderly")
    op.drop_column("charging_prepays", "departure_at")
    op.drop_column("orders", "departure_at")
