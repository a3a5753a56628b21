"""H5 payments: every (appid, openid) a driver logged in with, so that the H5 app in WeChat's
browser can pay under the official account's appid with the driver's openid there

Drivers who logged in before get their own (appid, openid) row.

Revision ID: 0027_h5pay
Revises: 0028_console10
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0027_h5pay"
down_revision: str | None = "0028_console10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "driver_openids",
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("driver_id", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_driver_openids_driver_id_drivers")
        ),
        sa.PrimaryKeyConstraint("appid", "openid", name=op.f("pk_driver_openids")),
    )
    op.create_index(
        op.f("ix_driver_openids_driver_id"), "driver_openids", ["driver_id"], unique=False
    )
    op.execute(
        "INSERT INTO driver_openids (appid, openid, driver_id, created_at) "
        "SELECT appid, openid, id, created_at FROM drivers"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_driver_openids_driver_id"), table_name="driver_openids")
    op.drop_table("driver_openids")
