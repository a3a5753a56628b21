"""Money through reservations, as a property over the whole space of operations: drivers
reserve, cancel, start and let reservations expire, several at once from threads, with the
station answering, refusing or staying silent; the rules' fee mode and its fate on start,
cancel and no-show drawn too. Whatever happens, on SQLite and PostgreSQL: the ledger
balances (double entry), no wallet goes negative, no fen is made or lost (each wallet is
its top-ups less the fees kept, the service revenue is exactly the fees kept), a held fee is
exactly the fees of the live reservations, and a gun and a driver hold one live reservation
at most. The tariff's own reservation fee (mode `tariff`) is drawn too, and its arithmetic
(per reservation plus per minute, rounded half up to the fen once) is a property of its own."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.db import take_write_lock
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.reservations import service
from cloud.reservations.models import LIVE, Reservation
from cloud.reservations.rules import Rule, fee_for, tariff_fee_fen
from cloud.reservations.service import ReservationError
from cloud.tariffs import service as tariffs
from jcproto import ErrorCode, Reply
from tests.cloud.support import writer_and_web
from tests.reservations.support import (
    MIN,
    SETTINGS,
    T0,
    TARIFF,
    Gateway,
    seed_station,
    top_up,
    transactions,
)

_runs = itertools.count()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, Engine]]:
    """(writer engine for seeding and checks, web engine the operations run on, as the API's)."""
    with writer_and_web(request.param, tmp_path_factory.mktemp('rsv')) as engines:
        yield engines


RULES = st.fixed_dictionaries({
    "enabled": st.just(True), "max_minutes": st.just(60),
    "fee_mode": st.sampled_from(["none", "fixed", "tariff_idle", "tariff"]), "fee_fen": st.integers(1, 700),
    "refund_on_start": st.booleans(), "refund_on_cancel": st.booleans(), "keep_on_no_show": st.booleans()})
PRICE = st.fixed_dictionaries({"fee_e4": st.integers(0, 50_000), "per_minute_e4": st.integers(0, 2_000)})
OP = st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 3), st.integers(0, 2), st.integers(1, 60),
              st.sampled_from(["ok", "ok", "ok", "busy", "silent"])),
    st.tuples(st.just("cancel"), st.integers(0, 3)),
    st.tuples(st.just("start"), st.integers(0, 3)),
    st.tuples(st.just("expire"), st.integers(0, 70)),
)


def _answer(outcome: str):  # type: ignore[no-untyped-def]
    from cloud.commands import CommandTimeout

    def answer(_sid: str, cmd: dict) -> Reply | None:
        if cmd["type"] != "reserve" or outcome == "ok":
            return None
        if outcome == "silent":
            raise CommandTimeout("no reply")
        return Reply.failure(cmd["id"], ErrorCode(outcome))
    return answer


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(rule=RULES, price=PRICE, wallets=st.lists(st.integers(0, 1500), min_size=4, max_size=4),
       batches=st.lists(st.lists(OP, min_size=1, max_size=4), min_size=1, max_size=5))
def test_money_is_conserved_and_no_wallet_goes_negative(shared: tuple[Engine, Engine], rule: dict, price: dict,
                                                        wallets: list[int], batches: list[list[tuple]]) -> None:
    writer, web = shared
    run = next(_runs)
    sid = f"M{run}"
    drivers = [f"m{run}d{i}" for i in range(4)]
    with Session(writer) as s, s.begin():
        seed_station(s, sid, {"P1-1": "available", "P1-2": "plugged", "P1-3": "available"}, rule=rule)
        priced = tariffs.create(s, {**TARIFF, "reservation": price}, code=f"rsv{sid}").tariff_id
        tariffs.assign(s, sid, priced, effective_from=T0 - MIN, backdate=True)
        for d, fen in zip(drivers, wallets, strict=True):
            if fen:
                top_up(s, d, fen, f"prop:{d}")
    tx = transactions(web)

    def do(op: tuple) -> None:
        kind = op[0]
        try:
            if kind == "reserve":
                _, d, g, minutes, outcome = op
                service.reserve(tx, Gateway(answer=_answer(outcome)), driver_id=drivers[d],
                                gun_code=f"{sid}-P1-{g + 1}", minutes=minutes, settings=SETTINGS, now=T0)
            elif kind == "cancel":
                with Session(writer) as s:
                    r = s.scalar(select(Reservation).where(Reservation.driver_id == drivers[op[1]])
                                 .order_by(Reservation.created_at.desc()).limit(1))
                if r is not None:
                    service.cancel(tx, Gateway(), driver_id=drivers[op[1]], reservation_id=r.reservation_id)
            elif kind == "start":  # what charging does once the station accepted the holder's start
                with tx() as s:
                    take_write_lock(s)  # as charging's transaction, which locks its order first
                    r = s.scalar(select(Reservation).where(Reservation.driver_id == drivers[op[1]],
                                                           Reservation.state.in_(LIVE)))
                    if r is not None:
                        service.on_started(s, r.reservation_id, f"o-{r.reservation_id}")
            else:
                service.expire_due(tx, SETTINGS, T0 + op[1] * MIN)
        except ReservationError:
            pass  # refusals are outcomes too; the invariants below hold either way

    for batch in batches:
        go = threading.Barrier(len(batch))

        def run_one(op: tuple, go: threading.Barrier = go) -> None:
            go.wait()  # all at once: the operations race
            do(op)

        with ThreadPoolExecutor(len(batch)) as pool:
            list(pool.map(run_one, batch))
    _check(writer, sid, dict(zip(drivers, wallets, strict=True)))
    if rule["fee_mode"] == "tariff":  # each fee is the tariff's for the minutes reserved, from that version
        with Session(writer) as s:
            for r in s.scalars(select(Reservation).where(Reservation.sid == sid)):
                minutes = (r.until - r.created_at) // MIN
                assert r.fee_fen == tariff_fee_fen(price["fee_e4"], price["per_minute_e4"], minutes)
                assert r.fee_tariff_id == priced


