"""H5 login through WeChat's web authorisation: the states of logins under way

Revision ID: 0017_h5_login
Revises: 0013_settlement
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0017_h5_login"
down_revision: str | None = "0013_settlement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "driver_web_login_states",
        sa.Column("state_sha256", sa.String(length=64), nullable=False),
        sa.Column("nonce_sha256", sa.String(length=64), nullable=False),
        sa.Column("return_to", sa.String(length=200), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("used_at", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("state_sha256", name=op.f("pk_driver_web_login_states")),
    )
    op.create_index("ix_driver_web_login_states_expires_at", "driver_web_login_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_driver_web_login_states_expires_at", table_name="driver_web_login_states")
    op.drop_table("driver_web_login_states")
