"""recommend: the operators' weights of the recommendation terms

Revision ID: 0022_recommend
Revises: 0016_tariff_schedule
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TERMS = ("distance_pct", "price_pct", "wait_pct", "power_pct", "history_pct", "rating_pct")

revision: str = "0022_recommend"
down_revision: str | None = "0016_tariff_schedule"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recommend_weights",
        sa.Column("name", sa.String(length=32), nullable=False),
        *[sa.Column(c, BIGINT, nullable=False) for c in TERMS],
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", BIGINT, nullable=False),
        *[sa.CheckConstraint(f"{c} BETWEEN 0 AND 1000", name=op.f(f"ck_recommend_weights_{c}")) for c in TERMS],
        sa.PrimaryKeyConstraint("name", name=op.f("pk_recommend_weights")),
    )


def downgrade() -> None:
    op.drop_table("recommend_weights")
