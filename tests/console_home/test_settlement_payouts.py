"""Owner payouts against the real ledger (SQLite and PostgreSQL): a closed day's share made
payable (revenue → owner_payable) and paid by bank transfer with its reference (owner_payable
→ bank), once; and, for any set of orders, shares and closings, the statements add up to the
ledger and the payouts to the statements."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES, Kind
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.operators import service as operators
from cloud.settlement import payouts
from cloud.settlement import service as settlement
from cloud.settlement.service import SettlementError
from tests.console_home.test_settlement_service import (  # noqa: F401  (fixture s)
    DAY,
    _session,
    at,
    charge,
    ledger_revenue,
    s,
)

NEXT = DAY + timedelta(days=1)


def owner(s: Session, login: str, *sids: str) -> int:  # noqa: F811
    return operators.create(s, login, role="owner", password="Owner-pass-2026!", stations=sids, actor="test").id


def balance(s: Session, kind: Kind) -> int:  # noqa: F811
    return ledger.platform_balance(s, kind)


def test_a_closed_days_share_is_payable_then_paid_once(s: Session) -> None:  # noqa: F811
    a = owner(s, "owner-a", "A1")
    b = owner(s, "owner-b", "B1")
    settlement.set_share(s, "A1", electricity_bp=10000, service_bp=7000, idle_bp=5000, commission_bp=300,
                         effective_day=DAY.isoformat(), actor="fin")
    charge(s, "A1", at(DAY, 9), 1234, 567, 300)
    charge(s, "B1", at(DAY, 12), 800, 200)
    revenue_before = {fee: balance(s, acct) for fee, acct in FEE_LINES.items()}
    settlement.take_in(s)
    with pytest.raises(SettlementError) as e:
        payouts.make_payable(s, DAY, a, actor="fin")
    assert e.value.code == "period_open"
    closed = settlement.close(s, DAY, actor="fin", now=at(NEXT, 1))
    owed = {ln.fee: ln.part.owner for ln in closed.by_station()["A1"]}
    assert sum(owed.values()) > 0

    p = payouts.make_payable(s, DAY, a, actor="fin")
    assert (p.state, p.amount_fen) == ("payable", sum(owed.values()))
    assert payouts.make_payable(s, DAY, a, actor="fin").id == p.id  # once
    assert balance(s, Kind.OWNER_PAYABLE) == p.amount_fen
    for fee, acct in FEE_LINES.items():  # the owner's part of each fee left its revenue account
        assert balance(s, acct) == revenue_before[fee] - owed[fee]
    with pytest.raises(SettlementError) as e:  # B1 has no share: nothing owed to its owner
        payouts.make_payable(s, DAY, b, actor="fin")
    assert e.value.code == "nothing_owed"
    with pytest.raises(SettlementError) as e:
        payouts.make_payable(s, DAY, 999_999, actor="fin")
    assert e.value.code == "not_an_owner"

    for bad in ("", "   ", "x" * 65, None):
        with pytest.raises(SettlementError) as e:
            payouts.mark_paid(s, p.id, reference=bad, actor="fin")
        assert e.value.code == "bad_reference"
    paid = payouts.mark_paid(s, p.id, reference=" CMB-20260311-0001 ", actor="fin")
    assert (paid.state, paid.reference, paid.method) == ("paid", "CMB-20260311-0001", "bank_transfer")
    assert balance(s, Kind.OWNER_PAYABLE) == 0 and balance(s, Kind.BANK) == p.amount_fen
    assert payouts.mark_paid(s, p.id, reference="CMB-20260311-0001", actor="fin").paid_txn_id == paid.paid_txn_id
    with pytest.raises(SettlementError) as e:
        payouts.mark_paid(s, p.id, reference="another", actor="fin")
    assert e.value.code == "paid_otherwise"
    txns = s.execute(select(LedgerTransaction.kind, LedgerTransaction.memo)
                     .where(LedgerTransaction.id.in_([p.payable_txn_id, paid.paid_txn_id]))
                     .order_by(LedgerTransaction.id)).all()
    assert [k for k, _ in txns] == ["owner_payable", "owner_paid"]
    assert txns[1][1]["reference"] == "CMB-20260311-0001"
    assert ledger.verify(s) == []

    # A1 changes hands: its paid day is not owed again to the new owner
    operators.update_operator(s, operators.get(s, b), stations=("A1", "B1"), actor="test")
    assert "A1" not in payouts.owed(s, DAY, b)
    assert [r["id"] for r in payouts.payouts(s, owner_id=a)] == [p.id]
    assert payouts.payouts(s, owner_id=b) == []


@pytest.fixture
def lite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """SQLite only, for the property test: its examples cost a second each on PostgreSQL,
    and the money rules it checks are the same on both (the tests above run on both)."""
    yield from _session(f"sqlite:///{tmp_path / 'prop.sqlite'}", monkeypatch)


FEES = st.tuples(st.integers(0, 5000), st.integers(0, 3000), st.integers(0, 800))
ORDER = st.tuples(st.sampled_from(["A1", "B1"]), st.integers(0, 2), st.integers(0, 23), FEES)
SHARE = st.tuples(st.integers(0, 10000), st.integers(0, 10000), st.integers(0, 10000), st.integers(0, 10000))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.lists(ORDER, max_size=12), late=st.lists(ORDER, max_size=6),
       share_a=SHARE, share_b=st.one_of(st.none(), SHARE), close_order=st.permutations([0, 1, 2]),
       n_closed=st.integers(0, 3))
def test_statements_add_up_to_the_ledger_for_any_orders(lite: Session, first, late, share_a, share_b,  # noqa: ANN001
                                                        close_order, n_closed) -> None:
    """Orders on three days, shares, some days closed in any order, then orders booked late
    (on days that may have closed): every fen the ledger's revenue accounts received for a
    station is in exactly one day's statement; each line splits exactly; each owner's
    statement is its stations' lines; and the payouts of the closed days move exactly the
    owners' parts into owner_payable, the ledger whole."""
    s = lite  # noqa: F811
    nested = s.begin_nested()
    try:
        a, b = owner(s, f"pa{s.info['n']}", "A1"), owner(s, f"pb{s.info['n']}", "B1")
        for sid, share in (("A1", share_a), ("B1", share_b)):
            if share is not None:
                settlement.set_share(s, sid, electricity_bp=share[0], service_bp=share[1], idle_bp=share[2],
                                     commission_bp=share[3], effective_day=DAY.isoformat(), actor="fin")
        days = [DAY + timedelta(days=i) for i in range(3)]
        for sid, i, hour, (e, sv, idle) in first:
            charge(s, sid, at(days[i], hour), e, sv, idle)
        settlement.take_in(s)
        for i in close_order[:n_closed]:
            settlement.close(s, days[i], actor="fin", now=at(days[2] + timedelta(days=1), 1))
        for sid, i, hour, (e, sv, idle) in late:
            charge(s, sid, at(days[i], hour) + 1, e, sv, idle)
        settlement.take_in(s)
        statement_days = days + [days[2] + timedelta(days=k) for k in (1, 2, 3)]  # where late items may land
        sts = [settlement.statement(s, d) for d in statement_days]
        for sid in ("A1", "B1"):
            in_statements = sum(ln.part.revenue for st_ in sts for ln in st_.lines if ln.sid == sid)
            assert in_statements == sum(ledger_revenue(s, sid, d) for d in days)
        for st_ in sts:
            assert all(ln.part.owner + ln.part.commission + ln.part.platform == ln.part.revenue for ln in st_.lines)
            for oid, sid in ((a, "A1"), (b, "B1")):
                mine = settlement.statement(s, st_.day, payouts.owner_sids(s, oid))
                assert mine.lines == [ln for ln in st_.lines if ln.sid == sid]
        payable_before = balance(s, Kind.OWNER_PAYABLE)
        made = 0
        for st_ in sts:
            if not st_.closed:
                continue
            for oid, sid in ((a, "A1"), (b, "B1")):
                due = sum(ln.part.owner for ln in st_.lines if ln.sid == sid)
                if due > 0:
                    made += payouts.make_payable(s, st_.day, oid, actor="fin").amount_fen
                    assert made and payouts.owed(s, st_.day, oid) == {}
                else:
                    with pytest.raises(SettlementError):
                        payouts.make_payable(s, st_.day, oid, actor="fin")
        assert balance(s, Kind.OWNER_PAYABLE) - payable_before == made
        assert ledger.verify(s) == []
    finally:
        nested.rollback()
        s.info["n"] += 1000  # order ids stay unique across examples


