"""driver accounts: drivers, their login sessions, payment passwords

Revision ID: 0004_drivers
Revises: 0003_money
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0004_drivers"
down_revision: str | None = "0003_money"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "drivers",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("unionid", sa.String(length=64), nullable=True),
        sa.Column("nickname", sa.String(length=64), nullable=True),
        sa.Column("avatar_url", sa.String(length=512), nullable=True),
        sa.Column("phone", sa.String(length=11), nullable=True),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.Column("last_login_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drivers")),
        sa.UniqueConstraint("appid", "openid", name=op.f("uq_drivers_appid_openid")),
    )
    op.create_index(op.f("ix_drivers_unionid"), "drivers", ["unionid"], unique=False)
    op.create_table(
        "driver_payment_passwords",
        sa.Column("driver_id", BIGINT, nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("failures", sa.String(length=255), nullable=False),
        sa.Column("locked_until", BIGINT, nullable=True),
        sa.Column("attempts", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"],
                                name=op.f("fk_driver_payment_passwords_driver_id_drivers")),
        sa.PrimaryKeyConstraint("driver_id", name=op.f("pk_driver_payment_passwords")),
    )
    op.create_table(
        "driver_sessions",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("driver_id", BIGINT, nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("expires_at", BIGINT, nullable=False),
        sa.Column("revoked_at", BIGINT, nullable=True),
        sa.Column("revoke_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name=op.f("fk_driver_sessions_driver_id_drivers")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_sessions")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_driver_sessions_token_sha256")),
    )
    op.create_index("ix_driver_sessions_driver_live", "driver_sessions", ["driver_id", "revoked_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_driver_sessions_driver_live", table_name="driver_sessions")
    op.drop_table("driver_sessions")
    op.drop_table("driver_payment_passwords")
    op.drop_index(op.f("ix_drivers_unionid"), table_name="drivers")
    op.drop_table("drivers")
