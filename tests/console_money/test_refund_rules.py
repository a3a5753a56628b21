"""The money rules under the console's refunds and prices: prices typed with four decimals are
stored exactly; refunds of one order never exceed its fees, also when two race (threads on
SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.errors import InvalidInput
from cloud.models import Station
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.tariffs.service import TariffServiceError, price_e4
from tests.support.databases import db_url, engine  # noqa: F401  (fixtures)


@given(st.integers(min_value=0, max_value=999_9999))
def test_a_price_with_four_decimals_is_stored_exactly(e4: int) -> None:
    assert price_e4(f"{e4 // 10_000}.{e4 % 10_000:04d}") == e4
    assert price_e4(f"{e4 // 10_000}.{e4 % 10_000:04d}".rstrip("0").rstrip(".")) == e4


@pytest.mark.parametrize("bad", ["", "-1", "1.23456", "1e3", "0x10", "1,5", "１.0", " . "])
def test_a_price_not_in_cny_with_four_decimals_is_refused(bad: str) -> None:
    with pytest.raises(TariffServiceError):
        price_e4(bad)


def _settled(e: Engine, fen: int, order_id: str = "o1", driver: str = "d1") -> None:
    with Session(e) as s, s.begin():
        if s.get(Station, "S1") is None:
            s.add(Station(sid="S1"))
            s.flush()
        ledger.top_up(s, driver, 50_000, key=f"t-{driver}")
        orders.create(s, order_id=order_id, driver_id=driver, sid="S1", gun="1", limit_mode="amount",
                      limit_value=10_000, hold_fen=10_000)
        for ev in (Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED):
            orders.apply(s, order_id, ev)
        orders.apply(s, order_id, Event.BILLED, lines=[orders.Line("electricity", fen), orders.Line("service", 50)])


_ENGINES: dict[str, Engine] = {}
_EXAMPLE = itertools.count(1)


@settings(max_examples=12, deadline=None)
@given(fee=st.integers(min_value=1, max_value=5000), asks=st.lists(st.integers(min_value=1, max_value=3000), max_size=5))
def test_refunds_of_an_order_never_exceed_its_fee(tmp_path_factory: pytest.TempPathFactory, fee: int,
                                                  asks: list[int]) -> None:
    from tests.cloud.support import migrated_engine

    if "e" not in _ENGINES:  # one database for every example: each example its own order and driver
        _ENGINES["e"] = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('r') / 'c.sqlite'}")
    e = _ENGINES["e"]
    n_ex = next(_EXAMPLE)
    oid, driver = f"o{n_ex}", f"d{n_ex}"
    _settled(e, fee, oid, driver)
    given_back = 0
    for n, ask in enumerate(asks):
        with Session(e) as s, s.begin():
            try:
                ledger.refund_order(s, oid, {"electricity": ask}, key=f"k{oid}-{n}")
                given_back += ask
            except InvalidInput:
                assert given_back + ask > fee
    with Session(e) as s:
        assert given_back <= fee
        assert ledger.balances(s, driver).cash == 50_000 - fee - 50 + given_back
        assert ledger.verify(s) == []


def test_two_racing_refunds_of_one_order_give_back_at_most_its_fee(engine: Engine) -> None:  # noqa: F811
    _settled(engine, 1000)
    with Session(engine) as s:
        rev0 = ledger.platform_balance(s, FEE_LINES["electricity"])
    results: list[str] = []
    barrier = threading.Barrier(2)

    def refund(n: int) -> None:
        barrier.wait()
        try:
            with Session(engine) as s, s.begin():
                ledger.refund_order(s, "o1", {"electricity": 700}, key=f"race{n}")
            results.append("ok")
        except InvalidInput:
            results.append("refused")
        except Exception as exc:  # noqa: BLE001 - SQLite's busy lock: the other one won
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=refund, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert results.count("ok") == 1, results
    with Session(engine) as s:
        assert abs(ledger.platform_balance(s, FEE_LINES["electricity"]) - rev0) == 700
        assert ledger.verify(s) == []


def _bonus_order(e: Engine, *, bonus: int, cash: int, fee: int, order_id: str = "ob", driver: str = "d1") -> None:
    """A settled order of `fee` electricity fen, held from `bonus` bonus credit first, then cash."""
    with Session(e) as s, s.begin():
        if s.get(Station, "S1") is None:
            s.add(Station(sid="S1"))
            s.flush()
        ledger.grant_bonus(s, driver, bonus, key=f"b-{order_id}")
        if cash:
            ledger.top_up(s, driver, cash, key=f"t-{order_id}")
        orders.create(s, order_id=order_id, driver_id=driver, sid="S1", gun="1", limit_mode="amount",
                      limit_value=bonus + cash, hold_fen=bonus + cash)
        for ev in (Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED):
            orders.apply(s, order_id, ev)
        orders.apply(s, order_id, Event.BILLED, lines=[orders.Line("electricity", fee)])


def test_an_order_refund_gives_bonus_back_as_bonus_first(engine: Engine) -> None:  # noqa: F811
    # 30.00 CNY held: 20.00 bonus, 10.00 cash; the bill 25.00 took all the bonus and 5.00 cash
    _bonus_order(engine, bonus=2000, cash=1000, fee=2500)
    with Session(engine) as s:
        b = ledger.balances(s, "d1")
        assert (b.cash, b.bonus) == (500, 0)
    steps = [(1500, (500, 1500)), (1000, (1000, 2000)), (1, None)]  # (asked, (cash, bonus) after)
    for n, (ask, after) in enumerate(steps):
        with Session(engine) as s, s.begin():
            if after is None:  # all 25.00 given back: nothing left to refund
                with pytest.raises(InvalidInput):
                    ledger.refund_order(s, "ob", {"electricity": ask}, key=f"rb{n}")
                continue
            ledger.refund_order(s, "ob", {"electricity": ask}, key=f"rb{n}")
        with Session(engine) as s:
            b = ledger.balances(s, "d1")
            assert (b.cash, b.bonus) == after
            assert ledger.verify(s) == []
    # first 15.00 all bonus (bonus first), then 5.00 bonus and 5.00 cash: the driver has what
    # the order took from each back, never cash for bonus


def test_an_order_refund_pays_the_debt_from_its_bonus_part_first(engine: Engine) -> None:  # noqa: F811
    # bonus 10.00 held, the bill 12.00 overran by 2.00 (debt): the whole 12.00 refunded
    # pays the debt and comes back as bonus; no cash at all
    _bonus_order(engine, bonus=1000, cash=0, fee=1200, order_id="od", driver="d2")
    with Session(engine) as s:
        assert ledger.balances(s, "d2").debt == 200
    with Session(engine) as s, s.begin():
        p = ledger.refund_order(s, "od", {"electricity": 1200}, key="rd")
        assert p.amount_on("driver:d2:debt") == 200 and p.amount_on("driver:d2:bonus") == 1000
        assert p.amount_on("driver:d2:cash") == 0
    with Session(engine) as s:
        b = ledger.balances(s, "d2")
        assert (b.cash, b.bonus, b.debt) == (0, 1000, 0)
