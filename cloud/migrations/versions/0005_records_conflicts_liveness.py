"""records: seq conflicts, flag details, abnormal session ends, liveness

Revision ID: 0005_records
Revises: 0004_drivers
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0005_records"
down_revision: str | None = "0004_drivers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seq_conflicts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("payload", JSONDOC, nullable=False),
        sa.Column("received_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seq_conflicts")),
    )
    with op.batch_alter_table("seq_conflicts", schema=None) as batch_op:
        batch_op.create_index("ix_seq_conflicts_sid_seq", ["sid", "seq"], unique=False)
    with op.batch_alter_table("raw_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flag_detail", sa.Text(), nullable=True))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("end_problem", sa.Text(), nullable=True))
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("claimed_online", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("offline_reason", sa.String(length=16), nullable=True))
    op.execute("UPDATE station_state SET claimed_online = online")
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.alter_column("claimed_online", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("station_state", schema=None) as batch_op:
        batch_op.drop_column("offline_reason")
        batch_op.drop_column("claimed_online")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("end_problem")
    with op.batch_alter_table("raw_records", schema=None) as batch_op:
        batch_op.drop_column("flag_detail")
    with op.batch_alter_table("seq_conflicts", schema=None) as batch_op:
        batch_op.drop_index("ix_seq_conflicts_sid_seq")
    op.drop_table("seq_conflicts")
