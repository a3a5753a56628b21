"""the payment channel on each WeChat Pay payment: jsapi (mini-program), oa_jsapi (official
account in WeChat's browser), h5 (another phone browser)

Payments made before this revision have none (NULL): which client made them was not kept.

Revision ID: 0033_audit9b
Revises: 0036_resfee
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033_audit9b"
down_revision: str | None = "0036_resfee"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("wallet_payments", sa.Column("channel", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("wallet_payments") as batch:
        batch.drop_column("channel")
