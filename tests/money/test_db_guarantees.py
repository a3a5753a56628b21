"""The database itself refuses what would break the money rules, whatever code writes to it:
raw SQL, not the service, tries each violation here, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from cloud.ledger import service as L


@pytest.fixture
def funded(engine: Engine) -> Engine:
    """Driver `d` with 1000 fen cash and 300 held for order `o`."""
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 1300, "pay:1")
        L.hold(s, "d", "o", 300)
    return engine


def account_id(conn, code: str) -> int:
    return conn.execute(text("SELECT id FROM ledger_accounts WHERE code = :c"), {"c": code}).scalar_one()


def refused(engine: Engine, *statements: tuple[str, dict]) -> str:
    """Run the statements in one transaction; it must fail. Returns the database's message."""
    with pytest.raises((IntegrityError, DBAPIError)) as err:
        with engine.begin() as conn:
            for sql, params in statements:
                conn.execute(text(sql), params)
    return str(err.value.orig)


def new_txn(key: str) -> tuple[str, dict]:
    return ("INSERT INTO ledger_transactions (idem_key, kind, driver_id, fingerprint, sealed, created_at) "
            "VALUES (:k, 'raw', 'd', 'x', :f, 0)", {"k": key, "f": False})


def entry(key: str, code: str, amount: int) -> tuple[str, dict]:
    return ("INSERT INTO ledger_entries (txn_id, account_id, amount) SELECT t.id, a.id, :amt "
            "FROM ledger_transactions t, ledger_accounts a WHERE t.idem_key = :k AND a.code = :c",
            {"k": key, "c": code, "amt": amount})


def seal(key: str) -> tuple[str, dict]:
    return ("UPDATE ledger_transactions SET sealed = :t WHERE idem_key = :k", {"k": key, "t": True})


def state(engine: Engine) -> tuple:
    with Session(engine) as s:
        b = L.balances(s, "d")
        return b, L.verify(s)


def test_a_direct_negative_balance_is_refused(funded: Engine) -> None:
    before = state(funded)
    msg = refused(funded, ("UPDATE ledger_accounts SET balance = -1 WHERE code = 'driver:d:cash'", {}))
    assert "sign" in msg
    refused(funded, ("UPDATE ledger_accounts SET balance = -5 WHERE code = 'driver:d:held'", {}))
    refused(funded, ("UPDATE ledger_accounts SET balance = 5 WHERE code = 'driver:d:debt'", {}))
    assert state(funded) == before


def test_an_entry_that_would_overdraw_cash_is_refused_even_when_balanced(funded: Engine) -> None:
    before = state(funded)
    msg = refused(funded, new_txn("raw:1"), entry("raw:1", "driver:d:cash", -1001),
                  entry("raw:1", "platform:revenue_service", 1001), seal("raw:1"))
    assert "sign" in msg  # the trigger moved the balance; the CHECK refused -1
    assert state(funded) == before


def test_an_unbalanced_transaction_cannot_be_sealed(funded: Engine) -> None:
    before = state(funded)
    msg = refused(funded, new_txn("raw:2"), entry("raw:2", "driver:d:cash", 500), seal("raw:2"))
    assert "does not balance" in msg
    assert state(funded) == before


def test_postgres_refuses_an_unsealed_transaction_at_commit(funded: Engine) -> None:
    if funded.dialect.name != "postgresql":
        # SQLite has no deferred triggers: the write commits, and verify() names it.
        with funded.begin() as conn:
            for sql, p in (new_txn("raw:3"), entry("raw:3", "driver:d:cash", 500)):
                conn.execute(text(sql), p)
        with Session(funded) as s:
            problems = L.verify(s)
        assert any("sums to 500" in p for p in problems) and any("not sealed" in p for p in problems)
        return
    before = state(funded)
    msg = refused(funded, new_txn("raw:3"), entry("raw:3", "driver:d:cash", 500))
    assert "unsealed" in msg
    assert state(funded) == before


