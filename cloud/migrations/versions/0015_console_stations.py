"""console stations: a station's transformer rating, a pile's model and profile

Revision ID: 0015_console_stations
Revises: 0010_operators
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_console_stations"
down_revision: str | None = "0010_operators"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("transformer_kva", sa.Float(), nullable=True))
    op.add_column("piles", sa.Column("model", sa.String(length=64), nullable=True))
    op.add_column("piles", sa.Column("profile", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("piles", "profile")
    op.drop_column("piles", "model")
    op.drop_column("stations", "transformer_kva")
