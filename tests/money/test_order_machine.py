"""The order state machine: the pure transition table explored by a hypothesis state machine,
and the same events driven through the order service against a real database, where every
step must also leave the money right (hold open exactly while the order is, bills booked
once, the ledger sound)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.ledger import service as L
from cloud.ledger.errors import InsufficientFunds
from cloud.orders import service as orders
from cloud.orders.machine import (
    HOLDING,
    NEEDS_REASON,
    TERMINAL,
    TRANSITIONS,
    Event,
    IllegalTransition,
    Money,
    State,
    legal_events,
    step,
)
from tests.cloud.support import migrated_engine


# --- the table itself ---------------------------------------------------------------------------------
def test_every_state_is_reachable_from_created_and_every_open_state_can_close() -> None:
    assert _reachable(State.CREATED) == set(State)
    for s in set(State) - TERMINAL:  # no order can be stuck: a path to a terminal state exists
        assert _reachable(s) & TERMINAL, f"{s} can never close"


def _reachable(start: State) -> set[State]:
    seen, queue = {start}, [start]
    while queue:
        s = queue.pop()
        for e in legal_events(s):
            t = step(s, e).target
            if t not in seen:
                seen.add(t)
                queue.append(t)
    return seen


def test_money_effects_match_the_hold_rule() -> None:
    """A hold is returned or booked exactly when an order leaves the holding states, never
    otherwise, and terminal states take no event at all."""
    for (src, ev), (dst, money) in TRANSITIONS.items():
        assert src not in TERMINAL
        closes = src in HOLDING and dst not in HOLDING
        assert (money is not Money.KEEP) == closes, (src, ev)
        assert (money is Money.SETTLE) == (dst is State.SETTLED), (src, ev)
    for s in TERMINAL:
        assert legal_events(s) == []
        for e in Event:
            with pytest.raises(IllegalTransition):
                step(s, e)


class PureMachine(RuleBasedStateMachine):
    """Random events, legal or not: a legal one moves as the table says; an illegal one raises
    and moves nothing; once closed, an order stays closed."""

    def __init__(self) -> None:
        super().__init__()
        self.state = State.CREATED
        self.closed_at: State | None = None

    @rule(event=st.sampled_from(list(Event)))
    def send(self, event: Event) -> None:
        if (self.state, event) in TRANSITIONS:
            t = step(self.state, event)
            assert (t.target, t.money) == TRANSITIONS[(self.state, event)]
            self.state = t.target
        else:
            with pytest.raises(IllegalTransition):
                step(self.state, event)

    @invariant()
    def closed_is_final(self) -> None:
        if self.closed_at is not None:
            assert self.state == self.closed_at
        if self.state in TERMINAL:
            self.closed_at = self.state


TestPureMachine = PureMachine.TestCase
TestPureMachine.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)


# --- through the service, on a database ---------------------------------------------------------------
LINES = st.lists(
    st.builds(orders.Line, kind=st.sampled_from(["electricity", "service", "idle"]),
              fen=st.integers(0, 4_000), period=st.sampled_from([None, "peak", "valley"]),
              energy_wh=st.one_of(st.none(), st.integers(0, 50_000))),
    max_size=6,
)


class ServiceMachine(RuleBasedStateMachine):
    """Orders of one driver moved by random events through cloud.orders.service on SQLite; the
    model says which events are legal and what the wallet must be."""

    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.driver = f"drv-{uuid.uuid4().hex[:10]}"
        self.orders: dict[str, State] = {}
        self.holds: dict[str, int] = {}
        self.paid_in = 0  # top-ups
        self.billed = 0  # settled bills
        with Session(self.engine) as s, s.begin():
            L.top_up(s, self.driver, 10_000, f"pay:{self.driver}:0")
        self.paid_in = 10_000
        self.n = 0

    @rule(amount=st.integers(1, 6_000))
    def top_up(self, amount: int) -> None:
        self.n += 1
        with Session(self.engine) as s, s.begin():
            L.top_up(s, self.driver, amount, f"pay:{self.driver}:{self.n}")
        self.paid_in += amount

    @rule(hold=st.integers(1, 8_000))
    def create(self, hold: int) -> None:
        self.n += 1
        oid = f"{self.driver}-o{self.n}"
        with Session(self.engine) as s:
            avail = L.balances(s, self.driver).available
            debt = L.balances(s, self.driver).debt
        try:
            with Session(self.engine) as s, s.begin():
                orders.create(s, order_id=oid, driver_id=self.driver, sid="S1", gun="P1-1",
                              limit_mode="amount", limit_value=hold, hold_fen=hold)
        except InsufficientFunds:
            assert hold > avail - min(avail, debt)
            return
        assert hold <= avail - min(avail, debt)
        self.orders[oid] = State.CREATED
        self.holds[oid] = hold

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), event=st.sampled_from(list(Event)), lines=LINES)
    def send(self, data: st.DataObject, event: Event, lines: list[orders.Line]) -> None:
        oid = data.draw(st.sampled_from(sorted(self.orders)))
        state = self.orders[oid]
        legal = (state, event) in TRANSITIONS
        kw: dict = {}
        if legal and (state, event) in NEEDS_REASON:
            kw["reason"] = "test: " + event.value
        if legal and TRANSITIONS[(state, event)][1] is Money.SETTLE:
            kw["lines"] = lines
        with Session(self.engine) as s, s.begin():
            if not legal:
                with pytest.raises(IllegalTransition):
                    orders.apply(s, oid, event, **kw)
                return
            o = orders.apply(s, oid, event, **kw)
            assert o.state == TRANSITIONS[(state, event)][0].value
        self.orders[oid] = TRANSITIONS[(state, event)][0]
        if kw.get("lines") is not None:
            total = sum(ln.fen for ln in lines)
            self.billed += total
            with Session(self.engine) as s:
                o = orders.get(s, oid)
                assert o is not None and o.total_fen == total
                assert o.debt_fen == max(0, total - self.holds[oid])
                assert [(ln.kind, ln.fen) for ln in orders.lines_of(s, oid)] == [(ln.kind, ln.fen) for ln in lines]

    @invariant()
    def money_follows_the_orders(self) -> None:
        with Session(self.engine) as s:
            b = L.balances(s, self.driver)
            assert L.verify(s) == []
            for oid, st_ in self.orders.items():
                o = orders.get(s, oid)
                assert o is not None and o.state == st_.value
                assert (st_ is not State.ABNORMAL) or o.abnormal_reason
        open_holds = sum(h for oid, h in self.holds.items() if self.orders[oid] in HOLDING)
        assert b.held == open_holds
        assert min(b.cash, b.bonus, b.held, b.debt) >= 0
        # Every fen paid in is in the wallet, held, or billed; debt is billed but unpaid.
        assert b.cash + b.bonus + b.held - b.debt == self.paid_in - self.billed


def test_orders_through_the_service_keep_the_money_right(tmp_path: Path) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path / 'orders.sqlite'}")
    try:
        ServiceMachine.engine = engine
        runner = ServiceMachine.TestCase()
        runner.settings = settings(max_examples=40, stateful_step_count=25, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])
        runner.runTest()
    finally:
        engine.dispose()
