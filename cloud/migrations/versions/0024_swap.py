"""swap: battery-swap stations, bays, pack types, packs and swap bookings

Revision ID: 0024_swap
Revises: 0022_recommend
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LIVE = "state = 'booked'"

revision: str = "0024_swap"
down_revision: str | None = "0022_recommend"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "swap_stations",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("slot_minutes", BIGINT, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("slot_minutes BETWEEN 5 AND 60", name=op.f("ck_swap_stations_slot_minutes")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_swap_stations_sid_stations")),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_swap_stations")),
    )
    op.create_table(
        "swap_bays",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("bay_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("state IN ('free', 'swapping', 'maintenance')", name=op.f("ck_swap_bays_state")),
        sa.ForeignKeyConstraint(["sid"], ["swap_stations.sid"], name=op.f("fk_swap_bays_sid_swap_stations")),
        sa.PrimaryKeyConstraint("sid", "bay_id", name=op.f("pk_swap_bays")),
    )
    op.create_table(
        "swap_pack_types",
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kwh", BIGINT, nullable=False),
        sa.Column("charge_minutes", BIGINT, nullable=False),
        sa.CheckConstraint("kwh > 0 AND kwh <= 1000 AND charge_minutes BETWEEN 1 AND 1440",
                           name=op.f("ck_swap_pack_types_sizes")),
        sa.PrimaryKeyConstraint("type_code", name=op.f("pk_swap_pack_types")),
    )
    op.create_table(
        "swap_packs",
        sa.Column("pack_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("soc_pct", BIGINT, nullable=False),
        sa.Column("ready_at", BIGINT, nullable=True),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("state IN ('charging', 'ready', 'out')", name=op.f("ck_swap_packs_state")),
        sa.CheckConstraint("soc_pct BETWEEN 0 AND 100", name=op.f("ck_swap_packs_soc")),
        sa.ForeignKeyConstraint(["sid"], ["swap_stations.sid"], name=op.f("fk_swap_packs_sid_swap_stations")),
        sa.ForeignKeyConstraint(["type_code"], ["swap_pack_types.type_code"],
                                name=op.f("fk_swap_packs_type_code_swap_pack_types")),
        sa.PrimaryKeyConstraint("pack_id", name=op.f("pk_swap_packs")),
    )
    op.create_index("ix_swap_packs_sid_type", "swap_packs", ["sid", "type_code"], unique=False)
    op.create_table(
        "swap_bookings",
        sa.Column("booking_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("type_code", sa.String(length=32), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("slot_start", BIGINT, nullable=False),
        sa.Column("until", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("fee_fen", BIGINT, nullable=False),
        sa.Column("fee_state", sa.String(length=16), nullable=False),
        sa.Column("refund_on_start", sa.Boolean(), nullable=False),
        sa.Column("refund_on_cancel", sa.Boolean(), nullable=False),
        sa.Column("keep_on_no_show", sa.Boolean(), nullable=False),
        sa.Column("ended_at", BIGINT, nullable=True),
        sa.Column("no_show", sa.Boolean(), nullable=False),
        sa.Column("bay_id", sa.String(length=32), nullable=True),
        sa.CheckConstraint("state IN ('booked', 'used', 'cancelled', 'expired')", name=op.f("ck_swap_bookings_state")),
        sa.CheckConstraint("fee_state IN ('none', 'held', 'refunded', 'kept')",
                           name=op.f("ck_swap_bookings_fee_state")),
        sa.CheckConstraint("fee_fen >= 0 AND until > slot_start", name=op.f("ck_swap_bookings_amounts")),
        sa.ForeignKeyConstraint(["sid"], ["swap_stations.sid"], name=op.f("fk_swap_bookings_sid_swap_stations")),
        sa.ForeignKeyConstraint(["type_code"], ["swap_pack_types.type_code"],
                                name=op.f("fk_swap_bookings_type_code_swap_pack_types")),
        sa.PrimaryKeyConstraint("booking_id", name=op.f("pk_swap_bookings")),
    )
    op.create_index("ux_swap_bookings_live_driver", "swap_bookings", ["driver_id"], unique=True,
                    sqlite_where=sa.text(LIVE), postgresql_where=sa.text(LIVE))
    op.create_index("ix_swap_bookings_sid_slot", "swap_bookings", ["sid", "slot_start"], unique=False)
    op.create_index("ix_swap_bookings_state_until", "swap_bookings", ["state", "until"], unique=False)


def downgrade() -> None:
    for name in ("ix_swap_bookings_state_until", "ix_swap_bookings_sid_slot", "ux_swap_bookings_live_driver"):
        op.drop_index(name, table_name="swap_bookings")
    op.drop_table("swap_bookings")
    op.drop_index("ix_swap_packs_sid_type", table_name="swap_packs")
    op.drop_table("swap_packs")
    op.drop_table("swap_pack_types")
    op.drop_table("swap_bays")
    op.drop_table("swap_stations")
