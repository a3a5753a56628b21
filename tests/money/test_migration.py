"""The money migration: one Alembic head, and the tables it makes are the models' tables
(columns, types, nullability, indexes), on SQLite and PostgreSQL; downgrade removes them."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from cloud.migrate import alembic_config, upgrade
from cloud.models import Base

MONEY_TABLES = {"ledger_accounts", "ledger_transactions", "ledger_entries", "orders", "order_lines"}


def test_one_head() -> None:
    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1


def _table_of(diff: tuple) -> str | None:
    for part in diff[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else None
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if name in MONEY_TABLES:
            return name
        if isinstance(part, str) and part in MONEY_TABLES:
            return part
    return None


def test_models_and_migration_agree(engine: Engine) -> None:
    assert MONEY_TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, Base.metadata)
    flat = [d for group in diffs for d in (group if isinstance(group, list) else [group])]
    ours = [d for d in flat if _table_of(d) in MONEY_TABLES]
    assert ours == []


def test_downgrade_drops_the_money_tables(engine: Engine) -> None:
    from alembic import command

    url = engine.url.render_as_string(hide_password=False)
    cfg = alembic_config(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        below = ScriptDirectory.from_config(cfg).get_revision("0003_money").down_revision
        command.downgrade(cfg, below)
    assert not (MONEY_TABLES & set(inspect(engine).get_table_names()))
    upgrade(engine)
    assert MONEY_TABLES <= set(inspect(engine).get_table_names())


def test_the_models_checks_are_the_migrations_checks(tmp_path) -> None:
    """Alembic does not compare CHECK constraints: compare their text on SQLite directly."""
    from sqlalchemy import text

    from cloud.ledger.accounts import CHECK_KIND, CHECK_OWNER, CHECK_SIGN
    from cloud.orders.models import Order, OrderLine
    from tests.cloud.support import migrated_engine

    engine = migrated_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    try:
        with engine.connect() as conn:
            sql = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
    finally:
        engine.dispose()
    for check in (CHECK_KIND, CHECK_OWNER, CHECK_SIGN):
        assert check in sql["ledger_accounts"]
    for model in (Order, OrderLine):
        for c in model.__table__.constraints:
            if c.__class__.__name__ == "CheckConstraint":
                assert str(c.sqltext) in sql[model.__tablename__], c.name
