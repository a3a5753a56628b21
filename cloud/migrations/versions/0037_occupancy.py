"""the occupancy forecast per station (and the network's, sid "*"), refreshed hourly by the
jobs from the sessions (docs/trips.md, "Occupancy at arrival")

Revision ID: 0037_occupancy
Revises: 0033_audit9b
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0037_occupancy"
down_revision: str | None = "0033_audit9b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "occupancy_profiles",
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("slot_s", BIGINT, nullable=False),
        sa.Column("share", JSONDOC, nullable=False),
        sa.Column("evidence", JSONDOC, nullable=False),
        sa.Column("guns", BIGINT, nullable=False),
        sa.Column("sessions", BIGINT, nullable=False),
        sa.Column("computed_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("sid", name="pk_occupancy_profiles"),
    )


def downgrade() -> None:
    op.drop_table("occupancy_profiles")
