"""tariffs: immutable tariff versions and station assignments with their start times

Revision ID: 0006_tariffs
Revises: 0005_records
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0006_tariffs"
down_revision: str | None = "0005_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tariff_versions",
        sa.Column("tariff_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False),
        sa.Column("version", BIGINT, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("body", JSONDOC, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("tariff_id", name=op.f("pk_tariff_versions")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_tariff_versions_code_version")),
    )
    op.create_table(
        "station_tariffs",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("tariff_id", sa.String(length=64), nullable=False),
        sa.Column("effective_from", BIGINT, nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("pushed_at", BIGINT, nullable=True),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_station_tariffs_sid_stations")),
        sa.ForeignKeyConstraint(["tariff_id"], ["tariff_versions.tariff_id"],
                                name=op.f("fk_station_tariffs_tariff_id_tariff_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_station_tariffs")),
        sa.UniqueConstraint("sid", "effective_from", name=op.f("uq_station_tariffs_sid_effective_from")),
    )
    op.create_index("ix_station_tariffs_due", "station_tariffs", ["pushed_at", "effective_from"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_station_tariffs_due", table_name="station_tariffs")
    op.drop_table("station_tariffs")
    op.drop_table("tariff_versions")