def test_platform_postings_refuse_what_is_not_balanced_or_not_the_platforms(s: Session) -> None:  # noqa: F811
    from cloud.ledger.errors import IdempotencyConflict, InvalidAmount, InvalidInput

    with pytest.raises(InvalidAmount):
        ledger.post_platform(s, "k1", "owner_payable", {Kind.REVENUE_SERVICE: -5, Kind.OWNER_PAYABLE: 4})
    with pytest.raises(InvalidInput):
        ledger.post_platform(s, "k1", "owner_payable", {Kind.CASH: -5, Kind.OWNER_PAYABLE: 5})
    first = ledger.post_platform(s, "k1", "owner_payable", {Kind.REVENUE_SERVICE: -5, Kind.OWNER_PAYABLE: 5})
    again = ledger.post_platform(s, "k1", "owner_payable", {Kind.REVENUE_SERVICE: -5, Kind.OWNER_PAYABLE: 5})
    assert again.replayed and again.txn_id == first.txn_id
    with pytest.raises(IdempotencyConflict):
        ledger.post_platform(s, "k1", "owner_payable", {Kind.REVENUE_SERVICE: -6, Kind.OWNER_PAYABLE: 6})
    n = s.scalar(select(func.count()).select_from(LedgerEntry).join(LedgerAccount)
                 .where(LedgerAccount.kind == Kind.OWNER_PAYABLE.value))
    assert n == 1 and ledger.verify(s) == []


