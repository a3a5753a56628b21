"""The order service on a real database: create is idempotent and holds once, a bill beyond
its hold becomes debt shown on the order, bad input is refused with nothing changed, and the
periodic job closes what never closed, once, even when two jobs run at the same time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as L
from cloud.ledger.errors import InsufficientFunds
from cloud.ledger.models import LedgerTransaction
from cloud.orders import service as orders
from cloud.orders.machine import Event, IllegalTransition
from cloud.orders.service import BadOrderInput, Line, OrderConflict, UnknownOrder

T0 = 1_767_225_600_000
TERMS = dict(driver_id="d", sid="S1", gun="P1-1", limit_mode="amount", limit_value=2000, hold_fen=2000,
             tariff_id="t1", tariff_version=3)  # fmt: skip


def new(engine: Engine, oid: str, now: int = T0, **kw: object) -> None:
    with Session(engine) as s, s.begin():
        orders.create(s, order_id=oid, now=now, **{**TERMS, **kw})


def move(engine: Engine, oid: str, *events: Event, **kw: object) -> str:
    with Session(engine) as s, s.begin():
        for e in events:
            o = orders.apply(s, oid, e, **kw)
        return o.state


def test_create_is_idempotent_and_holds_once(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 5000, "pay:1")
    new(engine, "o1")
    new(engine, "o1")
    with pytest.raises(OrderConflict):
        new(engine, "o1", hold_fen=2500)
    with Session(engine) as s:
        b = L.balances(s, "d")
        assert (b.cash, b.held) == (3000, 2000)
        o = orders.get(s, "o1")
        assert o is not None and (o.state, o.tariff_id, o.tariff_version) == ("created", "t1", 3)
    with pytest.raises(InsufficientFunds):
        new(engine, "o2", hold_fen=3001)
    with Session(engine) as s:
        assert orders.get(s, "o2") is None  # nothing of a refused start stays


def test_a_bill_beyond_the_hold_is_debt_on_the_order_and_the_next_start_collects_it(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 2100, "pay:1")
    new(engine, "o1")
    assert move(engine, "o1", Event.START_SENT, Event.START_ACCEPTED, Event.SESSION_STARTED,
                Event.SESSION_ENDED, Event.GUN_RELEASED) == "ended"
    bill = [Line("electricity", 900, "peak", 1500), Line("service", 300, "peak", 1500),
            Line("electricity", 600, "flat", 1300), Line("service", 200, "flat", 1300), Line("idle", 35)]
    assert move(engine, "o1", Event.BILLED, lines=bill) == "settled"
    with Session(engine) as s:
        o = orders.get(s, "o1")
        assert o is not None and (o.total_fen, o.debt_fen) == (2035, 35)
        assert [(ln.kind, ln.period, ln.fen) for ln in orders.lines_of(s, "o1")][-1] == ("idle", None, 35)
        b = L.balances(s, "d")
        assert (b.cash, b.held, b.debt) == (100, 0, 35)
    new(engine, "o2", hold_fen=50, limit_value=50)  # 35 of the 100 pay the debt first
    with Session(engine) as s:
        b = L.balances(s, "d")
        assert (b.cash, b.held, b.debt) == (15, 50, 0)
        assert L.verify(s) == []
    with pytest.raises(IllegalTransition):
        move(engine, "o1", Event.BILLED, lines=bill)  # settled is final


def test_bad_input_is_refused_and_changes_nothing(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 5000, "pay:1")
    new(engine, "o1")
    move(engine, "o1", Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED)
    for kw in ({"lines": None}, {"lines": [Line("electricity", -1)]}, {"lines": [Line("tip", 1)]},
               {"lines": [Line("service", True)]}):  # type: ignore[arg-type]
        with pytest.raises(BadOrderInput):
            move(engine, "o1", Event.BILLED, **kw)
    with pytest.raises(BadOrderInput):
        move(engine, "o1", Event.BILL_REJECTED)  # abnormal needs its reason
    with pytest.raises(BadOrderInput):
        move(engine, "o1", Event.GUN_RELEASED, lines=[Line("idle", 5)])
    with pytest.raises(UnknownOrder):
        move(engine, "nope", Event.CANCEL)
    with pytest.raises(BadOrderInput):
        new(engine, "o9", limit_mode="forever")
    with Session(engine) as s:
        o = orders.get(s, "o1")
        assert o is not None and o.state == "ended"
        assert L.balances(s, "d").held == 2000
    assert move(engine, "o1", Event.BILL_REJECTED, reason="cost_mismatch: cloud 1200, gateway 1300") == "abnormal"
    assert move(engine, "o1", Event.RESOLVE_BILL, lines=[Line("electricity", 1200)]) == "settled"
    with Session(engine) as s:
        assert L.balances(s, "d").cash == 3800


def test_the_job_closes_stale_orders_once_even_run_twice_at_once(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 10_000, "pay:1")
    new(engine, "created-old", now=T0)
    new(engine, "charging-old", now=T0)
    with Session(engine) as s, s.begin():
        orders.apply(s, "charging-old", Event.START_SENT, now=T0)
        orders.apply(s, "charging-old", Event.SESSION_STARTED, now=T0)
    new(engine, "fresh", now=T0 + 3_000_000)
    job_time = T0 + 3_600_000
    start = threading.Barrier(2)

    def job(_i: int) -> list[str]:
        start.wait()
        with Session(engine) as s, s.begin():
            return orders.close_stale(s, older_than_ms=1_800_000, now=job_time)

    with ThreadPoolExecutor(2) as pool:
        moved = [oid for r in pool.map(job, range(2)) for oid in r]
    assert sorted(moved) == ["charging-old", "created-old"]  # each once, by one of the two
    with Session(engine) as s:
        states = {oid: orders.get(s, oid).state for oid in ("created-old", "charging-old", "fresh")}  # type: ignore[union-attr]
        assert states == {"created-old": "cancelled", "charging-old": "abnormal", "fresh": "created"}
        assert "never ended" in (orders.get(s, "charging-old").abnormal_reason or "")  # type: ignore[union-attr]
        assert L.balances(s, "d").held == 4000  # the abnormal one keeps its hold; the cancelled one not
        assert L.verify(s) == []


def test_concurrent_creates_of_one_order_hold_once(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 5000, "pay:1")
    n = 6
    start = threading.Barrier(n)

    def create(_i: int) -> None:
        start.wait()
        new(engine, "same")

    with ThreadPoolExecutor(n) as pool:
        list(pool.map(create, range(n)))
    with Session(engine) as s:
        assert L.balances(s, "d").held == 2000
        holds = s.execute(select(func.count()).select_from(LedgerTransaction)
                          .where(LedgerTransaction.kind == "hold")).scalar_one()
        assert holds == 1


def test_the_ledger_refuses_bad_amounts_ids_and_lines(engine: Engine) -> None:
    from cloud.ledger.errors import InvalidAmount, InvalidInput

    with Session(engine) as s, s.begin():
        L.top_up(s, "d", 1000, "pay:1")
        L.hold(s, "d", "o", 500)
        for amount in (0, -5, 1.5, True, "10", 10**12 + 1):
            with pytest.raises(InvalidAmount):
                L.top_up(s, "d", amount, "pay:x")  # type: ignore[arg-type]
        for bad in ("", "x" * 65):
            with pytest.raises(InvalidInput):
                L.top_up(s, bad, 1, "pay:y")
        with pytest.raises(InvalidInput):
            L.top_up(s, "d", 1, "")
        with pytest.raises(InvalidInput):
            L.settle(s, "o", {"tip": 5})
        with pytest.raises(InvalidAmount):
            L.settle(s, "o", {"electricity": -1})
        assert L.balances(s, "d") == L.Balances(cash=500, bonus=0, held=500, debt=0)


def test_a_cash_only_hold_leaves_the_bonus_and_is_paid_and_returned_in_cash(engine: Engine) -> None:
    """An order paid by its own payment holds cash alone: bonus credit does not count towards
    it, its bill comes from that cash and its rest goes back to cash."""
    with Session(engine) as s, s.begin():
        L.grant_bonus(s, "d", 5000, "bonus:1")
        L.top_up(s, "d", 1000, "pay:1")
    with pytest.raises(InsufficientFunds):  # 6000 available, but only 1000 of it cash
        new(engine, "o1", hold_fen=1500, cash_only=True)
    new(engine, "o1", hold_fen=1000, cash_only=True)
    with Session(engine) as s:
        assert L.balances(s, "d") == L.Balances(cash=0, bonus=5000, held=1000, debt=0)
    with Session(engine) as s, s.begin():  # the same hold again: one posting
        assert L.hold(s, "d", "o1", 1000, cash_only=True).replayed
    assert move(engine, "o1", Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED) == "ended"
    assert move(engine, "o1", Event.BILLED, lines=[Line("electricity", 600), Line("service", 100)]) == "settled"
    with Session(engine) as s:
        assert L.balances(s, "d") == L.Balances(cash=300, bonus=5000, held=0, debt=0)
        assert L.verify(s) == []
