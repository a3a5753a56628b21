"""Pile sharing on a real database (SQLite and PostgreSQL): registration, windows and the
switch effective at once, starts and reservations of others refused (the owner's not), and
each settled order on a shared gun split in the ledger between the owner and the platform
to the fen."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.charging import service as charging
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.ledger.models import LedgerTransaction
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.service import Line
from cloud.reservations import service as reservations
from cloud.reservations.service import ReservationError
from cloud.sharing import rules
from cloud.sharing import service as sharing
from cloud.sharing.models import SharingSplit
from cloud.sharing.service import SharingError
from tests.reservations.support import SETTINGS, Gateway, seed_station, top_up, transactions

SH = ZoneInfo("Asia/Shanghai")
MONDAY_10 = int(datetime(2026, 12, 7, 10, 0, tzinfo=SH).timestamp() * 1000)
MONDAY_20 = int(datetime(2026, 12, 7, 20, 0, tzinfo=SH).timestamp() * 1000)
WEEKDAYS = [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00"}]
OWNER, OTHER = "1", "2"
RESERVE = {"enabled": True, "max_minutes": 30, "fee_mode": "none", "fee_fen": 0}


def _seed(engine: Engine, *, commission_bp: int = 1000, guns: dict[str, str] | None = None,
          last_seen: int = MONDAY_10) -> int:
    with Session(engine) as s, s.begin():
        seed_station(s, "H1", guns or {"P1-1": "available"}, rule=RESERVE, last_seen=last_seen)
        top_up(s, OWNER, 100_000)
        top_up(s, OTHER, 100_000)
        pile = sharing.register(s, OWNER, "H1", "P1-1", commission_bp=commission_bp)
        sharing.set_windows(s, OWNER, pile.id, WEEKDAYS)
        return pile.id


def _switch(engine: Engine, pile_id: int, on: bool) -> None:
    with Session(engine) as s, s.begin():
        sharing.set_open(s, OWNER, pile_id, on)


def _refusal(engine: Engine, driver: str, now: int) -> str | None:
    with Session(engine) as s:
        return sharing.refusal(s, "H1", "P1-1", driver, now=now)


def _settle(engine: Engine, oid: str, driver: str, bill: list[Line]) -> None:
    with Session(engine) as s, s.begin():
        orders.create(s, order_id=oid, driver_id=driver, sid="H1", gun="P1-1", limit_mode="amount",
                      limit_value=5000, hold_fen=5000)
        for e in (Event.START_SENT, Event.START_ACCEPTED, Event.SESSION_STARTED, Event.SESSION_ENDED,
                  Event.GUN_RELEASED):
            orders.apply(s, oid, e)
        orders.apply(s, oid, Event.BILLED, lines=bill)


def test_register_checks_the_gun_and_keeps_one_owner(engine: Engine) -> None:
    pile_id = _seed(engine)
    with Session(engine) as s, s.begin():
        with pytest.raises(SharingError) as e:
            sharing.register(s, OWNER, "H1", "P9-9", commission_bp=1000)
        assert e.value.code == "gun_not_found"
        with pytest.raises(SharingError) as e:
            sharing.register(s, OTHER, "H1", "P1-1", commission_bp=1000)
        assert e.value.code == "already_shared"
        assert sharing.register(s, OWNER, "H1", "P1-1", commission_bp=500).id == pile_id
        with pytest.raises(SharingError) as e:  # another owner's pile is as unknown as none
            sharing.set_open(s, OTHER, pile_id, True)
        assert e.value.code == "pile_not_found"
    with Session(engine) as s:
        v = sharing.view(s, sharing.own_pile(s, OWNER, pile_id), MONDAY_10)
        assert (v["open"], v["open_now"], v["commission_bp"], len(v["windows"])) == (False, False, 1000, 5)
    assert sharing.commission_bp_of({"SHARING_COMMISSION_BP": "1500"}) == 1500
    with pytest.raises(SharingError):
        sharing.commission_bp_of({"SHARING_COMMISSION_BP": 10_001})


def test_the_switch_and_the_windows_take_effect_at_once(engine: Engine) -> None:
    pile_id = _seed(engine)
    assert _refusal(engine, OTHER, MONDAY_10) == "pile_closed"  # registered closed
    _switch(engine, pile_id, True)
    assert _refusal(engine, OTHER, MONDAY_10) is None
    assert _refusal(engine, OTHER, MONDAY_20) == "pile_outside_hours"
    with Session(engine) as s, s.begin():
        sharing.set_windows(s, OWNER, pile_id, [{"days": ["mon"], "start": "19:00", "end": "21:00"}])
    assert _refusal(engine, OTHER, MONDAY_20) is None
    assert _refusal(engine, OTHER, MONDAY_10) == "pile_outside_hours"
    _switch(engine, pile_id, False)
    assert _refusal(engine, OTHER, MONDAY_20) == "pile_closed"
    for t in (MONDAY_10, MONDAY_20):  # the owner may always
        assert _refusal(engine, OWNER, t) is None
    with Session(engine) as s, s.begin(), pytest.raises(SharingError) as e:
        sharing.set_windows(s, OWNER, pile_id, [{"days": ["mon"], "start": "21:00", "end": "19:00"}])
    assert e.value.code == "invalid_window"
    with Session(engine) as s:  # the refused windows changed nothing
        assert sharing.windows_of(s, pile_id) == [rules.Window(0, 1140, 1260)]


def test_reservations_of_others_are_refused_when_closed_or_outside_hours(engine: Engine) -> None:
    pile_id = _seed(engine, last_seen=MONDAY_20)
    gw = Gateway()

    def reserve(driver: str, now: int) -> dict:
        return reservations.reserve(transactions(engine), gw, driver_id=driver, gun_code="H1-P1-1", minutes=15,
                                    settings=SETTINGS, now=now)

    with pytest.raises(ReservationError) as e:
        reserve(OTHER, MONDAY_10)
    assert e.value.code == "pile_closed"
    _switch(engine, pile_id, True)
    with pytest.raises(ReservationError) as e:
        reserve(OTHER, MONDAY_20)
    assert e.value.code == "pile_outside_hours"
    assert gw.commands == []  # nothing was sent for a refusal
    assert reserve(OWNER, MONDAY_20)["state"] == "active"


def test_a_start_of_another_driver_on_a_closed_pile_is_refused_before_anything_moves(engine: Engine) -> None:
    _seed(engine)
    gw = Gateway()
    with pytest.raises(charging.ChargingError) as e:
        charging.start_order(transactions(engine), gw, driver_id=int(OTHER), gun_code="H1-P1-1",
                             limit={"mode": "amount", "value": 2000}, settings=charging.ChargingSettings())
    assert e.value.code == "pile_closed"
    assert gw.commands == []
    with Session(engine) as s:
        assert ledger.balances(s, OTHER).held == 0
        assert orders.for_driver(s, OTHER) == []


def test_a_settled_order_is_split_to_the_fen_and_only_once(engine: Engine) -> None:
    pile_id = _seed(engine, commission_bp=1000)
    _switch(engine, pile_id, True)
    # 10 %: electricity 1,005 → commission 100.5 → 100 (half to even), service 333 → 33, idle 35 → 3.5 → 4
    _settle(engine, "o1", OTHER, [Line("electricity", 1005, "flat", 1500), Line("service", 333, "flat", 1500),
                                  Line("idle", 35)])
    with Session(engine) as s:
        assert ledger.owner_balances(s, OWNER) == (905 + 300 + 31, 0)
        assert ledger.platform_balance(s, Kind.REVENUE_ELECTRICITY) == 100
        assert ledger.platform_balance(s, Kind.REVENUE_SERVICE) == 33
        assert ledger.platform_balance(s, Kind.REVENUE_IDLE) == 4
        assert ledger.balances(s, OTHER).cash == 100_000 - 1373
        split = s.get_one(SharingSplit, "o1")
        assert (split.total_fen, split.owner_fen, split.platform_fen) == (1373, 1236, 137)
        assert ledger.verify(s) == []
    with Session(engine) as s, s.begin():  # again (a replayed settlement): nothing more moves
        o = orders.get(s, "o1")
        assert sharing.split_order(s, "o1", o.sid, o.gun, {"electricity": 1005, "service": 333, "idle": 35}).txn_id \
            == split.txn_id
    with Session(engine) as s:
        assert ledger.owner_balances(s, OWNER)[0] == 1236
        keys = s.scalars(select(LedgerTransaction.idem_key).where(LedgerTransaction.order_id == "o1")).all()
        assert sorted(keys) == sorted([ledger.hold_key("o1"), ledger.close_key("o1"), sharing.split_key("o1")])


def test_closing_lets_a_running_session_finish_and_be_split(engine: Engine) -> None:
    pile_id = _seed(engine)
    _switch(engine, pile_id, True)
    with Session(engine) as s, s.begin():
        orders.create(s, order_id="o1", driver_id=OTHER, sid="H1", gun="P1-1", limit_mode="amount",
                      limit_value=5000, hold_fen=5000)
        for e in (Event.START_SENT, Event.START_ACCEPTED, Event.SESSION_STARTED):
            orders.apply(s, "o1", e)
    _switch(engine, pile_id, False)
    with Session(engine) as s, s.begin():
        for e in (Event.SESSION_ENDED, Event.GUN_RELEASED):
            orders.apply(s, "o1", e)
        assert orders.apply(s, "o1", Event.BILLED, lines=[Line("service", 1000, "flat", 100)]).state == "settled"
    with Session(engine) as s:
        assert ledger.owner_balances(s, OWNER)[0] == 900


def test_the_owners_own_session_is_billed_and_split_like_any(engine: Engine) -> None:
    _seed(engine, commission_bp=2000)  # closed: the owner charges anyway
    _settle(engine, "own", OWNER, [Line("electricity", 500, "flat", 800)])
    with Session(engine) as s:
        e = sharing.earnings(s, OWNER)
        assert (e["balance_fen"], e["withdrawing_fen"]) == (400, 0)
        assert [(r["order_id"], r["owner_fen"], r["platform_fen"]) for r in e["sessions"]] == [("own", 400, 100)]
        assert ledger.balances(s, OWNER).cash == 100_000 - 500  # net, the owner paid the 100 commission


def test_an_unshared_gun_is_not_split(engine: Engine) -> None:
    _seed(engine, guns={"P1-1": "available", "P1-2": "available"})
    with Session(engine) as s, s.begin():
        orders.create(s, order_id="o2", driver_id=OTHER, sid="H1", gun="P1-2", limit_mode="amount",
                      limit_value=5000, hold_fen=5000)
        for e in (Event.START_SENT, Event.START_ACCEPTED, Event.SESSION_STARTED, Event.SESSION_ENDED,
                  Event.GUN_RELEASED):
            orders.apply(s, "o2", e)
        orders.apply(s, "o2", Event.BILLED, lines=[Line("service", 1000, "flat", 100)])
    with Session(engine) as s:
        assert s.get(SharingSplit, "o2") is None
        assert ledger.owner_balances(s, OWNER) == (0, 0)
        assert ledger.platform_balance(s, Kind.REVENUE_SERVICE) == 1000


def test_the_price_is_the_home_piles_tariff_and_only_there(engine: Engine) -> None:
    pile_id = _seed(engine)
    body = {"currency": "CNY", "periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                                            "energy_price_e4": 9000, "service_price_e4": 1000}]}
    with Session(engine) as s, s.begin():
        tid = sharing.set_price(s, OWNER, pile_id, body, effective_from=MONDAY_10)
        assert tid == f"share-{pile_id}-v1"
    with Session(engine) as s:
        from cloud.tariffs import service as tariffs

        assert tariffs.in_force(s, "H1", MONDAY_10 + 1).id == tid
    with Session(engine) as s, s.begin():
        seed_station(s, "H2", {"P1-1": "available", "P1-2": "available"})
        other = sharing.register(s, OWNER, "H2", "P1-1", commission_bp=1000)
        with pytest.raises(SharingError) as e:
            sharing.set_price(s, OWNER, other.id, body)
        assert e.value.code == "price_not_own_station"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bills=st.lists(st.tuples(st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 300)),
                      min_size=1, max_size=4),
       bp=st.integers(0, 10_000))
def test_owner_and_platform_add_up_to_what_drivers_paid(tmp_path_factory: pytest.TempPathFactory,
                                                        bills: list[tuple[int, int, int]], bp: int) -> None:
    from tests.cloud.support import migrated_engine

    engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('p') / 'c.sqlite'}")
    try:
        _seed(engine, commission_bp=bp)
        for i, (el, sv, idle) in enumerate(bills):
            lines = [Line(k, v, None if k == "idle" else "flat", None if k == "idle" else 100)
                     for k, v in (("electricity", el), ("service", sv), ("idle", idle)) if v]
            _settle(engine, f"o{i}", OTHER, lines)
        with Session(engine) as s:
            b = ledger.balances(s, OTHER)
            paid = 100_000 - b.cash + b.debt  # a bill beyond its hold (5,000) is owed as debt
            revenue = sum(ledger.platform_balance(s, k) for k in
                          (Kind.REVENUE_ELECTRICITY, Kind.REVENUE_SERVICE, Kind.REVENUE_IDLE))
            earned = ledger.owner_balances(s, OWNER)[0]
            assert paid == sum(map(sum, bills)) == revenue + earned
            assert revenue == sum(rules.split({"e": el, "s": sv, "i": idle}, bp).platform for el, sv, idle in bills)
            assert ledger.verify(s) == []
    finally:
        engine.dispose()


def test_a_reservation_the_pile_admitted_is_honoured_after_the_owner_closes_it(engine: Engine) -> None:
    """Closing refuses new starts and reservations; a reservation made while the pile was open
    still lets its holder start for its time (else the holder, refused, would be booked a
    no-show and lose the fee); other drivers stay refused."""
    from cloud.models import now_ms
    from cloud.reservations.models import Reservation

    now = now_ms()
    pile_id = _seed(engine, guns={"P1-1": "plugged"}, last_seen=now)
    with Session(engine) as s, s.begin():
        sharing.set_windows(s, OWNER, pile_id, [{"days": list(rules.DAYS), "start": "00:00", "end": "24:00"}])
        reservations.set_rule(s, "H1", {**RESERVE, "fee_mode": "fixed", "fee_fen": 300}, actor="test")
    _switch(engine, pile_id, True)
    gw = Gateway()
    rid = reservations.reserve(transactions(engine), gw, driver_id=OTHER, gun_code="H1-P1-1", minutes=15,
                               settings=SETTINGS, now=now)["reservation_id"]
    _switch(engine, pile_id, False)
    with pytest.raises(charging.ChargingError) as e:  # a third driver: the gun is reserved
        charging.start_order(transactions(engine), gw, driver_id=3, gun_code="H1-P1-1",
                             limit={"mode": "amount", "value": 2000}, settings=charging.ChargingSettings())
    assert e.value.code == "reserved"
    view = charging.start_order(transactions(engine), gw, driver_id=int(OTHER), gun_code="H1-P1-1",
                                limit={"mode": "amount", "value": 2000}, settings=charging.ChargingSettings())
    assert view["state"] == "starting" and gw.commands[-1][1]["type"] == "start"
    with Session(engine) as s:
        r = s.get_one(Reservation, rid)
        assert (r.state, r.order_id, r.fee_state) == ("used", view["order_id"], "refunded")
    assert _refusal(engine, OTHER, now) == "pile_closed"  # nothing new once it is used
