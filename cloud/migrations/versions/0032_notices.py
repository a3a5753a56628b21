"""notices: drivers' consents to subscribe messages, system notices, the drivers' messages

Revision ID: 0032_notices
Revises: 0025_sharing
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0032_notices"
down_revision: str | None = "0025_sharing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notice_consents",
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("remaining", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_notice_consents_remaining")),
        sa.PrimaryKeyConstraint("driver_id", "kind", name=op.f("pk_notice_consents")),
    )
    op.create_table(
        "system_notices",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("title_zh", sa.String(length=64), nullable=False),
        sa.Column("title_en", sa.String(length=64), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("sids", sa.Text(), nullable=True),
        sa.Column("recipients", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint(
            "audience IN ('all', 'stations')", name=op.f("ck_system_notices_audience")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_system_notices")),
    )
    op.create_table(
        "driver_messages",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=80), nullable=False),
        sa.Column("notice_id", BIGINT, nullable=True),
        sa.Column("sid", sa.String(length=64), nullable=True),
        sa.Column("at", BIGINT, nullable=True),
        sa.Column("title_zh", sa.String(length=64), nullable=False),
        sa.Column("title_en", sa.String(length=64), nullable=False),
        sa.Column("body_zh", sa.Text(), nullable=False),
        sa.Column("body_en", sa.Text(), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("send", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("sent_at", BIGINT, nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.CheckConstraint("kind IN ('reminder', 'notice')", name=op.f("ck_driver_messages_kind")),
        sa.CheckConstraint(
            "send IN ('pending', 'sending', 'sent', 'no_consent', 'no_openid', 'off', 'obsolete', "
            "'failed')",
            name=op.f("ck_driver_messages_send"),
        ),
        sa.ForeignKeyConstraint(
            ["notice_id"],
            ["system_notices.id"],
            name=op.f("fk_driver_messages_notice_id_system_notices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_messages")),
    )
    op.create_index(
        "ux_driver_messages_driver_ref", "driver_messages", ["driver_id", "ref"], unique=True
    )
    op.create_index("ix_driver_messages_send", "driver_messages", ["send"])


def downgrade() -> None:
    op.drop_index("ix_driver_messages_send", table_name="driver_messages")
    op.drop_index("ux_driver_messages_driver_ref", table_name="driver_messages")
    op.drop_table("driver_messages")
    op.drop_table("system_notices")
    op.drop_table("notice_consents")
