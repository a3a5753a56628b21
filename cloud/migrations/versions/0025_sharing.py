"""private pile sharing: shared guns, their open windows, per-session splits, withdrawals

The ledger gets two accounts per pile owner (kinds `owner_earnings`, `owner_withdrawing`:
driver-held, never below zero, docs/sharing.md), which widens the three CHECK constraints of
ledger_accounts; on SQLite through the schema text, as 0018_console_live does (why there).

Revision ID: 0025_sharing
Revises: 0023_community
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0025_sharing"
down_revision: str | None = "0023_community"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out so that this file never changes: (old text, new text) of each CHECK's kind list.
NEW = ", 'owner_earnings', 'owner_withdrawing'"
KINDS = ("'cash', 'bonus', 'held', 'debt', 'revenue_electricity', 'revenue_service', 'revenue_idle', "
         "'clearing', 'refunds_payable', 'promotion', 'owner_payable', 'bank'")
PLATFORM = ("'revenue_electricity', 'revenue_service', 'revenue_idle', 'clearing', 'refunds_payable', "
            "'promotion', 'owner_payable', 'bank'")
DRIVER = "'cash', 'bonus', 'held', 'debt'"
NON_NEGATIVE = "'cash', 'bonus', 'held'"
NON_POSITIVE = "'debt'"


def _checks(kinds: str, driver: str, non_negative: str) -> dict[str, str]:
    return {
        "ck_ledger_accounts_kind": f"kind IN ({kinds})",
        "ck_ledger_accounts_owner": f"(kind IN ({driver}) AND driver_id IS NOT NULL AND balance IS NOT NULL) "
                                    f"OR (kind IN ({PLATFORM}) AND driver_id IS NULL AND balance IS NULL)",
        "ck_ledger_accounts_sign": f"(kind NOT IN ({non_negative}) OR balance >= 0) "
                                   f"AND (kind NOT IN ({NON_POSITIVE}) OR balance <= 0)",
    }


OLD = _checks(KINDS, DRIVER, NON_NEGATIVE)
WIDE = _checks(KINDS + NEW, DRIVER + NEW, NON_NEGATIVE + NEW)


def _set_checks(new: dict[str, str], old: dict[str, str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, check in new.items():
            op.drop_constraint(op.f(name), "ledger_accounts", type_="check")
            op.create_check_constraint(op.f(name), "ledger_accounts", check)
        return
    sql = bind.exec_driver_sql("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'ledger_accounts'").scalar_one()
    new_sql = sql
    for name, check in old.items():
        if new_sql.count(check) != 1:
            raise RuntimeError(f"ledger_accounts' CHECK {name} is not as expected:\n{sql}")
        new_sql = new_sql.replace(check, new[name])
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    try:
        bind.exec_driver_sql("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'ledger_accounts'",
                             (new_sql,))
        bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _set_checks(WIDE, OLD)
    op.create_table(
        "sharing_piles",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("commission_bp", BIGINT, nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("commission_bp BETWEEN 0 AND 10000", name=op.f("ck_sharing_piles_commission_bp")),
        sa.ForeignKeyConstraint(["sid"], ["stations.sid"], name=op.f("fk_sharing_piles_sid_stations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_piles")),
    )
    op.create_index("ix_sharing_piles_sid_gun", "sharing_piles", ["sid", "gun"], unique=True)
    op.create_index(op.f("ix_sharing_piles_owner_id"), "sharing_piles", ["owner_id"])
    op.create_table(
        "sharing_windows",
        sa.Column("pile_id", BIGINT, nullable=False),
        sa.Column("weekday", BIGINT, nullable=False),
        sa.Column("start_min", BIGINT, nullable=False),
        sa.Column("end_min", BIGINT, nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6 AND start_min >= 0 AND end_min <= 1440 AND start_min < end_min",
                           name=op.f("ck_sharing_windows_span")),
        sa.ForeignKeyConstraint(["pile_id"], ["sharing_piles.id"], name=op.f("fk_sharing_windows_pile_id_sharing_piles")),
        sa.PrimaryKeyConstraint("pile_id", "weekday", "start_min", name=op.f("pk_sharing_windows")),
    )
    op.create_table(
        "sharing_splits",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("pile_id", BIGINT, nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("total_fen", BIGINT, nullable=False),
        sa.Column("owner_fen", BIGINT, nullable=False),
        sa.Column("platform_fen", BIGINT, nullable=False),
        sa.Column("commission_bp", BIGINT, nullable=False),
        sa.Column("txn_id", BIGINT, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.ForeignKeyConstraint(["pile_id"], ["sharing_piles.id"], name=op.f("fk_sharing_splits_pile_id_sharing_piles")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_sharing_splits")),
    )
    op.create_index("ix_sharing_splits_owner_id_created_at", "sharing_splits", ["owner_id", "created_at"])
    op.create_table(
        "sharing_withdrawals",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", BIGINT, nullable=False),
        sa.Column("out_bill_no", sa.String(length=32), nullable=False),
        sa.Column("openid", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("transfer_bill_no", sa.String(length=64), nullable=True),
        sa.Column("package_info", sa.String(length=512), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_sharing_withdrawals_amount")),
        sa.CheckConstraint("state IN ('held', 'sending', 'paid', 'released')", name=op.f("ck_sharing_withdrawals_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_withdrawals")),
        sa.UniqueConstraint("out_bill_no", name=op.f("uq_sharing_withdrawals_out_bill_no")),
    )
    op.create_index("ix_sharing_withdrawals_owner_id_created_at", "sharing_withdrawals", ["owner_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_sharing_withdrawals_owner_id_created_at", table_name="sharing_withdrawals")
    op.drop_table("sharing_withdrawals")
    op.drop_index("ix_sharing_splits_owner_id_created_at", table_name="sharing_splits")
    op.drop_table("sharing_splits")
    op.drop_table("sharing_windows")
    op.drop_index(op.f("ix_sharing_piles_owner_id"), table_name="sharing_piles")
    op.drop_index("ix_sharing_piles_sid_gun", table_name="sharing_piles")
    op.drop_table("sharing_piles")
    _set_checks(OLD, WIDE)
