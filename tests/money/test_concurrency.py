"""Concurrent holds, settlements, top-ups and refunds for one driver, from threads and from
processes: no balance goes negative, no idempotency key posts twice, no fen is lost. Each
worker reports what it committed; the sums of the reports must equal the ledger."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db import make_engine
from cloud.ledger import service as L
from cloud.ledger.accounts import Kind
from cloud.ledger.errors import InsufficientFunds
from cloud.ledger.models import LedgerTransaction
from cloud.orders.models import Order
from tests.cloud.support import migrated_engine
from tests.money.workload import SHARED_KEYS, Report, key_amount, run_worker


def add_up(url: str, driver: str, reports: list[Report]) -> None:
    engine = migrated_engine(url)
    try:
        with Session(engine) as s:
            assert L.verify(s) == []
            b = L.balances(s, driver)
            assert min(b.cash, b.bonus, b.held, b.debt) >= 0
            # Each shared key posted exactly once in all, whoever raced for it.
            posted = [k for r in reports for k in r.topups]
            assert len(posted) == len(set(posted))
            in_db = s.execute(select(LedgerTransaction.idem_key)
                              .where(LedgerTransaction.kind == "top_up")).scalars().all()
            assert sorted(in_db) == sorted(posted)
            assert sum(r.replays for r in reports) > 0  # the race on keys did happen
            billed = [o for r in reports for o in r.billed]
            assert len(billed) == len(set(billed))  # an order is billed once
            topups = sum(a for r in reports for a in r.topups.values())
            spent = sum(a for r in reports for a in r.billed.values())
            refunded = sum(a for r in reports for a in r.refunds.values())
            paid_out = sum(a for r in reports for a in r.refunds_paid.values())
            # No fen lost or made: the wallet is what came in minus bills and refunds.
            assert b.cash + b.bonus + b.held - b.debt == topups - spent - refunded
            assert L.platform_balance(s, Kind.CLEARING) == -topups + paid_out
            revenue = sum(L.platform_balance(s, k) for k in
                          (Kind.REVENUE_ELECTRICITY, Kind.REVENUE_SERVICE, Kind.REVENUE_IDLE))
            assert revenue == spent
            assert L.platform_balance(s, Kind.REFUNDS_PAYABLE) == refunded - paid_out
            # The hold is exactly what the open orders hold.
            open_holds = s.execute(select(func.coalesce(func.sum(Order.hold_fen), 0)).where(
                Order.driver_id == driver, Order.state.in_(["created", "starting", "charging", "ended", "abnormal"]))
            ).scalar_one()
            assert b.held == open_holds
            assert len(set(k for k in in_db)) <= SHARED_KEYS
            assert sum(r.refused for r in reports) >= 0
            assert topups == sum(key_amount(int(k.rsplit(":", 1)[1])) for k in in_db)
    finally:
        engine.dispose()


def test_threads_race_on_one_driver(db_url: str) -> None:
    engine = migrated_engine(db_url)
    engine.dispose()
    workers, steps = 6, 40
    start = threading.Barrier(workers)

    def go(w: int) -> Report:
        start.wait()
        return run_worker(db_url, "racer", w, steps, seed=1)

    with ThreadPoolExecutor(workers) as pool:
        reports = list(pool.map(go, range(workers)))
    add_up(db_url, "racer", reports)


@pytest.mark.postgres
def test_processes_race_on_one_driver(pg_url: str) -> None:
    engine = migrated_engine(pg_url)
    engine.dispose()
    workers, steps = 4, 40
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        reports = pool.starmap(run_worker, [(pg_url, "racer", w, steps, 2) for w in range(workers)])
    add_up(pg_url, "racer", reports)


@pytest.mark.postgres
def test_one_payment_callback_delivered_many_times_at_once_credits_once(pg_url: str) -> None:
    engine = migrated_engine(pg_url)
    n = 8
    start = threading.Barrier(n)

    def deliver(_i: int) -> bool:
        start.wait()
        with Session(engine) as s, s.begin():
            return L.top_up(s, "payer", 5000, "wxpay:tx-1").replayed

    try:
        with ThreadPoolExecutor(n) as pool:
            replayed = list(pool.map(deliver, range(n)))
        assert replayed.count(False) == 1
        with Session(engine) as s:
            assert L.balances(s, "payer").cash == 5000
            assert L.verify(s) == []
    finally:
        engine.dispose()


def test_holds_racing_for_the_last_fen_never_overdraw(db_url: str) -> None:
    """1000 fen, eight starts of 400 at the same instant: exactly two get their hold. On the
    web workers' engine (a plain deferred BEGIN on SQLite): the ledger takes the lock itself."""
    migrated_engine(db_url).dispose()
    engine = make_engine(db_url, purpose="web")
    with Session(engine) as s, s.begin():
        L.top_up(s, "last", 1000, "pay:last")
    n = 8
    start = threading.Barrier(n)

    def hold(i: int) -> bool:
        start.wait()
        try:
            with Session(engine) as s, s.begin():
                L.hold(s, "last", f"last-{i}", 400)
            return True
        except InsufficientFunds:
            return False

    try:
        with ThreadPoolExecutor(n) as pool:
            got = list(pool.map(hold, range(n)))
        assert got.count(True) == 2
        with Session(engine) as s:
            b = L.balances(s, "last")
            assert (b.cash, b.held) == (200, 800)
            assert L.verify(s) == []
    finally:
        engine.dispose()
