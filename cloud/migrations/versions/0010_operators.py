"""operators: console operators, owners' stations, console sessions, the audit log

Revision ID: 0010_operators
Revises: 0007_wallet
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0010_operators"
down_revision: str | None = "0011_reports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "operators",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failures", BIGINT, nullable=False),
        sa.Column("locked_until", BIGINT, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.Column("password_changed_at", BIGINT, nullable=False),
        sa.Column("last_login_at", BIGINT, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operators")),
        sa.UniqueConstraint("login", name=op.f("uq_operators_login")),
    )
    op.create_table(
        "operator_stations",
        sa.Column("operator_id", BIGINT, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_operator_stations_operator_id_operators")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_operator_stations_sid_stations")),
        sa.PrimaryKeyConstraint("operator_id", "sid", name=op.f("pk_operator_stations")),
    )
    op.create_index(op.f("ix_operator_stations_sid"), "operator_stations", ["sid"], unique=False)
    op.create_table(
        "operator_sessions",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("operator_id", BIGINT, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("last_seen_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("revoked_at", BIGINT, nullable=True),
        sa.Column("revoke_reason", sa.String(length=16), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["operator_id"], ["operators.id"], name=op.f("fk_operator_sessions_operator_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_operator_sessions_token_sha256")),
    )
    op.create_index("ix_operator_sessions_operator_live", "operator_sessions", ["operator_id", "revoked_at"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("ts", BIGINT, nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=128), nullable=True),
        sa.Column("detail", JSONDOC, nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_ts"), "audit_log", ["ts"], unique=False)
    op.create_index("ix_audit_log_actor_id", "audit_log", ["actor", "id"], unique=False)
    op.create_index("ix_audit_log_target_id", "audit_log", ["target", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_log_target_id", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_id", table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_ts"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index("ix_operator_sessions_operator_live", table_name="operator_sessions")
    op.drop_table("operator_sessions")
    op.drop_index(op.f("ix_operator_stations_sid"), table_name="operator_stations")
    op.drop_table("operator_stations")
    op.drop_table("operators")
