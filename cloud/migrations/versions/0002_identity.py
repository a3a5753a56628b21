"""identities that can be taken back: API tokens, revocation reason

Revision ID: 0002_identity
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0002_identity"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("revoked_at", BIGINT, nullable=True),
        sa.Column("last_used_at", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_api_tokens_token_sha256")),
    )
    with op.batch_alter_table("issued_certs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoke_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issued_certs", schema=None) as batch_op:
        batch_op.drop_column("revoke_reason")
    op.drop_table("api_tokens")
