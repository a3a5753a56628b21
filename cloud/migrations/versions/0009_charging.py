"""charging: the station archive (address, GCJ-02 coordinates, hours), guns' QR codes, names,
rated power and kind, orders' funding, order ratings, and pay-per-session starts awaiting payment

Revision ID: 0009_charging
Revises: 0008_billing (main's head when charging merged main; was 0006_tariffs)
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0009_charging"
down_revision: str | None = "0008_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("stations", sa.Column("address", sa.String(length=255), nullable=True))
    op.add_column("stations", sa.Column("lat", sa.Float(), nullable=True))
    op.add_column("stations", sa.Column("lng", sa.Float(), nullable=True))
    op.add_column("stations", sa.Column("city", sa.String(length=64), nullable=True))
    op.add_column("stations", sa.Column("phone", sa.String(length=32), nullable=True))
    op.add_column("stations", sa.Column("open_hours", sa.String(length=64), nullable=True))
    op.add_column("guns", sa.Column("code", sa.String(length=64), nullable=True))
    op.add_column("guns", sa.Column("name", sa.String(length=64), nullable=True))
    op.add_column("guns", sa.Column("rated_power_w", BIGINT, nullable=True))
    op.add_column("guns", sa.Column("kind", sa.String(length=8), nullable=True))
    op.create_index("ix_guns_code", "guns", ["code"], unique=True)
    op.add_column("orders", sa.Column("funding", sa.String(length=8), server_default="wallet",
                                      nullable=False))
    op.create_table(
        "order_ratings",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("stars", BIGINT, nullable=False),
        sa.Column("comment", sa.String(length=500), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint("stars BETWEEN 1 AND 5", name=op.f("ck_order_ratings_stars")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"],
                                name=op.f("fk_order_ratings_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_ratings")),
    )
    op.create_table(
        "charging_prepays",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=False),
        sa.Column("limit_mode", sa.String(length=16), nullable=False),
        sa.Column("limit_value", BIGINT, nullable=False),
        sa.Column("hold_fen", BIGINT, nullable=False),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint("hold_fen > 0 AND amount_fen >= hold_fen AND limit_value >= 0",
                           name=op.f("ck_charging_prepays_amounts")),
        sa.CheckConstraint("state IN ('pending', 'paid', 'cancelled')",
                           name=op.f("ck_charging_prepays_state")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_charging_prepays")),
    )
    op.create_index("ix_charging_prepays_driver_id", "charging_prepays", ["driver_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_charging_prepays_driver_id", table_name="charging_prepays")
    op.drop_table("charging_prepays")
    op.drop_table("order_ratings")
    with op.batch_alter_table("orders") as b:
        b.drop_column("funding")
    op.drop_index("ix_guns_code", table_name="guns")
    with op.batch_alter_table("guns") as b:
        for c in ("kind", "rated_power_w", "name", "code"):
            b.drop_column(c)
    with op.batch_alter_table("stations") as b:
        for c in ("open_hours", "phone", "city", "lng", "lat", "address"):
            b.drop_column(c)
