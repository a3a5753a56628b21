"""reservations: per-station rules and drivers' reservations of guns

Revision ID: 0021_reservations
Revises: 0017_h5_login
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = "state IN ('pending', 'active')"

revision: str = "0021_reservations"
down_revision: str | None = "0017_h5_login"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reservation_rules",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("max_minutes", BIGINT, nullable=False),
        sa.Column("fee_mode", sa.String(length=16), nullable=False),
        sa.Column("fee_fen", BIGINT, nullable=False),
        sa.Column("refund_on_start", sa.Boolean(), nullable=False),
        sa.Column("refund_on_cancel", sa.Boolean(), nullable=False),
        sa.Column("keep_on_no_show", sa.Boolean(), nullable=False),
        sa.Column("no_show_limit", BIGINT, nullable=False),
        sa.Column("suspend_days", BIGINT, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("max_minutes BETWEEN 5 AND 1440", name=op.f("ck_reservation_rules_max_minutes")),
        sa.CheckConstraint("fee_mode IN ('none', 'fixed', 'tariff_idle')", name=op.f("ck_reservation_rules_fee_mode")),
        sa.CheckConstraint("fee_fen BETWEEN 0 AND 100000", name=op.f("ck_reservation_rules_fee_fen")),
        sa.CheckConstraint("no_show_limit BETWEEN 0 AND 100 AND suspend_days BETWEEN 0 AND 365",
                           name=op.f("ck_reservation_rules_no_show")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_reservation_rules_sid_stations")),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_reservation_rules")),
    )
    op.create_table(
        "reservations",
        sa.Column("reservation_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("until", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("fee_fen", BIGINT, nullable=False),
        sa.Column("fee_state", sa.String(length=16), nullable=False),
        sa.Column("refund_on_start", sa.Boolean(), nullable=False),
        sa.Column("refund_on_cancel", sa.Boolean(), nullable=False),
        sa.Column("keep_on_no_show", sa.Boolean(), nullable=False),
        sa.Column("ended_at", BIGINT, nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("no_show", sa.Boolean(), nullable=False),
        sa.Column("offline_at_end", sa.Boolean(), nullable=False),
        sa.Column("release", sa.String(length=16), nullable=False),
        sa.Column("released_seen_at", BIGINT, nullable=True),
        sa.CheckConstraint("state IN ('pending', 'active', 'used', 'cancelled', 'expired', 'failed')",
                           name=op.f("ck_reservations_state")),
        sa.CheckConstraint("fee_state IN ('none', 'held', 'refunded', 'kept')", name=op.f("ck_reservations_fee_state")),
        sa.CheckConstraint("release IN ('none', 'pending', 'confirmed')", name=op.f("ck_reservations_release")),
        sa.CheckConstraint("fee_fen >= 0 AND until > created_at", name=op.f("ck_reservations_amounts")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_reservations_sid_stations")),
        sa.PrimaryKeyConstraint("reservation_id", name=op.f("pk_reservations")),
    )
    op.create_index("ux_reservations_live_gun", "reservations", ["sid", "gun"], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("ux_reservations_live_driver", "reservations", ["driver_id"], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("ix_reservations_state_until", "reservations", ["state", "until"], unique=False)
    op.create_index("ix_reservations_sid_created_at", "reservations", ["sid", "created_at"], unique=False)
    op.create_index("ix_reservations_driver_created_at", "reservations", ["driver_id", "created_at"], unique=False)


def downgrade() -> None:
    for name in ("ix_reservations_driver_created_at", "ix_reservations_sid_created_at", "ix_reservations_state_until",
                 "ux_reservations_live_driver", "ux_reservations_live_gun"):
        op.drop_index(name, table_name="reservations")
    op.drop_table("reservations")
    op.drop_table("reservation_rules")
