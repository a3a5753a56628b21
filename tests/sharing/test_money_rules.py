"""Money rules (b) and (c) of docs/sharing.md on a real database (SQLite and PostgreSQL):

(b) a refund of a shared pile's order takes the owner's part back per fee line, so that the
    owner's share of what the driver still paid is the split of that rest, to the fen; owner +
    platform = what the driver paid net of refunds, always; an owner whose earnings were
    already withdrawn owes the rest as a recorded debt (the driver debt account), never a
    negative balance, and their next share pays it first;
(c) a shared pile's order (its bill, its refunds, the owner's share and clawbacks) is no
    revenue item of its station's settlement: the station's owner gets no share of it.

Hypothesis runs any bills, rates, refunds and withdrawals; on PostgreSQL refunds of one order
also race each other."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.service import Line
from cloud.settlement import service as settlement
from cloud.settlement.models import SettlementItem
from cloud.sharing import service as sharing
from cloud.sharing import withdrawals
from cloud.sharing.models import Clawback, SharingSplit
from cloud.wallet import service as wallet
from tests.cloud.support import migrated_engine
from tests.reservations.support import seed_station, top_up

_ids = itertools.count(1)
LINES = ("electricity", "service", "idle")


def _world(engine: Engine, bp: int = 1000) -> tuple[str, str]:
    """A home pile H<n> shared by a fresh owner at `bp`, beside it an ordinary station N<n>; a
    fresh paying driver with money. (owner, driver)"""
    n = next(_ids)
    owner, driver = f"own{n}", f"drv{n}"
    with Session(engine) as s, s.begin():
        seed_station(s, f"H{n}", {"P1-1": "available"})
        seed_station(s, f"N{n}", {"P1-1": "available"})
        top_up(s, driver, 1_000_000, key=f"money-{driver}")
        sharing.register(s, owner, f"H{n}", "P1-1", commission_bp=bp)
    return owner, driver


def _sid(owner: str, shared: bool = True) -> str:
    return ("H" if shared else "N") + owner.removeprefix("own")


def _settle(engine: Engine, oid: str, driver: str, sid: str, bill: dict[str, int]) -> None:
    with Session(engine) as s, s.begin():
        orders.create(
            s,
            order_id=oid,
            driver_id=driver,
            sid=sid,
            gun="P1-1",
            limit_mode="amount",
            limit_value=20_000,
            hold_fen=20_000,
        )
        for e in (
            Event.START_SENT,
            Event.START_ACCEPTED,
            Event.SESSION_STARTED,
            Event.SESSION_ENDED,
            Event.GUN_RELEASED,
        ):
            orders.apply(s, oid, e)
        orders.apply(
            s,
            oid,
            Event.BILLED,
            lines=[
                Line(k, v, None if k == "idle" else "flat", None if k == "idle" else 100)
                for k, v in bill.items()
                if v
            ],
        )


def _refund(engine: Engine, oid: str, back: dict[str, int], key: str) -> None:
    with Session(engine) as s, s.begin():
        wallet.refund_order(s, oid, {k: v for k, v in back.items() if v}, route="balance", key=key)


def _owner_money(s: Session, owner: str) -> int:
    """Everything the owner has had of the shares: earnings, being withdrawn, paid out, less the debt."""
    earnings, withdrawing = ledger.owner_balances(s, owner)
    paid_out = sum(
        w.amount_fen for w in withdrawals.of_owner(s, owner, limit=1000) if w.state == "paid"
    )
    return earnings + withdrawing + paid_out - ledger.balances(s, owner).debt


def test_a_refund_claws_back_the_owners_part_to_the_fen(engine: Engine) -> None:
    owner, driver = _world(engine)
    _settle(engine, "cb1", driver, _sid(owner), {"electricity": 1005, "service": 333, "idle": 35})
    with Session(engine) as s:
        assert ledger.owner_balances(s, owner) == (1236, 0)
    # 500 of the electricity back: the owner had 905 of 1,005; of the 505 left, 455 (50.5 → 50)
    _refund(engine, "cb1", {"electricity": 500}, "r1")
    with Session(engine) as s:
        row = s.get_one(Clawback, "r1")
        assert (
            row.electricity_fen,
            row.service_fen,
            row.idle_fen,
            row.owner_fen,
            row.debt_fen,
        ) == (450, 0, 0, 450, 0)
        assert ledger.owner_balances(s, owner) == (786, 0)
        e = sharing.earnings(s, owner)["sessions"][0]
        assert (e["owner_fen"], e["clawed_back_fen"], e["owner_net_fen"]) == (1236, 450, 786)
        assert ledger.verify(s) == []
    _refund(engine, "cb1", {"electricity": 500}, "r1")  # the same refund again: nothing more
    # the rest of everything back: the owner keeps nothing of the order
    _refund(engine, "cb1", {"electricity": 505, "service": 333, "idle": 35}, "r2")
    with Session(engine) as s:
        assert ledger.owner_balances(s, owner) == (0, 0) and sharing.clawed(s, "cb1") == 1236
        assert ledger.verify(s) == []


def test_withdrawn_earnings_leave_a_debt_paid_by_the_next_share(engine: Engine) -> None:
    owner, driver = _world(engine)
    _settle(engine, "cb2", driver, _sid(owner), {"electricity": 1005, "service": 333, "idle": 35})
    with Session(engine) as s, s.begin():
        withdrawals.request(s, owner, 1000, "o-openid")  # 1,000 of 1,236 set aside for the transfer
    _refund(engine, "cb2", {"electricity": 1005, "service": 333, "idle": 35}, "r-all")
    with Session(engine) as s:
        row = s.get_one(Clawback, "r-all")
        assert (row.owner_fen, row.debt_fen) == (1236, 1000)
        assert ledger.owner_balances(s, owner) == (0, 1000)  # never below zero
        assert ledger.balances(s, owner).debt == 1000  # recorded: the owner owes it
        assert sharing.earnings(s, owner)["debt_fen"] == 1000
        assert ledger.verify(s) == []
    _settle(engine, "cb3", driver, _sid(owner), {"service": 2000})  # owner's share 1,800
    with Session(engine) as s:
        assert ledger.balances(s, owner).debt == 0
        assert ledger.owner_balances(s, owner) == (800, 1000)
        assert (
            s.get_one(SharingSplit, "cb3").owner_fen == 1800
        )  # the share is the owner's, paying the debt


def test_a_shared_order_is_no_settlement_item_of_its_station(engine: Engine) -> None:
    owner, driver = _world(engine)
    home, near = _sid(owner), _sid(owner, shared=False)
    _settle(engine, "st-shared", driver, home, {"electricity": 1000, "service": 500})
    _settle(engine, "st-plain", driver, near, {"electricity": 700, "service": 300})
    _refund(engine, "st-shared", {"service": 100}, "st-r")
    with Session(engine) as s, s.begin():
        for sid in (home, near):
            settlement.set_share(
                s,
                sid,
                electricity_bp=5000,
                service_bp=5000,
                idle_bp=5000,
                commission_bp=0,
                effective_day="2020-01-01",
                actor="test",
            )
        settlement.take_in(s)
        items = s.scalars(select(SettlementItem).where(SettlementItem.sid.in_([home, near]))).all()
        assert {i.order_id for i in items} == {"st-plain"}
        # the day the items were booked on (the settlement's zone, not this machine's date)
        st = settlement.statement(s, items[0].day, sids={home, near})
        assert set(st.by_station()) == {near}
        assert settlement.take_in(s) == 0  # and nothing is left to take in on the next round


BILL = st.fixed_dictionaries({k: st.integers(0, 5_000) for k in LINES}).filter(
    lambda b: sum(b.values()) > 0
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bills=st.lists(st.tuples(BILL, st.booleans()), min_size=1, max_size=3),
    bp=st.integers(0, 10_000),
    steps=st.lists(
        st.tuples(st.integers(0, 2), st.sampled_from(LINES), st.floats(0, 1), st.booleans()),
        max_size=6,
    ),
)
def test_owner_plus_platform_is_what_the_driver_paid_net_of_refunds(
    engine: Engine,
    bills: list[tuple[dict[str, int], bool]],
    bp: int,
    steps: list[tuple[int, str, float, bool]],
) -> None:
    owner, driver = _world(engine, bp)
    oids = []
    for bill, shared in bills:
        oid = f"p{next(_ids)}"
        _settle(engine, oid, driver, _sid(owner, shared), bill)
        oids.append((oid, bill, shared))
    refunded = {oid: dict.fromkeys(LINES, 0) for oid, _b, _s in oids}
    for which, line, part, withdraw_first in steps:
        oid, bill, _shared = oids[which % len(oids)]
        left = bill[line] - refunded[oid][line]
        amount = int(left * part)
        if withdraw_first:  # the owner takes out all there is first: a clawback may become debt
            with Session(engine) as s, s.begin():
                have = ledger.owner_balances(s, owner)[0]
                if have:
                    withdrawals.request(s, owner, have, "o-openid")
        if amount:
            _refund(engine, oid, {line: amount}, f"k{next(_ids)}")
            refunded[oid][line] += amount
    with Session(engine) as s:
        assert ledger.verify(s) == []
        owner_net = 0
        for oid, bill, shared in oids:
            rest = {k: bill[k] - refunded[oid][k] for k in LINES}
            split = s.get(SharingSplit, oid)
            if not shared:
                assert split is None
                continue
            mine = sum(
                sharing.owner_part(rest[k], bp) for k in LINES
            )  # the split of what is still paid
            assert split.owner_fen - sharing.clawed(s, oid) == mine
            owner_net += mine
            # the platform's part: what the order's postings left in the revenue accounts
            kept = s.scalar(
                select(func.coalesce(func.sum(ledger_entry_amount()), 0))
                .select_from(revenue_join())
                .where(order_is(oid))
            )
            assert int(kept) + mine == sum(rest.values())  # owner + platform = paid net of refunds
        assert _owner_money(s, owner) == owner_net
        assert ledger.owner_balances(s, owner)[0] >= 0 and ledger.balances(s, owner).debt >= 0
        b = ledger.balances(s, driver)
        paid = sum(sum(bill.values()) - sum(refunded[oid].values()) for oid, bill, _s in oids)
        assert 1_000_000 - b.cash == paid


def ledger_entry_amount():  # noqa: ANN201
    from cloud.ledger.models import LedgerEntry

    return LedgerEntry.amount


def revenue_join():  # noqa: ANN201
    from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction

    return LedgerEntry.__table__.join(
        LedgerTransaction.__table__, LedgerTransaction.id == LedgerEntry.txn_id
    ).join(LedgerAccount.__table__, LedgerAccount.id == LedgerEntry.account_id)


def order_is(oid: str):  # noqa: ANN201
    from cloud.ledger.models import LedgerAccount, LedgerTransaction

    return (LedgerTransaction.order_id == oid) & LedgerAccount.kind.in_(
        [k.value for k in FEE_LINES.values()]
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bills=st.lists(st.tuples(BILL, st.booleans()), min_size=1, max_size=4),
    refund_share=st.floats(0, 1),
)
def test_no_shared_order_reaches_settlement(
    engine: Engine, bills: list[tuple[dict[str, int], bool]], refund_share: float
) -> None:
    owner, driver = _world(engine)
    plain: dict[str, int] = {}
    for i, (bill, shared) in enumerate(bills):
        oid = f"s{next(_ids)}"
        _settle(engine, oid, driver, _sid(owner, shared), bill)
        back = {k: int(v * refund_share) for k, v in bill.items()}
        if sum(back.values()):
            _refund(engine, oid, back, f"sr{i}-{oid}")
        if not shared:
            plain[oid] = sum(bill.values()) - sum(back.values())
    with Session(engine) as s, s.begin():
        settlement.take_in(s)
        items = s.scalars(
            select(SettlementItem).where(SettlementItem.sid.in_([_sid(owner), _sid(owner, False)]))
        ).all()
        got: dict[str, int] = {}
        for it in items:
            got[it.order_id] = (
                got.get(it.order_id, 0) + it.electricity_fen + it.service_fen + it.idle_fen
            )
        assert all(it.sid == _sid(owner, False) for it in items)
        assert {k: v for k, v in got.items()} == {k: v for k, v in plain.items() if k in got}
        assert set(got) == {k for k, v in plain.items()} and sum(got.values()) == sum(
            plain.values()
        )


@pytest.mark.postgres
def test_concurrent_refunds_of_one_order_claw_back_exactly(pg_url: str) -> None:
    engine = migrated_engine(pg_url)
    try:
        owner, driver = _world(engine, 1000)
        _settle(
            engine, "race", driver, _sid(owner), {"electricity": 2001, "service": 999, "idle": 0}
        )
        with Session(engine) as s, s.begin():
            withdrawals.request(s, owner, 1000, "o-openid")

        def go(i: int) -> None:
            _refund(engine, "race", {"electricity" if i % 2 else "service": 150}, f"race-{i}")

        with ThreadPoolExecutor(6) as pool:
            list(pool.map(go, range(6)))
        with Session(engine) as s:
            assert ledger.verify(s) == []
            mine = sharing.owner_part(2001 - 450, 1000) + sharing.owner_part(999 - 450, 1000)
            assert s.get_one(SharingSplit, "race").owner_fen - sharing.clawed(s, "race") == mine
            assert _owner_money(s, owner) == mine
            assert ledger.owner_balances(s, owner)[0] >= 0
            assert (
                s.scalar(
                    select(func.count()).select_from(Clawback).where(Clawback.order_id == "race")
                )
                == 6
            )
    finally:
        engine.dispose()