@settings(max_examples=300, deadline=None)
@given(fee=st.integers(0, 10_000_000), per_minute=st.integers(0, 1_000_000), minutes=st.integers(0, 1440))
def test_the_tariffs_reservation_fee_is_the_exact_sum_rounded_half_up_once(fee: int, per_minute: int,
                                                                           minutes: int) -> None:
    got = tariff_fee_fen(fee, per_minute, minutes)
    exact = Fraction(fee + minutes * per_minute, 100)  # fen, exactly (100 units of CNY × 10,000 a fen)
    assert got - Fraction(1, 2) <= exact < got + Fraction(1, 2)  # the nearest fen, a half going up
    assert tariff_fee_fen(fee, per_minute, minutes + 1) >= got  # never less for longer
    assert tariff_fee_fen(fee // 100 * 100, per_minute // 100 * 100, minutes) == fee // 100 + minutes * (
        per_minute // 100)  # whole-fen prices: exact, nothing rounded
    rule = Rule(enabled=True, fee_mode="tariff")
    assert fee_for(rule, minutes, None, {"fee_e4": fee, "per_minute_e4": per_minute}) == got
    assert fee_for(rule, minutes, None, None) == 0  # no tariff in force: no fee
    assert fee_for(Rule(enabled=True, fee_mode="none"), minutes, None, {"fee_e4": fee, "per_minute_e4": 1}) == 0


def _check(engine: Engine, sid: str, wallets: dict[str, int]) -> None:
    with Session(engine) as s:
        assert ledger.verify(s) == []
        rows = s.scalars(select(Reservation).where(Reservation.sid == sid)).all()
        for d, fen in wallets.items():
            b = ledger.balances(s, d)
            assert min(b.cash, b.bonus, b.held, b.debt) >= 0
            mine = [r for r in rows if r.driver_id == d]
            kept = sum(r.fee_fen for r in mine if r.fee_state == "kept")
            held = sum(r.fee_fen for r in mine if r.fee_state == "held")
            assert b.cash + b.bonus + b.held - b.debt == fen - kept  # no fen made or lost
            assert b.held == held
            assert all(r.state in LIVE for r in mine if r.fee_state == "held")  # an ended one holds nothing
            assert sum(1 for r in mine if r.state in LIVE) <= 1
        for gun in ("P1-1", "P1-2", "P1-3"):
            assert sum(1 for r in rows if r.gun == gun and r.state in LIVE) <= 1
        kept_here = sum(r.fee_fen for r in rows if r.fee_state == "kept")
        kept_txn = s.scalar(select(func.count()).select_from(Reservation)
                            .where(Reservation.sid == sid, Reservation.fee_state == "kept"))
        assert kept_txn == sum(1 for r in rows if r.fee_state == "kept")
        assert kept_here == _service_revenue_of(s, [r.reservation_id for r in rows])


def _service_revenue_of(s: Session, rids: list[str]) -> int:
    from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction

    if not rids:
        return 0
    return int(s.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.txn_id)
                        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                        .where(LedgerTransaction.order_id.in_(rids),
                               LedgerAccount.kind == Kind.REVENUE_SERVICE.value)) or 0)


def test_the_property_sees_kept_fees(shared: tuple[Engine, Engine], tmp_path: Path) -> None:
    """The property above is not vacuous: a no-show under keep_on_no_show moves money to revenue."""
    writer, web = shared
    run = next(_runs)
    sid, d = f"K{run}", f"k{run}"
    with Session(writer) as s, s.begin():
        seed_station(s, sid, {"P1-1": "available"}, rule={"enabled": True, "fee_mode": "fixed", "fee_fen": 300})
        top_up(s, d, 1000, f"prop:{d}")
    v = service.reserve(transactions(web), Gateway(), driver_id=d, gun_code=f"{sid}-P1-1", minutes=10,
                        settings=SETTINGS, now=T0)
    service.expire_due(transactions(web), SETTINGS, T0 + 10 * MIN)
    _check(writer, sid, {d: 1000})
    with Session(writer) as s:
        assert _service_revenue_of(s, [v["reservation_id"]]) == 300
        assert ledger.balances(s, d).cash == 700
