"""Random sequences of top-ups, bonuses, holds, settlements with random fee lines, releases,
refunds (paid or failed, a failed one paid after all), an operator's refunds of settled orders
to the balance (partial and whole, one line or all), debt collection and replays (a hypothesis
state machine), each in its own committed database transaction, against a model of what the
money must be. After every step: the posting balances, every balance is the sum of its
entries, no protected balance is negative, the ledger's total is zero, each driver's balances
and the platform's accounts equal the model's, to the fen, and bonus never became cash: what a
driver holds as cash, has held for orders from cash and has had refunded (or is being
refunded) to WeChat is covered by their own payments (see `bonus_never_becomes_cash`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as L
from cloud.ledger.accounts import Kind
from cloud.ledger.errors import IdempotencyConflict, InsufficientFunds, InvalidInput, UnknownPosting
from cloud.ledger.models import LedgerTransaction

DRIVERS = 2
PLATFORM = {"clearing": Kind.CLEARING, "promotion": Kind.PROMOTION, "refunds_payable": Kind.REFUNDS_PAYABLE,
            "electricity": Kind.REVENUE_ELECTRICITY, "service": Kind.REVENUE_SERVICE, "idle": Kind.REVENUE_IDLE}

driver = st.integers(0, DRIVERS - 1)
fen = st.one_of(st.sampled_from([1, 99, 100, 2_000, 5_000]), st.integers(1, 20_000))
# Shares in % of what is available / of the hold, boundaries included; above 100 must be
# refused (holds, refunds) or becomes debt (bills).
share = st.one_of(st.sampled_from([1, 50, 99, 100, 101, 120]), st.integers(1, 120))
bill_share = st.one_of(st.sampled_from([0, 50, 100, 101, 130, 160]), st.integers(0, 160))
split = st.integers(0, 100)


@dataclass
class Wallet:
    cash: int = 0
    bonus: int = 0
    held: int = 0
    debt: int = 0
    # Debt by where it came from: spent beyond a hold (revenue; any money pays it) or paid
    # out to WeChat beyond the cash (a refund paid after it was booked failed; the ledger's
    # debt_cash account, which only the driver's own money pays).
    debt_spent: int = 0
    debt_paid_out: int = 0
    paid_in: int = 0  # the driver's own payments (top-ups)
    out: int = 0  # refunded to WeChat or on its way there


@dataclass
class Settled:
    """A settled order, for its refunds: who, each fee line's amount not yet given back, how
    much more may come back as bonus (its bill less what it took from the held cash), what it
    took from the held cash and the cash its refunds gave back so far."""

    i: int
    left: dict[str, int]
    bonus_left: int
    took_cash: int
    cash_back: int = 0


def platform(s: Session) -> dict[str, int]:
    return {name: L.platform_balance(s, kind) for name, kind in PLATFORM.items()}


def count_txns(s: Session) -> int:
    return s.execute(select(func.count()).select_from(LedgerTransaction)).scalar_one()


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.tag = uuid.uuid4().hex[:8]  # runs share one database: fresh drivers and keys per run
        self.drivers = [f"d{self.tag}{i}" for i in range(DRIVERS)]
        self.w = [Wallet() for _ in self.drivers]
        self.holds: dict[str, tuple[int, int, int]] = {}  # order -> (driver, from bonus, from cash)
        self.refunds: dict[str, tuple[int, int]] = {}  # key -> (driver, amount)
        self.failed: dict[str, tuple[int, int]] = {}  # refunds booked failed: key -> (driver, amount)
        self.paid: list[str] = []  # refunds booked paid
        self.settled: dict[str, Settled] = {}  # settled orders (bill > 0), for order refunds
        self.flows = dict.fromkeys(PLATFORM, 0)  # the model's platform balances (this run's part)
        self.done: list[tuple[str, tuple]] = []  # postings made: (function, args), for replays
        self.n = 0
        with Session(self.engine) as s:
            self.base = platform(s)

    def key(self, what: str) -> str:
        self.n += 1
        return f"{what}:{self.tag}:{self.n}"

    def post(self, fn: str, *args: object) -> L.Posting:
        """One posting in its own transaction: balanced, and exactly one new transaction."""
        with Session(self.engine) as s, s.begin():
            before = count_txns(s)
            p = getattr(L, fn)(s, *args)
            assert sum(e.amount for e in p.entries) == 0
            assert not p.replayed and count_txns(s) == before + 1
        self.done.append((fn, args))
        return p

    def refused(self, exc: type[Exception], fn: str, *args: object) -> None:
        with Session(self.engine) as s, s.begin():
            before = count_txns(s)
            with pytest.raises(exc):
                getattr(L, fn)(s, *args)
            s.rollback()
        with Session(self.engine) as s:
            assert count_txns(s) == before

    @staticmethod
    def pay_debts(w: Wallet, own: int, bonus: int = 0) -> tuple[int, int]:
        """The driver's debts paid from `own` money and `bonus`: bonus pays spent debt only,
        own money the paid-out debt first, then spent debt. Returns (own left, bonus left)."""
        assert w.debt == w.debt_spent + w.debt_paid_out
        from_bonus = min(bonus, w.debt_spent)
        to_paid_out = min(own, w.debt_paid_out)
        to_spent = min(own - to_paid_out, w.debt_spent - from_bonus)
        w.debt_spent -= from_bonus + to_spent
        w.debt_paid_out -= to_paid_out
        w.debt = w.debt_spent + w.debt_paid_out
        return own - to_paid_out - to_spent, bonus - from_bonus

    @rule(i=driver, amount=fen)
    def top_up(self, i: int, amount: int) -> None:
        self.post("top_up", self.drivers[i], amount, self.key("pay"))
        self.w[i].cash += self.pay_debts(self.w[i], amount)[0]
        self.w[i].paid_in += amount
        self.flows["clearing"] -= amount

    @rule(i=driver, amount=st.integers(1, 3_000))
    def bonus(self, i: int, amount: int) -> None:
        self.post("grant_bonus", self.drivers[i], amount, self.key("bonus"))
        self.w[i].bonus += self.pay_debts(self.w[i], 0, amount)[1]
        self.flows["promotion"] -= amount

    @rule(i=driver, pct=share)
    def hold(self, i: int, pct: int) -> None:
        w = self.w[i]
        avail = w.cash + w.bonus
        amount = max(1, avail * pct // 100)
        order = self.key("o")
        if amount > avail:
            self.refused(InsufficientFunds, "hold", self.drivers[i], order, amount)
            return
        self.post("hold", self.drivers[i], order, amount)
        hb = min(w.bonus, amount)
        w.bonus -= hb
        w.cash -= amount - hb
        w.held += amount
        self.holds[order] = (i, hb, amount - hb)

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), pct=bill_share, e=split, idle=split, release=st.booleans())
    def close(self, data: st.DataObject, pct: int, e: int, idle: int, release: bool) -> None:
        order = data.draw(st.sampled_from(sorted(self.holds)))
        i, hb, hc = self.holds.pop(order)
        total = 0 if release else (hb + hc) * pct // 100
        bill = {"idle": total * idle // 300}
        bill["electricity"] = (total - bill["idle"]) * e // 100
        bill["service"] = total - bill["idle"] - bill["electricity"]
        if release:
            self.post("release", order)
        else:
            self.post("settle", order, bill)
        w = self.w[i]
        fb = min(total, hb)
        fc = min(total - fb, hc)
        w.held -= hb + hc
        w.bonus += hb - fb
        w.cash += hc - fc
        w.debt += total - fb - fc
        w.debt_spent += total - fb - fc
        for k, v in bill.items():
            self.flows[k] += v
        if total:
            self.settled[order] = Settled(i, dict(bill), total - fc, fc)
        # The hold is closed: settling or releasing it again, otherwise, is refused.
        self.refused(IdempotencyConflict, "settle", order, {"electricity": total + 1})

    @rule(i=driver, pct=share)
    def refund(self, i: int, pct: int) -> None:
        w = self.w[i]
        amount = max(1, w.cash * pct // 100)
        key = self.key("refund")
        if amount > w.cash:
            self.refused(InsufficientFunds, "refund", self.drivers[i], amount, key)
            return
        self.post("refund", self.drivers[i], amount, key)
        w.cash -= amount
        w.out += amount
        self.flows["refunds_payable"] += amount
        self.refunds[key] = (i, amount)

    @precondition(lambda self: self.refunds)
    @rule(data=st.data(), paid=st.booleans())
    def refund_close(self, data: st.DataObject, paid: bool) -> None:
        key = data.draw(st.sampled_from(sorted(self.refunds)))
        i, amount = self.refunds.pop(key)
        self.post("refund_paid" if paid else "refund_failed", key)
        self.flows["refunds_payable"] -= amount
        if paid:
            self.flows["clearing"] += amount
            self.paid.append(key)
        else:
            self.w[i].cash += amount
            self.w[i].out -= amount
            self.failed[key] = (i, amount)
        self.refused(IdempotencyConflict, "refund_failed" if paid else "refund_paid", key)

    @precondition(lambda self: self.failed or self.paid)
    @rule(data=st.data())
    def refund_paid_late(self, data: st.DataObject) -> None:
        """The provider paid a refund booked failed: its money comes back out of the cash,
        the rest as debt; a refund booked paid (or still open) is refused."""
        key = data.draw(st.sampled_from(sorted(self.failed) + sorted(self.paid) + sorted(self.refunds)))
        if key not in self.failed:
            self.refused(UnknownPosting, "refund_paid_late", key)
            return
        i, amount = self.failed.pop(key)
        self.post("refund_paid_late", key)
        w = self.w[i]
        from_cash = min(amount, w.cash)
        w.cash -= from_cash
        w.debt += amount - from_cash
        w.debt_paid_out += amount - from_cash
        w.out += amount
        self.flows["clearing"] += amount

    @rule(i=driver)
    def collect(self, i: int) -> None:
        w = self.w[i]
        self.post("collect_debt", self.drivers[i], self.key("collect"))
        w.cash, w.bonus = self.pay_debts(w, w.cash, w.bonus)

    @precondition(lambda self: self.settled)
    @rule(data=st.data(), pct=share, whole=st.booleans())
    def order_refund(self, data: st.DataObject, pct: int, whole: bool) -> None:
        """An operator gives back part of a settled order's fees (one line, a share of what it
        has left) or all it has left: bonus first, up to what the order did not take from its
        held cash, then cash; the driver's debts paid first (the bonus part pays only spent
        debt). More than a line has left is refused."""
        order = data.draw(st.sampled_from(sorted(self.settled)))
        o = self.settled[order]
        if whole:
            back = {k: v for k, v in o.left.items() if v}
        else:
            line = data.draw(st.sampled_from(sorted(o.left)))
            back = {line: max(1, o.left[line] * pct // 100)}
        key = self.key("order-refund")
        if not back or any(f > o.left[k] for k, f in back.items()):
            if back:
                self.refused(InvalidInput, "refund_order", order, back, key)
            return
        p = self.post("refund_order", order, back, key)
        total = sum(back.values())
        w = self.w[o.i]
        as_bonus = min(total, o.bonus_left)
        o.bonus_left -= as_bonus
        cash_left, bonus_left = self.pay_debts(w, total - as_bonus, as_bonus)
        w.bonus += bonus_left
        w.cash += cash_left
        d = self.drivers[o.i]
        assert p.amount_on(f"driver:{d}:bonus") == bonus_left
        # bonus never becomes cash, order by order: its refunds give back as cash at most what
        # it took from cash (read from the postings, whatever the model says)
        o.cash_back += p.amount_on(f"driver:{d}:cash")
        assert o.cash_back <= o.took_cash
        for k, f in back.items():
            o.left[k] -= f
            self.flows[k] -= f
        if not any(o.left.values()):
            del self.settled[order]

    @precondition(lambda self: self.done)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        """A callback delivered again, a settlement retried: the first posting, nothing new;
        the same key with another amount: refused."""
        fn, args = data.draw(st.sampled_from(self.done))
        with Session(self.engine) as s, s.begin():
            before = count_txns(s)
            assert getattr(L, fn)(s, *args).replayed
            assert count_txns(s) == before
        if fn in ("top_up", "grant_bonus", "refund"):
            other = list(args)
            other[1] += 1  # type: ignore[operator]
            self.refused(IdempotencyConflict, fn, *other)

    @invariant()
    def money_adds_up(self) -> None:
        with Session(self.engine) as s:
            assert L.verify(s) == []
            for d, w in zip(self.drivers, self.w, strict=True):
                b = L.balances(s, d)
                assert (b.cash, b.bonus, b.held, b.debt, b.debt_cash) == (
                    w.cash, w.bonus, w.held, w.debt, w.debt_paid_out)
                assert min(b.cash, b.bonus, b.held, b.debt, b.debt_cash) >= 0
            now = platform(s)
        assert {k: now[k] - self.base[k] for k in now} == self.flows
        # Conservation: what came in (clearing, promotion) is what drivers hold, owe, spent or
        # are being refunded; no fen made or lost.
        drivers = sum(w.cash + w.bonus + w.held - w.debt for w in self.w)
        f = self.flows
        assert -(f["clearing"] + f["promotion"]) == (
            drivers + f["electricity"] + f["service"] + f["idle"] + f["refunds_payable"])

    @invariant()
    def bonus_never_becomes_cash(self) -> None:
        """Cash comes in only as the driver's own payments. So the cash they hold, the cash held
        for their running orders and what has gone (or is going) back to WeChat, less what they
        still owe for money paid out, never exceeds what they paid in, with no exemption: bonus
        never pays a debt of money paid out (a refund paid after it was booked failed), only
        their own money does. Spending takes cash away and an order refund gives cash back only
        for what the order took from cash, so an order paid from bonus, refunded to the
        balance, adds nothing here: it comes back as bonus. Cash and the paid-out debt are the
        ledger's own, not the model's."""
        with Session(self.engine) as s:
            for i, w in enumerate(self.w):
                b = L.balances(s, self.drivers[i])
                held_cash = sum(hc for (j, _hb, hc) in self.holds.values() if j == i)
                assert w.debt == w.debt_spent + w.debt_paid_out
                assert b.cash + held_cash + w.out - b.debt_cash <= w.paid_in


def test_random_money_sequences_add_up_to_the_fen(engine: Engine) -> None:
    LedgerMachine.engine = engine
    runner = LedgerMachine.TestCase()
    examples = 40 if engine.dialect.name == "sqlite" else 15
    runner.settings = settings(max_examples=examples, stateful_step_count=30, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])
    runner.runTest()


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


def _owes_paid_out_money(s: Session, who: str) -> None:
    """`who` paid 3,000, had 2,000 refunded (booked failed, so back as cash), spent all but
    500 on a charge, then WeChat paid the refund after all: 500 taken back from the cash, 1,500
    owed for money paid out; and 300 spent beyond a hold."""
    L.top_up(s, who, 3000, f"pay:{who}")
    L.refund(s, who, 2000, f"refund:{who}")
    L.refund_failed(s, f"refund:{who}")
    L.hold(s, who, f"o1:{who}", 2500)
    L.settle(s, f"o1:{who}", {"electricity": 2500})
    p = L.refund_paid_late(s, f"refund:{who}")
    assert p.amount_on(f"driver:{who}:debt_cash") == -1500
    L.grant_bonus(s, who, 100, f"b0:{who}")
    L.hold(s, who, f"o2:{who}", 100)
    L.settle(s, f"o2:{who}", {"service": 400})
    b = L.balances(s, who)
    assert (b.cash, b.bonus, b.debt, b.debt_cash) == (0, 0, 1800, 1500)


def test_bonus_never_pays_a_debt_of_money_paid_out(engine: Engine) -> None:
    """The one way bonus could become cash: a refund paid after it was booked failed leaves a
    debt of money the driver already has; bonus paying it would be bonus turned into that
    money. A grant, a collection and an order refund's bonus part pay only the spent debt; the
    driver's own money (a top-up, cash) pays the rest."""
    with Session(engine) as s, s.begin():
        _owes_paid_out_money(s, "ann")
        p = L.grant_bonus(s, "ann", 1000, "b1:ann")  # pays the 300 spent, keeps 700 as bonus
        assert (p.amount_on("driver:ann:debt"), p.amount_on("driver:ann:debt_cash")) == (300, 0)
        b = L.balances(s, "ann")
        assert (b.bonus, b.debt, b.debt_cash) == (700, 1500, 1500)
        L.collect_debt(s, "ann", "c1:ann")  # bonus may not pay it: nothing moves
        assert L.balances(s, "ann") == b
        from cloud.wallet.service import cash_after_debt

        assert cash_after_debt(b) == 0
        p = L.top_up(s, "ann", 2000, "pay2:ann")  # own money pays the paid-out debt first
        assert p.amount_on("driver:ann:debt_cash") == 1500
        b = L.balances(s, "ann")
        assert (b.cash, b.bonus, b.debt) == (500, 700, 0)
        assert L.verify(s) == []

        _owes_paid_out_money(s, "bo")
        L.grant_bonus(s, "bo", 200, "b1:bo")  # bonus 0, 100 spent debt left, 1,500 paid out
        # an operator refunds the bonus-paid order o2 (bill 400: 100 from its bonus hold and 300
        # of debt, paid since by bonus): all 400 comes back as bonus, paying only spent debt
        p = L.refund_order(s, "o2:bo", {"service": 400}, "or:bo")
        assert (p.amount_on("driver:bo:debt"), p.amount_on("driver:bo:debt_cash")) == (100, 0)
        assert (p.amount_on("driver:bo:bonus"), p.amount_on("driver:bo:cash")) == (300, 0)
        L.top_up(s, "bo", 1000, "pay2:bo")
        L.collect_debt(s, "bo", "c1:bo")
        b = L.balances(s, "bo")
        assert (b.cash, b.bonus, b.debt, b.debt_cash) == (0, 300, 500, 500)
        assert {ln.account for ln in L.statement(s, "bo") if ln.kind == "refund_paid_late"} == {"cash", "debt_cash"}
        assert L.verify(s) == []


def test_an_owner_share_clawed_back_after_withdrawal_is_paid_by_own_money_only(engine: Engine) -> None:
    """A pile owner's share taken back after it was withdrawn is money paid out: bonus does not
    pay it; the owner's next share (their own earnings) and a top-up do."""
    from cloud.ledger.accounts import Kind

    with Session(engine) as s, s.begin():
        p = L.claw_back_owner(s, "claw:1", "own", {Kind.REVENUE_SERVICE: 900})  # no earnings left
        assert p.amount_on("driver:own:debt_cash") == -900
        L.grant_bonus(s, "own", 500, "b:own")
        b = L.balances(s, "own")
        assert (b.bonus, b.debt, b.debt_cash) == (500, 900, 900)
        p = L.post_owner_share(s, "share:1", "own", {Kind.REVENUE_SERVICE: 600})
        assert p.amount_on("driver:own:debt_cash") == 600 and L.owner_balances(s, "own") == (0, 0)
        L.top_up(s, "own", 1000, "pay:own")
        b = L.balances(s, "own")
        assert (b.cash, b.bonus, b.debt) == (700, 500, 0)
        assert L.verify(s) == []
