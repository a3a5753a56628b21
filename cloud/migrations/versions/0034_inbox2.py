"""inbox2: a driver message's read state, the unread index, each driver's reminder lead time

Messages made before this revision have no read time: they count as unread until the driver
opens them or marks all read.

Revision ID: 0034_inbox2
Revises: 0026_poll
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034_inbox2"
down_revision: str | None = "0026_poll"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNREAD = "read_at IS NULL"


def upgrade() -> None:
    op.add_column("driver_messages", sa.Column("read_at", BIGINT, nullable=True))
    op.create_index("ix_driver_messages_unread", "driver_messages", ["driver_id"],
                    sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))
    op.create_table(
        "driver_message_prefs",
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("remind_minutes", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("remind_minutes BETWEEN 0 AND 1440",
                           name=op.f("ck_driver_message_prefs_remind_minutes")),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_driver_message_prefs")),
    )


def downgrade() -> None:
    op.drop_table("driver_message_prefs")
    op.drop_index("ix_driver_messages_unread", table_name="driver_messages")
    with op.batch_alter_table("driver_messages") as batch:
        batch.drop_column("read_at")
