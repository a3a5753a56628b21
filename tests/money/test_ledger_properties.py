"""Random sequences of top-ups, bonuses, holds, settlements with random fee lines, releases,
refunds (paid or failed), debts and replays, each in its own committed transaction, against a
model of what the money must be. After every step: the posting balances, every balance is
the sum of its entries, no protected balance is negative, the ledger's total is zero, and
each driver's balances and the platform's accounts equal the model's, to the fen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as L
from cloud.ledger.accounts import Kind
from cloud.ledger.errors import IdempotencyConflict, InsufficientFunds
from cloud.ledger.models import LedgerTransaction

DRIVERS = 2
fen = st.integers(min_value=1, max_value=20_000)
lines = st.fixed_dictionaries({"electricity": st.integers(0, 15_000), "service": st.integers(0, 8_000),
                               "idle": st.integers(0, 3_000)})  # fmt: skip
op = st.one_of(
    st.tuples(st.just("top_up"), st.integers(0, DRIVERS - 1), fen),
    st.tuples(st.just("bonus"), st.integers(0, DRIVERS - 1), st.integers(1, 3_000)),
    st.tuples(st.just("hold"), st.integers(0, DRIVERS - 1), fen),
    st.tuples(st.just("settle"), st.integers(0, 50), lines),
    st.tuples(st.just("release"), st.integers(0, 50)),
    st.tuples(st.just("refund"), st.integers(0, DRIVERS - 1), fen),
    st.tuples(st.just("refund_close"), st.integers(0, 50), st.booleans()),
    st.tuples(st.just("collect"), st.integers(0, DRIVERS - 1)),
    st.tuples(st.just("replay"), st.integers(0, 50)),
)


@dataclass
class Wallet:
    cash: int = 0
    bonus: int = 0
    held: int = 0
    debt: int = 0


@dataclass
class Model:
    """What the ledger must hold, computed independently of it."""

    wallets: list[Wallet]
    holds: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # order -> (driver, bonus, cash)
    refunds: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (driver, amount)
    clearing: int = 0
    promotion: int = 0
    revenue: dict[str, int] = field(default_factory=lambda: {"electricity": 0, "service": 0, "idle": 0})
    refunds_payable: int = 0

    def credit(self, w: Wallet, amount: int, to: str) -> None:
        to_debt = min(amount, w.debt)
        w.debt -= to_debt
        setattr(w, to, getattr(w, to) + amount - to_debt)


PLATFORM = {"clearing": Kind.CLEARING, "promotion": Kind.PROMOTION, "refunds_payable": Kind.REFUNDS_PAYABLE,
            "electricity": Kind.REVENUE_ELECTRICITY, "service": Kind.REVENUE_SERVICE, "idle": Kind.REVENUE_IDLE}


def platform(s: Session) -> dict[str, int]:
    return {name: L.platform_balance(s, kind) for name, kind in PLATFORM.items()}


def check(s: Session, m: Model, drivers: list[str], base: dict[str, int]) -> None:
    """`base`: the platform balances before this example (examples share the database)."""
    assert L.verify(s) == []
    for d, w in zip(drivers, m.wallets, strict=True):
        b = L.balances(s, d)
        assert (b.cash, b.bonus, b.held, b.debt) == (w.cash, w.bonus, w.held, w.debt)
        assert min(b.cash, b.bonus, b.held, b.debt) >= 0
    now = platform(s)
    assert {k: now[k] - base[k] for k in now} == {
        "clearing": m.clearing, "promotion": m.promotion, "refunds_payable": m.refunds_payable, **m.revenue}
    # Conservation: what came in (clearing, promotion) is exactly what drivers hold, owe, spent
    # or are being refunded; no fen made or lost.
    held_by_drivers = sum(w.cash + w.bonus + w.held - w.debt for w in m.wallets)
    assert -(m.clearing + m.promotion) == held_by_drivers + sum(m.revenue.values()) + m.refunds_payable


def run(engine: Engine, ops: list[tuple]) -> None:
    tag = uuid.uuid4().hex[:8]  # examples share one database: fresh drivers and keys per example
    drivers = [f"d{tag}{i}" for i in range(DRIVERS)]
    m = Model([Wallet() for _ in drivers])
    done: list[tuple[str, tuple]] = []  # (function name, args) of postings made, for replays
    with Session(engine) as s:
        base = platform(s)
    n = 0
    for o in ops:
        n += 1
        kind = o[0]
        with Session(engine) as s, s.begin():
            before = s.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()
            posting = None
            if kind == "top_up":
                _, i, amt = o
                args = (drivers[i], amt, f"pay:{tag}:{n}")
                posting = L.top_up(s, *args)
                m.credit(m.wallets[i], amt, "cash")
                m.clearing -= amt
                done.append(("top_up", args))
            elif kind == "bonus":
                _, i, amt = o
                args = (drivers[i], amt, f"bonus:{tag}:{n}")
                posting = L.grant_bonus(s, *args)
                m.credit(m.wallets[i], amt, "bonus")
                m.promotion -= amt
                done.append(("grant_bonus", args))
            elif kind == "hold":
                _, i, amt = o
                w = m.wallets[i]
                order = f"o{tag}{n}"
                if amt > w.cash + w.bonus:
                    with pytest.raises(InsufficientFunds):
                        L.hold(s, drivers[i], order, amt)
                    s.rollback()
                    continue
                posting = L.hold(s, drivers[i], order, amt)
                hb = min(w.bonus, amt)
                w.bonus -= hb
                w.cash -= amt - hb
                w.held += amt
                m.holds[order] = (i, hb, amt - hb)
                done.append(("hold", (drivers[i], order, amt)))
            elif kind in ("settle", "release"):
                if not m.holds:
                    continue
                order = sorted(m.holds)[o[1] % len(m.holds)]
                bill = o[2] if kind == "settle" else {}
                i, hb, hc = m.holds.pop(order)
                posting = L.settle(s, order, bill)
                total = sum(bill.values())
                w = m.wallets[i]
                fb = min(total, hb)
                fc = min(total - fb, hc)
                w.held -= hb + hc
                w.bonus += hb - fb
                w.cash += hc - fc
                w.debt += total - fb - fc
                for k, v in bill.items():
                    m.revenue[k] += v
                done.append(("settle", (order, bill)))
            elif kind == "refund":
                _, i, amt = o
                w = m.wallets[i]
                key = f"refund:{tag}:{n}"
                if amt > w.cash:
                    with pytest.raises(InsufficientFunds):
                        L.refund(s, drivers[i], amt, key)
                    s.rollback()
                    continue
                posting = L.refund(s, drivers[i], amt, key)
                w.cash -= amt
                m.refunds_payable += amt
                m.refunds[key] = (i, amt)
                done.append(("refund", (drivers[i], amt, key)))
            elif kind == "refund_close":
                if not m.refunds:
                    continue
                key = sorted(m.refunds)[o[1] % len(m.refunds)]
                i, amt = m.refunds.pop(key)
                m.refunds_payable -= amt
                if o[2]:
                    posting = L.refund_paid(s, key)
                    m.clearing += amt
                    done.append(("refund_paid", (key,)))
                else:
                    posting = L.refund_failed(s, key)
                    m.wallets[i].cash += amt
                    done.append(("refund_failed", (key,)))
            elif kind == "collect":
                w = m.wallets[o[1]]
                posting = L.collect_debt(s, drivers[o[1]], f"collect:{tag}:{n}")
                fb = min(w.debt, w.bonus)
                fc = min(w.debt - fb, w.cash)
                w.bonus -= fb
                w.cash -= fc
                w.debt -= fb + fc
            elif kind == "replay":
                if not done:
                    continue
                fn, args = done[o[1] % len(done)]
                again = getattr(L, fn)(s, *args)
                assert again.replayed
                after = s.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()
                assert after == before  # a replay posts nothing
                if fn in ("top_up", "grant_bonus", "refund"):  # same key, other amount: refused
                    other = list(args)
                    other[1] += 1
                    with pytest.raises(IdempotencyConflict):
                        getattr(L, fn)(s, *other)
            if posting is not None:
                assert sum(e.amount for e in posting.entries) == 0
                if not posting.replayed:
                    after = s.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()
                    assert after == before + 1
        with Session(engine) as s:
            check(s, m, drivers, base)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(op, min_size=1, max_size=30))
def test_random_money_sequences_add_up_to_the_fen(engine: Engine, ops: list[tuple]) -> None:
    run(engine, ops)


def test_overrun_becomes_debt_and_the_next_top_up_pays_it_first(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        L.top_up(s, "alice", 3000, "pay:a1")
        L.hold(s, "alice", "oa", 2000)
        p = L.settle(s, "oa", {"electricity": 1400, "service": 650, "idle": 0})
        assert p.amount_on("driver:alice:debt") == -50
        b = L.balances(s, "alice")
        assert (b.cash, b.held, b.debt) == (1000, 0, 50)  # never a negative balance
        L.top_up(s, "alice", 500, "pay:a2")
        b = L.balances(s, "alice")
        assert (b.cash, b.debt) == (1450, 0)
        lines = L.statement(s, "alice")
        assert [ln.kind for ln in lines][:2] == ["top_up", "top_up"]
        assert {ln.account for ln in lines if ln.kind == "settle"} == {"held", "debt"}
        assert L.verify(s) == []
