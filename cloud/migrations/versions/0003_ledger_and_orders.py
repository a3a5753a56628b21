"""ledger and orders: double-entry ledger kept by the database, charging orders

The triggers make the database itself keep the money rules (see docs/money.md):
- an entry's insert moves its driver account's balance in the same statement, so the CHECKs
  on ledger_accounts refuse an entry that would make cash/bonus/held negative or debt positive;
- an entry into a sealed transaction is refused; entries are never updated nor deleted;
- sealing a transaction whose entries do not sum to zero is refused; a sealed transaction is
  never changed nor deleted;
- PostgreSQL only: at commit every entry's transaction must be sealed (a deferred constraint
  trigger), so an unbalanced write cannot commit. SQLite has no deferred triggers: there an
  unsealed transaction can only come from a raw write, and cloud.ledger.service.verify
  reports it.

Revision ID: 0003_money
Revises: 0002_identity
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Spelled out (not imported from cloud.models) so that this file never changes.
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSONDOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0003_money"
down_revision: str | None = "0002_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = ("'cash', 'bonus', 'held', 'debt', 'revenue_electricity', 'revenue_service', "
         "'revenue_idle', 'clearing', 'refunds_payable', 'promotion'")
DRIVER = "'cash', 'bonus', 'held', 'debt'"
PLATFORM = "'revenue_electricity', 'revenue_service', 'revenue_idle', 'clearing', 'refunds_payable', 'promotion'"
STATES = "'created', 'starting', 'charging', 'ended', 'settled', 'failed', 'cancelled', 'abnormal'"

SQLITE = [
    """CREATE TRIGGER ledger_entries_post AFTER INSERT ON ledger_entries
    BEGIN
        SELECT RAISE(ABORT, 'ledger: transaction is sealed')
        WHERE (SELECT sealed FROM ledger_transactions WHERE id = NEW.txn_id) = 1;
        UPDATE ledger_accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
    END""",
    """CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger: entries are append-only'); END""",
    """CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
    BEGIN SELECT RAISE(ABORT, 'ledger: entries are append-only'); END""",
    """CREATE TRIGGER ledger_transactions_seal BEFORE UPDATE ON ledger_transactions
    BEGIN
        SELECT RAISE(ABORT, 'ledger: a sealed transaction is final')
        WHERE OLD.sealed = 1;
        SELECT RAISE(ABORT, 'ledger: only sealing may change a transaction')
        WHERE NEW.id <> OLD.id OR NEW.idem_key <> OLD.idem_key OR NEW.fingerprint <> OLD.fingerprint
           OR NEW.kind <> OLD.kind OR COALESCE(NEW.driver_id, '') <> COALESCE(OLD.driver_id, '');
        SELECT RAISE(ABORT, 'ledger: transaction does not balance')
        WHERE NEW.sealed = 1 AND (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries
                                  WHERE txn_id = NEW.id) <> 0;
    END""",
    """CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
    BEGIN
        SELECT RAISE(ABORT, 'ledger: a sealed transaction is final') WHERE OLD.sealed = 1;
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS ledger_transactions_no_delete",
    "DROP TRIGGER IF EXISTS ledger_transactions_seal",
    "DROP TRIGGER IF EXISTS ledger_entries_no_delete",
    "DROP TRIGGER IF EXISTS ledger_entries_no_update",
    "DROP TRIGGER IF EXISTS ledger_entries_post",
]

POSTGRESQL = [
    """CREATE FUNCTION ledger_entries_post() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF (SELECT sealed FROM ledger_transactions WHERE id = NEW.txn_id) THEN
            RAISE EXCEPTION 'ledger: transaction is sealed' USING ERRCODE = 'check_violation';
        END IF;
        UPDATE ledger_accounts SET balance = balance + NEW.amount
        WHERE id = NEW.account_id AND balance IS NOT NULL;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER ledger_entries_post AFTER INSERT ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_post()""",
    """CREATE FUNCTION ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger: % refused on %', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'check_violation';
    END $$""",
    """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse()""",
    """CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
    FOR EACH ROW WHEN (OLD.sealed) EXECUTE FUNCTION ledger_refuse()""",
    """CREATE FUNCTION ledger_transactions_seal() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.sealed THEN
            RAISE EXCEPTION 'ledger: a sealed transaction is final' USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.id <> OLD.id OR NEW.idem_key <> OLD.idem_key OR NEW.fingerprint <> OLD.fingerprint
           OR NEW.kind <> OLD.kind OR NEW.driver_id IS DISTINCT FROM OLD.driver_id THEN
            RAISE EXCEPTION 'ledger: only sealing may change a transaction'
                USING ERRCODE = 'check_violation';
        END IF;
        IF NEW.sealed AND (SELECT COALESCE(SUM(amount), 0) FROM ledger_entries
                           WHERE txn_id = NEW.id) <> 0 THEN
            RAISE EXCEPTION 'ledger: transaction does not balance' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER ledger_transactions_seal BEFORE UPDATE ON ledger_transactions
    FOR EACH ROW EXECUTE FUNCTION ledger_transactions_seal()""",
    """CREATE FUNCTION ledger_entries_sealed_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT (SELECT sealed FROM ledger_transactions WHERE id = NEW.txn_id) THEN
            RAISE EXCEPTION 'ledger: transaction % committed unsealed (unbalanced)', NEW.txn_id
                USING ERRCODE = 'check_violation';
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE CONSTRAINT TRIGGER ledger_entries_sealed_at_commit AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_sealed_at_commit()""",
]
POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS ledger_entries_sealed_at_commit ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_entries_sealed_at_commit()",
    "DROP TRIGGER IF EXISTS ledger_transactions_seal ON ledger_transactions",
    "DROP FUNCTION IF EXISTS ledger_transactions_seal()",
    "DROP TRIGGER IF EXISTS ledger_transactions_no_delete ON ledger_transactions",
    "DROP TRIGGER IF EXISTS ledger_entries_append_only ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_refuse()",
    "DROP TRIGGER IF EXISTS ledger_entries_post ON ledger_entries",
    "DROP FUNCTION IF EXISTS ledger_entries_post()",
]


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=96), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("balance", BIGINT, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_ledger_accounts_kind")),
        sa.CheckConstraint(
            "(kind NOT IN ('cash', 'bonus', 'held') OR balance >= 0) "
            "AND (kind NOT IN ('debt') OR balance <= 0)",
            name=op.f("ck_ledger_accounts_sign"),
        ),
        sa.CheckConstraint(
            f"(kind IN ({DRIVER}) AND driver_id IS NOT NULL AND balance IS NOT NULL) "
            f"OR (kind IN ({PLATFORM}) AND driver_id IS NULL AND balance IS NULL)",
            name=op.f("ck_ledger_accounts_owner"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_ledger_accounts_code")),
    )
    op.create_index(op.f("ix_ledger_accounts_driver_id"), "ledger_accounts", ["driver_id"])
    op.create_table(
        "ledger_transactions",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("idem_key", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.Column("memo", JSONDOC, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint("idem_key", name=op.f("uq_ledger_transactions_idem_key")),
    )
    op.create_index(op.f("ix_ledger_transactions_driver_id"), "ledger_transactions", ["driver_id"])
    op.create_index(op.f("ix_ledger_transactions_order_id"), "ledger_transactions", ["order_id"])
    op.create_table(
        "ledger_entries",
        sa.Column("id", BIGINT, autoincrement=True, nullable=False),
        sa.Column("txn_id", BIGINT, nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("amount", BIGINT, nullable=False),
        sa.Column("line", sa.String(length=16), nullable=True),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_ledger_entries_nonzero")),
        sa.ForeignKeyConstraint(["account_id"], ["ledger_accounts.id"],
                                name=op.f("fk_ledger_entries_account_id_ledger_accounts")),
        sa.ForeignKeyConstraint(["txn_id"], ["ledger_transactions.id"],
                                name=op.f("fk_ledger_entries_txn_id_ledger_transactions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(op.f("ix_ledger_entries_txn_id"), "ledger_entries", ["txn_id"])
    op.create_index("ix_ledger_entries_account_id_id", "ledger_entries", ["account_id", "id"])
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("gun", sa.String(length=36), nullable=False),
        sa.Column("limit_mode", sa.String(length=16), nullable=False),
        sa.Column("limit_value", BIGINT, nullable=False),
        sa.Column("hold_fen", BIGINT, nullable=False),
        sa.Column("tariff_id", sa.String(length=64), nullable=True),
        sa.Column("tariff_version", BIGINT, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("abnormal_reason", sa.String(length=200), nullable=True),
        sa.Column("session_id", sa.String(length=36), nullable=True),
        sa.Column("total_fen", BIGINT, nullable=True),
        sa.Column("debt_fen", BIGINT, nullable=True),
        sa.Column("created_at", BIGINT, nullable=False),
        sa.Column("updated_at", BIGINT, nullable=False),
        sa.Column("settled_at", BIGINT, nullable=True),
        sa.CheckConstraint(f"state IN ({STATES})", name=op.f("ck_orders_state")),
        sa.CheckConstraint("limit_mode IN ('amount', 'energy', 'time', 'full')",
                           name=op.f("ck_orders_limit_mode")),
        sa.CheckConstraint("hold_fen >= 0 AND limit_value >= 0", name=op.f("ck_orders_amounts")),
        sa.CheckConstraint("state <> 'abnormal' OR abnormal_reason IS NOT NULL",
                           name=op.f("ck_orders_reason")),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_driver_id"), "orders", ["driver_id"])
    op.create_index(op.f("ix_orders_sid"), "orders", ["sid"])
    op.create_index(op.f("ix_orders_state"), "orders", ["state"])
    op.create_index(op.f("ix_orders_session_id"), "orders", ["session_id"])
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("n", BIGINT, autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=True),
        sa.Column("energy_wh", BIGINT, nullable=True),
        sa.Column("fen", BIGINT, nullable=False),
        sa.CheckConstraint("kind IN ('electricity', 'service', 'idle')", name=op.f("ck_order_lines_kind")),
        sa.CheckConstraint("fen >= 0 AND (energy_wh IS NULL OR energy_wh >= 0)",
                           name=op.f("ck_order_lines_amounts")),
        sa.ForeignKeyConstraint(["order_id"], ["orders.order_id"],
                                name=op.f("fk_order_lines_order_id_orders")),
        sa.PrimaryKeyConstraint("order_id", "n", name=op.f("pk_order_lines")),
    )
    dialect = op.get_bind().dialect.name
    for stmt in POSTGRESQL if dialect == "postgresql" else SQLITE:
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for stmt in POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP:
        op.execute(stmt)
    op.drop_table("order_lines")
    op.drop_table("orders")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_transactions")
    op.drop_table("ledger_accounts")
