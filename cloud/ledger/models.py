"""Ledger tables: accounts, transactions (one per idempotency key), entries (append-only).

The rules the database keeps (triggers in migration 0003_money; docs/money.md): an entry's insert
moves its driver account's cached balance in the same statement (a trigger), the CHECKs
below refuse a cash/bonus/held balance below zero or a debt balance above zero, entries are
never updated or deleted, and a transaction is sealed only when its entries sum to zero.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.ledger.accounts import CHECK_KIND, CHECK_OWNER, CHECK_SIGN
from cloud.models.base import Base, now_ms


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"
    __table_args__ = (
        CheckConstraint(CHECK_KIND, name="kind"),
        CheckConstraint(CHECK_SIGN, name="sign"),
        CheckConstraint(CHECK_OWNER, name="owner"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(96), unique=True)
    driver_id: Mapped[str | None] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    # Driver accounts: the sum of the account's entries, kept by the entry-insert trigger.
    balance: Mapped[int | None]
    created_at: Mapped[int] = mapped_column(default=now_ms)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"
    # recharges by time (the console's reports; migration 0011_reports)
    __table_args__ = (Index("ix_ledger_transactions_kind_created_at", "kind", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    idem_key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(24))
    driver_id: Mapped[str | None] = mapped_column(String(64), index=True)
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # sha256 of what was asked (kind and arguments): a replay with other arguments is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    memo: Mapped[dict[str, Any] | None]
    created_at: Mapped[int] = mapped_column(default=now_ms)


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint("amount <> 0", name="nonzero"),
        Index("ix_ledger_entries_account_id_id", "account_id", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    txn_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"))
    amount: Mapped[int]
    line: Mapped[str | None] = mapped_column(String(16))  # fee line of a settlement
