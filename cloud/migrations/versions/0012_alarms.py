"""alarms: alarms with their evidence, SMS recipients per station, the notification log

Revision ID: 0012_alarms
Revises: 0009_charging
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0012_alarms"
down_revision: str | None = "0009_charging"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("detail", JSONDOC, nullable=False),
        sa.Column("count", BIGINT, nullable=False),
        sa.Column("raised_at", BIGINT, nullable=False),
        sa.Column("raise_seq", BIGINT, nullable=True),
        sa.Column("cleared_at", BIGINT, nullable=True),
        sa.Column("clear_seq", BIGINT, nullable=True),
        sa.Column("acknowledged_at", BIGINT, nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("notified_rank", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_alarms_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarms")),
    )
    op.create_index("ix_alarms_open_key", "alarms", ["sid", "key"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_index("ix_alarms_sid_raised_at", "alarms", ["sid", "raised_at"], unique=False)
    op.create_index("ix_alarms_raised_at", "alarms", ["raised_at"], unique=False)
    op.create_index("ix_alarms_cleared_at_raised_at", "alarms", ["cleared_at", "raised_at"], unique=False)
    op.create_table(
        "alarm_evidence",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("seq", BIGINT, nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("alarm_id", BIGINT, nullable=True),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("ts", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_evidence_alarm_id_alarms")),
        sa.PrimaryKeyConstraint("sid", "seq", name=op.f("pk_alarm_evidence")),
    )
    op.create_index("ix_alarm_evidence_alarm_id", "alarm_evidence", ["alarm_id"], unique=False)
    op.create_index("ix_alarm_evidence_sid_key", "alarm_evidence", ["sid", "key"], unique=False)
    op.create_table(
        "alarm_recipients",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_alarm_recipients_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_recipients")),
        sa.UniqueConstraint("sid", "phone", name=op.f("uq_alarm_recipients_sid_phone")),
    )
    op.create_table(
        "alarm_notifications",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("alarm_id", BIGINT, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("template_code", sa.String(length=64), nullable=False),
        sa.Column("params", JSONDOC, nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", BIGINT, nullable=False),
        sa.Column("next_attempt_at", BIGINT, nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("provider_ref", sa.String(length=64), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("sent_at", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name=op.f("fk_alarm_notifications_alarm_id_alarms")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_notifications")),
    )
    op.create_index("ix_alarm_notifications_due", "alarm_notifications", ["status", "next_attempt_at"], unique=False)
    op.create_index("ix_alarm_notifications_rate", "alarm_notifications",
                    ["sid", "kind", "phone", "created_at"], unique=False)
    op.create_index("ix_alarm_notifications_alarm_id", "alarm_notifications", ["alarm_id"], unique=False)


def downgrade() -> None:
    op.drop_table("alarm_notifications")
    op.drop_table("alarm_recipients")
    op.drop_index("ix_alarm_evidence_sid_key", table_name="alarm_evidence")
    op.drop_index("ix_alarm_evidence_alarm_id", table_name="alarm_evidence")
    op.drop_table("alarm_evidence")
    op.drop_index("ix_alarms_cleared_at_raised_at", table_name="alarms")
    op.drop_index("ix_alarms_raised_at", table_name="alarms")
    op.drop_index("ix_alarms_sid_raised_at", table_name="alarms")
    op.drop_index("ix_alarms_open_key", table_name="alarms")
    op.drop_table("alarms")
