"""Settlement against the real ledger: statements add up to the ledger's revenue per day and
station, closed days never change, late revenue lands in the next open day, owner scope."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.orders.models import Order
from cloud.settlement import service as settlement
from cloud.settlement.service import SettlementError
from tests.cloud.support import migrated_engine, postgres_schema
from tests.reports.factories import SH, Clock, DriverFactory, StationFactory, bind, ms, settle_order

DAY = date(2026, 3, 10)


def at(d: date, hour: int) -> int:
    return ms(datetime(d.year, d.month, d.day, hour, tzinfo=SH))


def ledger_revenue(s: Session, sid: str, d: date) -> int:
    """What the ledger's revenue accounts received on local day d for the station (direct SQL)."""
    start, end = at(d, 0), at(d + timedelta(days=1), 0)
    return int(s.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.txn_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(Order, Order.order_id == LedgerTransaction.order_id)
        .where(LedgerAccount.kind.in_([k.value for k in FEE_LINES.values()]), Order.sid == sid,
               LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end)) or 0)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def s(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'settle.sqlite'}" if request.param == "sqlite"
               else stack.enter_context(postgres_schema()))
        yield from _session(url, monkeypatch)


def _session(url: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN202
    engine = migrated_engine(url)
    clock = Clock()
    monkeypatch.setattr(ledger, "now_ms", clock)
    with Session(engine) as s:
        bind(s)
        for sid in ("A1", "B1"):
            StationFactory(sid=sid)
        driver = str(DriverFactory().id)
        ledger.top_up(s, driver, 10_000_000, key="seed")
        s.info["clock"], s.info["driver"], s.info["n"] = clock, driver, 0
        yield s
    engine.dispose()


def charge(s: Session, sid: str, when: int, e: int, sv: int, idle: int = 0) -> None:
    s.info["n"] += 1
    settle_order(s, s.info["clock"], order_id=f"o{s.info['n']}", driver=s.info["driver"], sid=sid, at=when,
                 fees={"electricity": e, "service": sv, "idle": idle}, energy_wh=1000)


def test_statements_add_up_to_the_ledger_and_close_for_good(s: Session) -> None:
    settlement.set_share(s, "A1", electricity_bp=10000, service_bp=7000, idle_bp=5000, commission_bp=300,
                         effective_day=DAY.isoformat(), actor="fin")
    charge(s, "A1", at(DAY, 9), 1234, 567, 300)
    charge(s, "A1", at(DAY, 23), 1001, 333)
    charge(s, "B1", at(DAY, 12), 800, 200)
    settlement.take_in(s)
    st = settlement.statement(s, DAY)
    assert not st.closed
    for sid in ("A1", "B1"):
        lines = st.by_station()[sid]
        assert sum(ln.part.revenue for ln in lines) == ledger_revenue(s, sid, DAY)
        assert all(ln.part.owner + ln.part.commission + ln.part.platform == ln.part.revenue for ln in lines)
    a1 = {ln.fee: ln.part for ln in st.by_station()["A1"]}
    assert a1["electricity"].gross == 2235 and a1["service"].gross == round(900 * 0.7)
    assert all(ln.part.owner == 0 for ln in st.by_station()["B1"])  # no share set: the platform's

    with pytest.raises(SettlementError) as e:
        settlement.close(s, DAY, actor="fin", now=at(DAY, 22))
    assert e.value.code == "period_not_ended"
    closed = settlement.close(s, DAY, actor="fin", now=at(DAY + timedelta(days=1), 1))
    assert closed.lines == settlement.statement(s, DAY).lines and settlement.statement(s, DAY).closed

    # revenue booked on the closed day after it closed (a commit that came late) lands on the next open day
    charge(s, "A1", at(DAY, 23) + 1, 500, 100)
    settlement.set_share(s, "A1", electricity_bp=0, service_bp=0, idle_bp=0, commission_bp=0,
                         effective_day=(DAY + timedelta(days=1)).isoformat(), actor="fin")
    with pytest.raises(SettlementError):
        settlement.set_share(s, "A1", electricity_bp=1, service_bp=1, idle_bp=1, commission_bp=1,
                             effective_day=DAY.isoformat(), actor="fin")
    assert settlement.take_in(s) == 1
    assert settlement.statement(s, DAY).lines == closed.lines
    nxt = settlement.statement(s, DAY + timedelta(days=1))
    assert nxt.total("revenue") == 600 and nxt.total("owner") == 0
    # every fen of the ledger's revenue is in exactly one day's statement
    total = sum(ledger_revenue(s, sid, d) for sid in ("A1", "B1") for d in (DAY, DAY + timedelta(days=1)))
    assert settlement.statement(s, DAY).total("revenue") + nxt.total("revenue") == total
    with pytest.raises(SettlementError):
        settlement.close(s, DAY, actor="fin", now=at(DAY + timedelta(days=3), 1))


def test_an_owner_sees_only_its_stations(s: Session) -> None:
    charge(s, "A1", at(DAY, 9), 100, 50)
    charge(s, "B1", at(DAY, 9), 70, 30)
    settlement.take_in(s)
    mine = settlement.statement(s, DAY, {"A1"})
    assert set(mine.by_station()) == {"A1"} and mine.total("revenue") == 150
    assert settlement.statement(s, DAY, set()).lines == []
    assert [r["sid"] for r in settlement.shares(s, {"B1"})] == ["B1"]


def test_bad_shares_are_refused(s: Session) -> None:
    for kw, code in [({"electricity_bp": 10001}, "bad_share"), ({"service_bp": "x"}, "bad_share"),
                     ({"commission_bp": -1}, "bad_share"), ({"effective_day": "2026-13-01"}, "bad_day"),
                     ({"sid": "NOPE"}, "station_not_found")]:
        args = {"sid": "A1", "electricity_bp": 1, "service_bp": 1, "idle_bp": 1, "commission_bp": 1,
                "effective_day": "2026-03-01", "actor": "fin"} | kw
        sid = args.pop("sid")
        with pytest.raises(SettlementError) as e:
            settlement.set_share(s, sid, **args)
        assert e.value.code == code


@pytest.mark.postgres
def test_closing_while_revenue_arrives_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads against PostgreSQL: one closes the day while others book revenue on it and take
    it in; every fen ends up in the closed day's lines or in the next day's items."""
    import threading

    with postgres_schema() as url:
        gen = _session(url, monkeypatch)
        s0 = next(gen)
        engine = s0.get_bind()
        for i in range(6):
            charge(s0, "A1", at(DAY, 20) + i, 100 + i, 10)
        s0.commit()
        errors: list[BaseException] = []

        def book(n: int) -> None:
            try:
                with Session(engine) as s:
                    s.info.update(s0.info)
                    s.info["n"] = 100 + n * 10
                    for k in range(3):
                        charge(s, "A1", at(DAY, 21) + n * 10 + k, 50, 5)
                        s.commit()
                        settlement.take_in(s)
                        s.commit()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        def close() -> None:
            try:
                with Session(engine) as s:
                    settlement.close(s, DAY, actor="fin", now=at(DAY + timedelta(days=1), 1))
                    s.commit()
            except BaseException as e:  # noqa: BLE001
                errors.append(e)

        threads = [threading.Thread(target=book, args=(n,)) for n in range(3)] + [threading.Thread(target=close)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        assert errors == []
        with Session(engine) as s:
            settlement.take_in(s)
            closed = settlement.statement(s, DAY).total("revenue")
            nxt = settlement.statement(s, DAY + timedelta(days=1)).total("revenue")
            assert closed + nxt == ledger_revenue(s, "A1", DAY) == 6 * 110 + 15 + 9 * 55
        gen.close()