@pytest.mark.postgres
def test_concurrent_clicks_make_one_payout_and_pay_it_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads against PostgreSQL: four finance clicks on "make payable" for the same day and
    owner, then four on "record the transfer": one payout, one payable and one paid posting."""
    import threading

    from tests.cloud.support import postgres_schema

    with postgres_schema() as url:
        gen = _session(url, monkeypatch)
        s0 = next(gen)
        engine = s0.get_bind()
        a = owner(s0, "owner-c", "A1")
        settlement.set_share(s0, "A1", electricity_bp=9000, service_bp=9000, idle_bp=9000, commission_bp=100,
                             effective_day=DAY.isoformat(), actor="fin")
        charge(s0, "A1", at(DAY, 10), 3000, 1000, 200)
        settlement.close(s0, DAY, actor="fin", now=at(NEXT, 1))
        s0.commit()
        errors: list[BaseException] = []
        ids: list[int] = []

        def clicks(fn) -> list[threading.Thread]:  # noqa: ANN001
            def run() -> None:
                try:
                    with Session(engine) as s:
                        ids.append(fn(s).id)
                        s.commit()
                except BaseException as e:  # noqa: BLE001
                    errors.append(e)
            return [threading.Thread(target=run) for _ in range(4)]

        for fn in (lambda s: payouts.make_payable(s, DAY, a, actor="fin"),
                   lambda s: payouts.mark_paid(s, ids[0], reference="BOC-77", actor="fin")):
            threads = clicks(fn)
            for th in threads:
                th.start()
            for th in threads:
                th.join(30)
        assert errors == [] and len(set(ids)) == 1
        with Session(engine) as s:
            kinds = s.scalars(select(LedgerTransaction.kind).where(
                LedgerTransaction.kind.in_(["owner_payable", "owner_paid"])).order_by(LedgerTransaction.id)).all()
            assert kinds == ["owner_payable", "owner_paid"]
            assert balance(s, Kind.OWNER_PAYABLE) == 0 and balance(s, Kind.BANK) > 0 and ledger.verify(s) == []
        gen.close()
