"""settlement payouts: owners' shares of closed periods payable and paid in the ledger

The ledger gets two platform accounts (kinds `owner_payable` and `bank`, docs/money.md),
which widens two CHECK constraints of ledger_accounts; settlement gets its payouts.

SQLite cannot alter a CHECK constraint, and rebuilding ledger_accounts would drop its
triggers and trip the foreign keys of ledger_entries; widening a CHECK only relaxes it, which
SQLite's documentation allows through the schema text itself (writable_schema, the schema
version bumped so that every connection reloads it).

Revision ID: 0018_console_live
Revises: 0021_reservations
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0018_console_live"
down_revision: str | None = "0021_reservations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out (as in 0003_money) so that this file never changes.
OLD_KINDS = ("'cash', 'bonus', 'held', 'debt', 'revenue_electricity', 'revenue_service', "
             "'revenue_idle', 'clearing', 'refunds_payable', 'promotion'")
OLD_PLATFORM = "'revenue_electricity', 'revenue_service', 'revenue_idle', 'clearing', 'refunds_payable', 'promotion'"
DRIVER = "'cash', 'bonus', 'held', 'debt'"
NEW = ", 'owner_payable', 'bank'"


def _checks(kinds: str, platform: str) -> tuple[str, str]:
    return (f"kind IN ({kinds})",
            f"(kind IN ({DRIVER}) AND driver_id IS NOT NULL AND balance IS NOT NULL) "
            f"OR (kind IN ({platform}) AND driver_id IS NULL AND balance IS NULL)")


def _set_checks(kinds: str, platform: str, old_kinds: str, old_platform: str) -> None:
    bind = op.get_bind()
    kind_check, owner_check = _checks(kinds, platform)
    if bind.dialect.name == "postgresql":
        for name, check in (("ck_ledger_accounts_kind", kind_check), ("ck_ledger_accounts_owner", owner_check)):
            op.drop_constraint(op.f(name), "ledger_accounts", type_="check")
            op.create_check_constraint(op.f(name), "ledger_accounts", check)
        return
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_accounts'").scalar_one()
    new_sql = sql.replace(f"kind IN ({old_kinds})", f"kind IN ({kinds})").replace(
        f"kind IN ({old_platform}) AND", f"kind IN ({platform}) AND")
    if new_sql.count(kinds) != 1 or new_sql.count(f"({platform}) AND") != 1:
        raise RuntimeError(f"ledger_accounts' CHECK constraints are not as 0003_money made them:\n{sql}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'ledger_accounts'",
                             (new_sql,))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _set_checks(OLD_KINDS + NEW, OLD_PLATFORM + NEW, OLD_KINDS, OLD_PLATFORM)
    op.create_table(
        "settlement_payouts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("owner_id", BIGINT, nullable=False),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("payable_txn_id", BIGINT, nullable=False),
        sa.Column("paid_txn_id", BIGINT, nullable=True),
        sa.Column("method", sa.String(length=24), nullable=True),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("paid_at", BIGINT, nullable=True),
        sa.Column("paid_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["day"], ["settlement_periods.day"], name=op.f("fk_settlement_payouts_day_settlement_periods")),
        sa.ForeignKeyConstraint(["owner_id"], ["operators.id"], name=op.f("fk_settlement_payouts_owner_id_operators")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settlement_payouts")),
    )
    op.create_index("ix_settlement_payouts_day_owner", "settlement_payouts", ["day", "owner_id"], unique=True)
    op.create_index("ix_settlement_payouts_owner_id", "settlement_payouts", ["owner_id"])
    op.create_table(
        "settlement_payout_stations",
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("payout_id", BIGINT, nullable=False),
        sa.Column("owner_fen", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["payout_id"], ["settlement_payouts.id"],
                                name=op.f("fk_settlement_payout_stations_payout_id_settlement_payouts")),
        sa.PrimaryKeyConstraint("day", "sid", name=op.f("pk_settlement_payout_stations")),
    )


def downgrade() -> None:
    op.drop_table("settlement_payout_stations")
    op.drop_index("ix_settlement_payouts_owner_id", table_name="settlement_payouts")
    op.drop_index("ix_settlement_payouts_day_owner", table_name="settlement_payouts")
    op.drop_table("settlement_payouts")
    _set_checks(OLD_KINDS, OLD_PLATFORM, OLD_KINDS + NEW, OLD_PLATFORM + NEW)
