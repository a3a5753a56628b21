"""the tariff's own reservation fee: per reservation and per minute reserved, versioned with it

tariff_versions gets `reservation_fee_e4` and `reservation_per_minute_e4` (CNY × 10,000; 0 for
every version stored before: free); reservations note the version that priced their fee
(`fee_tariff_id`); a station's rules may take the fee from the tariff (`fee_mode` `tariff`),
which widens reservation_rules' fee_mode CHECK. SQLite cannot alter a CHECK constraint;
widening one only relaxes it, so on SQLite the schema text is changed as 0018_console_live
does (why there). Downgrade turns rules of mode `tariff` into `none` before narrowing it.

Revision ID: 0036_resfee
Revises: 0034_inbox2
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036_resfee"
down_revision: str | None = "0034_inbox2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# Spelled out so that this file never changes.
CHECK = "ck_reservation_rules_fee_mode"
NARROW = "fee_mode IN ('none', 'fixed', 'tariff_idle')"
WIDE = "fee_mode IN ('none', 'fixed', 'tariff_idle', 'tariff')"


def _set_check(new: str, old: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f(CHECK), "reservation_rules", type_="check")
        op.create_check_constraint(op.f(CHECK), "reservation_rules", new)
        return
    table = "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'reservation_rules'"
    sql = bind.exec_driver_sql(table).scalar_one()
    if sql.count(old) != 1:
        raise RuntimeError(f"reservation_rules' CHECK {CHECK} is not as expected:\n{sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'reservation_rules'",
                             (sql.replace(old, new),))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    op.add_column("tariff_versions", sa.Column("reservation_fee_e4", BIGINT, nullable=False, server_default="0"))
    op.add_column("tariff_versions",
                  sa.Column("reservation_per_minute_e4", BIGINT, nullable=False, server_default="0"))
    op.add_column("reservations", sa.Column("fee_tariff_id", sa.String(length=64), nullable=True))
    _set_check(WIDE, NARROW)


def downgrade() -> None:
    op.execute("UPDATE reservation_rules SET fee_mode = 'none' WHERE fee_mode = 'tariff'")
    _set_check(NARROW, WIDE)
    # plain ALTER TABLE … DROP COLUMN (SQLite 3.35 on): no table copy, the partial indexes kept
    op.drop_column("reservations", "fee_tariff_id")
    op.drop_column("tariff_versions", "reservation_per_minute_e4")
    op.drop_column("tariff_versions", "reservation_fee_e4")