def test_entries_are_append_only_and_sealed_transactions_final(funded: Engine) -> None:
    before = state(funded)
    refused(funded, ("UPDATE ledger_entries SET amount = amount + 1", {}))
    refused(funded, ("DELETE FROM ledger_entries", {}))
    refused(funded, ("DELETE FROM ledger_transactions WHERE idem_key = 'pay:1'", {}))
    refused(funded, ("UPDATE ledger_transactions SET sealed = :f WHERE idem_key = 'pay:1'", {"f": False}))
    refused(funded, ("UPDATE ledger_transactions SET idem_key = 'pay:9' WHERE idem_key = 'pay:1'", {}))
    # A sealed transaction takes no more entries, balanced or not.
    refused(funded, entry("pay:1", "driver:d:cash", 7), entry("pay:1", "platform:clearing", -7))
    assert state(funded) == before
    assert before[1] == []


def test_an_idempotency_key_posts_once_even_by_raw_insert(funded: Engine) -> None:
    refused(funded, ("INSERT INTO ledger_transactions (idem_key, kind, fingerprint, sealed, created_at) "
                     "VALUES ('pay:1', 'top_up', 'x', :f, 0)", {"f": False}))


def test_account_rows_keep_their_shape(funded: Engine) -> None:
    # A platform account has no cached balance nor owner; a driver account both; kinds are known.
    refused(funded, ("INSERT INTO ledger_accounts (code, driver_id, kind, balance, created_at) "
                     "VALUES ('x1', 'd', 'clearing', 0, 0)", {}))
    refused(funded, ("INSERT INTO ledger_accounts (code, driver_id, kind, balance, created_at) "
                     "VALUES ('x2', NULL, 'cash', 0, 0)", {}))
    refused(funded, ("INSERT INTO ledger_accounts (code, driver_id, kind, balance, created_at) "
                     "VALUES ('x3', 'd', 'gold', 0, 0)", {}))
    refused(funded, ("INSERT INTO ledger_accounts (code, driver_id, kind, balance, created_at) "
                     "VALUES ('x4', 'e', 'cash', -3, 0)", {}))


def test_orders_refuse_unknown_states_and_reasonless_abnormal(funded: Engine) -> None:
    cols = ("INSERT INTO orders (order_id, driver_id, sid, gun, limit_mode, limit_value, hold_fen, state, "
            "abnormal_reason, created_at, updated_at) VALUES (:o, 'd', 'S', 'P1-1', 'amount', 100, 100, :st, :r, 0, 0)")
    refused(funded, (cols, {"o": "x1", "st": "paid", "r": None}))
    refused(funded, (cols, {"o": "x2", "st": "abnormal", "r": None}))
    with funded.begin() as conn:
        conn.execute(text(cols), {"o": "x3", "st": "abnormal", "r": "cost mismatch"})


def test_two_raw_writers_racing_to_overdraw_are_stopped_by_the_database(funded: Engine) -> None:
    """No service code at all: two connections each spend 600 of the 1000 cash in balanced,
    sealed raw transactions at the same time. The second waits for the first's row (or write)
    lock, then its entry meets the CHECK on 400 and fails: cash ends at 400, never below."""
    import threading

    go = threading.Barrier(2)
    outcome: dict[int, str] = {}

    def spend(i: int) -> None:
        key = f"raw-race:{i}"
        go.wait()
        try:
            with funded.begin() as conn:
                for sql, p in (new_txn(key), entry(key, "driver:d:cash", -600),
                               entry(key, "platform:revenue_service", 600), seal(key)):
                    conn.execute(text(sql), p)
            outcome[i] = "ok"
        except (IntegrityError, DBAPIError) as exc:
            outcome[i] = str(exc.orig)

    threads = [threading.Thread(target=spend, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(v == "ok" for v in outcome.values()) == [False, True], outcome
    assert any("sign" in v for v in outcome.values() if v != "ok")
    with Session(funded) as s:
        assert L.balances(s, "d").cash == 400
        assert L.verify(s) == []
