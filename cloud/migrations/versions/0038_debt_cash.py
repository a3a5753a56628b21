"""a second debt account per driver: `debt_cash`, what the driver owes for money paid out to them
beyond what they had (a refund paid after it was booked failed, an owner's share clawed back after
it was withdrawn). Only the driver's own money pays it, never bonus (docs/money.md). Widens the
three CHECK constraints of ledger_accounts; on SQLite through the schema text, as 0025_sharing does.
Existing drivers get the account when their accounts are next locked (cloud.ledger opens missing ones).

Revision ID: 0038_debt_cash
Revises: 0037_occupancy
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0038_debt_cash"
down_revision: str | None = "0037_occupancy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out so that this file never changes (cloud/ledger/accounts.py builds the same text).
PLATFORM = ("'revenue_electricity', 'revenue_service', 'revenue_idle', 'clearing', 'refunds_payable', "
            "'promotion', 'owner_payable', 'bank'")
NON_NEGATIVE = "'cash', 'bonus', 'held', 'owner_earnings', 'owner_withdrawing'"


def _checks(debt: str) -> dict[str, str]:
    driver = f"'cash', 'bonus', 'held', {debt}"
    return {
        "ck_ledger_accounts_kind": f"kind IN ({driver}, {PLATFORM}, 'owner_earnings', 'owner_withdrawing')",
        "ck_ledger_accounts_owner": f"(kind IN ({driver}, 'owner_earnings', 'owner_withdrawing') AND driver_id IS NOT NULL "
                                    f"AND balance IS NOT NULL) "
                                    f"OR (kind IN ({PLATFORM}) AND driver_id IS NULL AND balance IS NULL)",
        "ck_ledger_accounts_sign": f"(kind NOT IN ({NON_NEGATIVE}) OR balance >= 0) "
                                   f"AND (kind NOT IN ({debt}) OR balance <= 0)",
    }


OLD = _checks("'debt'")
WIDE = _checks("'debt', 'debt_cash'")


def _set_checks(new: dict[str, str], old: dict[str, str]) -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name, check in new.items():
            op.drop_constraint(op.f(name), "ledger_accounts", type_="check")
            op.create_check_constraint(op.f(name), "ledger_accounts", check)
        return
    # SQLite cannot alter a CHECK; the table's schema text is rewritten (why: 0018_console_live).
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


def downgrade() -> None:
    bind = op.get_bind()
    used = bind.exec_driver_sql(
        "SELECT count(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id "
        "WHERE a.kind = 'debt_cash'").scalar_one()
    if used:  # entries are immutable: folding them into `debt` would rewrite the books
        raise RuntimeError(f"{used} ledger entries are on debt_cash accounts; this ledger cannot go below 0038")
    bind.exec_driver_sql("DELETE FROM ledger_accounts WHERE kind = 'debt_cash'")
    _set_checks(OLD, WIDE)
