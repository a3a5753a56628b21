"""The reservation service on a real database (SQLite and PostgreSQL): reserve, refusals,
the fee held, refunded or kept by the station's rules, cancel, use, expiry with no-shows and
suspension, and the release confirmed from the station's telemetry."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditEntry
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.reservations import service
from cloud.reservations.models import Reservation
from cloud.reservations.service import ReservationError
from cloud.tariffs import service as tariffs
from jcproto import Reply
from tests.reservations.support import (
    MIN,
    SETTINGS,
    T0,
    TARIFF,
    Gateway,
    refuse,
    seed_station,
    set_telemetry,
    silent,
    top_up,
    transactions,
)

FIXED = {"enabled": True, "max_minutes": 30, "fee_mode": "fixed", "fee_fen": 200}


def _seed(engine: Engine, rule: dict | None = None, guns: dict[str, str] | None = None, **kw: object) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s, "S1", guns or {"P1-1": "available", "P1-2": "plugged"}, rule=FIXED if rule is None else rule,
                     **kw)  # type: ignore[arg-type]
        top_up(s, "d1", 1000)
        top_up(s, "d2", 1000)


def _reserve(engine: Engine, gw: Gateway, driver: str = "d1", code: str = "S1-P1-1", minutes: int = 15,
             now: int = T0) -> dict:
    return service.reserve(transactions(engine), gw, driver_id=driver, gun_code=code, minutes=minutes,
                           settings=SETTINGS, now=now)


def _bal(engine: Engine, driver: str) -> ledger.Balances:
    with Session(engine) as s:
        return ledger.balances(s, driver)


def _row(engine: Engine, rid: str) -> Reservation:
    with Session(engine) as s:
        r = s.get_one(Reservation, rid)
        s.expunge(r)
        return r


def _revenue(engine: Engine) -> int:
    with Session(engine) as s:
        return ledger.platform_balance(s, Kind.REVENUE_SERVICE)


def test_reserve_holds_the_fee_and_sends_reserve_until_its_end(engine: Engine) -> None:
    _seed(engine)
    gw = Gateway()
    v = _reserve(engine, gw)
    assert v["state"] == "active" and v["fee_fen"] == 200 and v["fee_state"] == "held"
    assert v["until"] == T0 + 15 * MIN and v["gun"] == "P1-1" and v["gun_code"] == "S1-P1-1"
    [(sid, cmd)] = gw.commands
    assert sid == "S1" and cmd["type"] == "reserve"
    assert (cmd["gun"], cmd["reservation_id"], cmd["until"]) == ("P1-1", v["reservation_id"], T0 + 15 * MIN)
    b = _bal(engine, "d1")
    assert (b.cash, b.held) == (800, 200)
    with Session(engine) as s:
        assert service.holder(s, "S1", "P1-1", T0 + MIN) == (v["reservation_id"], "d1")
        assert service.holder(s, "S1", "P1-1", T0 + 15 * MIN) is None  # over at `until`
        assert ledger.verify(s) == []


REFUSALS = [
    ({**FIXED, "enabled": False}, None, {}, {}, "reservation_disabled"),
    (FIXED, None, {}, {"minutes": 31}, "reservation_too_long"),
    (FIXED, None, {"last_seen": T0 - 91_000}, {}, "station_offline"),
    (FIXED, None, {"online": False}, {}, "station_offline"),
    (FIXED, {"P1-1": "charging"}, {}, {}, "gun_busy"),
    (FIXED, {"P1-1": "faulted"}, {}, {}, "gun_faulted"),
    (FIXED, {"P1-1": "reserved"}, {}, {}, "reserved"),
    (FIXED, None, {}, {"code": "NOPE-1"}, "gun_not_found"),
    ({**FIXED, "fee_fen": 1001}, None, {}, {}, "insufficient_balance"),
]


def test_refusals_leave_no_reservation_and_no_money_moved(engine: Engine) -> None:
    for i, (rule, guns, kw, args, code) in enumerate(REFUSALS):  # one database, a station each
        sid, driver = f"R{i}", f"r{i}"
        with Session(engine) as s, s.begin():
            seed_station(s, sid, guns or {"P1-1": "available"}, rule=rule, **kw)
            top_up(s, driver, 1000)
        gw = Gateway()
        with pytest.raises(ReservationError) as e:
            _reserve(engine, gw, driver, **{"code": f"{sid}-P1-1", **args})
        assert e.value.code == code, (i, e.value)
        assert gw.commands == []
        with Session(engine) as s:
            assert s.scalars(select(Reservation)).all() == []
        assert _bal(engine, driver).cash == 1000


def test_one_reservation_per_gun_and_per_driver(engine: Engine) -> None:
    _seed(engine)
    gw = Gateway()
    _reserve(engine, gw)
    with pytest.raises(ReservationError) as e:
        _reserve(engine, gw, driver="d2")
    assert e.value.code == "reserved"
    with pytest.raises(ReservationError) as e:
        _reserve(engine, gw, code="S1-P1-2")
    assert e.value.code == "reservation_exists"
    assert _reserve(engine, gw, driver="d2", code="S1-P1-2")["state"] == "active"


def test_a_refused_reserve_fails_with_the_fee_back(engine: Engine) -> None:
    _seed(engine)
    with pytest.raises(ReservationError) as e:
        _reserve(engine, Gateway(answer=refuse("busy")))
    assert e.value.code == "gun_busy"
    with Session(engine) as s:
        [r] = s.scalars(select(Reservation)).all()
        assert (r.state, r.fee_state, r.release) == ("failed", "refunded", "none")
    assert _bal(engine, "d1").cash == 1000 and _revenue(engine) == 0


def test_an_unanswered_reserve_fails_and_is_cancelled_at_the_station(engine: Engine) -> None:
    _seed(engine)
    gw = Gateway(answer=silent)
    with pytest.raises(ReservationError) as e:
        _reserve(engine, gw)
    assert e.value.code == "reserve_failed"
    assert [c["type"] for _sid, c in gw.commands] == ["reserve", "cancel_reservation"]
    with Session(engine) as s:
        [r] = s.scalars(select(Reservation)).all()
        assert (r.state, r.fee_state, r.release) == ("failed", "refunded", "pending")
    assert _bal(engine, "d1").cash == 1000


@pytest.mark.parametrize("refund, cash, revenue", [(True, 1000, 0), (False, 800, 200)])
def test_cancel_refunds_or_keeps_the_fee_by_the_rules(engine: Engine, refund: bool, cash: int, revenue: int) -> None:
    _seed(engine, {**FIXED, "refund_on_cancel": refund})
    gw = Gateway()
    rid = _reserve(engine, gw)["reservation_id"]
    v = service.cancel(transactions(engine), gw, driver_id="d1", reservation_id=rid, now=T0 + MIN)
    assert v["state"] == "cancelled" and v["fee_state"] == ("refunded" if refund else "kept")
    assert gw.commands[-1][1]["type"] == "cancel_reservation" and gw.commands[-1][1]["reservation_id"] == rid
    assert _row(engine, rid).release == "confirmed"
    b = _bal(engine, "d1")
    assert (b.cash, b.held) == (cash, 0) and _revenue(engine) == revenue
    with pytest.raises(ReservationError) as e:
        service.cancel(transactions(engine), gw, driver_id="d1", reservation_id=rid)
    assert e.value.code == "reservation_not_active"
    with pytest.raises(ReservationError) as e:  # another driver's is as missing
        service.cancel(transactions(engine), gw, driver_id="d2", reservation_id=rid)
    assert e.value.code == "not_found"


@pytest.mark.parametrize("refund, cash", [(True, 1000), (False, 800)])
def test_the_holders_start_uses_it(engine: Engine, refund: bool, cash: int) -> None:
    _seed(engine, {**FIXED, "refund_on_start": refund})
    rid = _reserve(engine, Gateway())["reservation_id"]
    with transactions(engine)() as s:
        service.on_started(s, rid, "o-1")
        service.on_started(s, rid, "o-1")  # once only
    r = _row(engine, rid)
    assert (r.state, r.order_id, r.no_show) == ("used", "o-1", False)
    assert _bal(engine, "d1").cash == cash


def test_expiry_books_a_no_show_and_the_release_is_confirmed_by_telemetry(engine: Engine) -> None:
    _seed(engine)
    rid = _reserve(engine, Gateway())["reservation_id"]
    tx = transactions(engine)
    assert service.expire_due(tx, SETTINGS, T0 + 15 * MIN - 1) == 0
    with tx() as s:  # the station kept talking
        set_telemetry(s, "S1", {"P1-1": "reserved", "P1-2": "plugged"}, ts=T0 + 14 * MIN)
    assert service.expire_due(tx, SETTINGS, T0 + 15 * MIN) == 1
    r = _row(engine, rid)
    assert (r.state, r.no_show, r.fee_state, r.offline_at_end, r.release) == ("expired", True, "kept", False, "pending")
    assert _bal(engine, "d1").cash == 800 and _revenue(engine) == 200
    gw = Gateway()
    assert service.reconcile_releases(tx, gw, SETTINGS, T0 + 15 * MIN + 1000) == 0  # no word since
    with tx() as s:
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=T0 + 15 * MIN + 5000)
    assert service.reconcile_releases(tx, gw, SETTINGS, T0 + 15 * MIN + 6000) == 1
    r = _row(engine, rid)
    assert (r.release, r.released_seen_at) == ("confirmed", T0 + 15 * MIN + 5000)
    assert gw.commands == []


def test_expiry_while_the_station_is_silent_waits_for_its_word(engine: Engine) -> None:
    _seed(engine)
    rid = _reserve(engine, Gateway())["reservation_id"]
    tx = transactions(engine)
    end = T0 + 15 * MIN
    assert service.expire_due(tx, SETTINGS, end) == 1  # last heard from at T0: 15 min ago
    r = _row(engine, rid)
    assert (r.state, r.offline_at_end, r.release) == ("expired", True, "pending")
    gw = Gateway()
    assert service.reconcile_releases(tx, gw, SETTINGS, end + MIN) == 0
    with tx() as s:  # back, but the gun still shows reserved well after the end: cancelled again
        set_telemetry(s, "S1", {"P1-1": "reserved", "P1-2": "plugged"}, ts=end + 3 * MIN)
    assert service.reconcile_releases(tx, gw, SETTINGS, end + 3 * MIN) == 1
    assert [(c["type"], c["reservation_id"]) for _sid, c in gw.commands] == [("cancel_reservation", rid)]
    assert _row(engine, rid).release == "pending"
    with tx() as s:
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=end + 4 * MIN)
    service.reconcile_releases(tx, gw, SETTINGS, end + 4 * MIN)
    assert _row(engine, rid).release == "confirmed"


def test_no_shows_suspend_reserving_for_the_set_days(engine: Engine) -> None:
    _seed(engine, {**FIXED, "fee_mode": "none", "fee_fen": 0, "no_show_limit": 2, "suspend_days": 7})
    tx = transactions(engine)
    for i in range(2):
        now = T0 + i * 20 * MIN
        with tx() as s:
            set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=now)
        _reserve(engine, Gateway(), now=now)
        service.expire_due(tx, SETTINGS, now + 15 * MIN)
    now = T0 + 40 * MIN
    with tx() as s:
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=now)
    with pytest.raises(ReservationError) as e:
        _reserve(engine, Gateway(), now=now)
    assert e.value.code == "reservation_suspended"
    # the older of the two latest no-shows (at T0 + 15 min) turns 7 days old
    assert e.value.facts["until"] == T0 + 15 * MIN + 7 * 86_400_000
    assert _reserve(engine, Gateway(), driver="d2", now=now)["state"] == "active"  # only d1 is suspended
    with Session(engine) as s:
        [row] = service.no_shows(s, "S1", since=T0 - 1, now=now)
        assert (row["driver_id"], row["count"], row["suspended_until"]) == ("d1", 2, e.value.facts["until"])


def test_the_fee_from_the_tariff_is_its_idle_fee_for_the_time_held(engine: Engine) -> None:
    _seed(engine, {"enabled": True, "max_minutes": 120, "fee_mode": "tariff_idle"})
    with Session(engine) as s:
        assert service.terms(s, "d1", "S1-P1-1", 25, now=T0)["fee_fen"] == 150  # 3 started steps of 50
        assert service.terms(s, "d1", "S1-P1-1", 120, now=T0)["fee_fen"] == 300  # the cap
    assert _reserve(engine, Gateway(), minutes=25)["fee_fen"] == 150


TARIFF_FEE = {"enabled": True, "max_minutes": 60, "fee_mode": "tariff"}


def _tariff_with_fee(engine: Engine, fee_e4: int, per_minute_e4: int, *, at: int = T0 - MIN) -> str:
    """A tariff version with a reservation fee, in force at S1 from `at`."""
    with transactions(engine)() as s:
        v = tariffs.create(s, {**TARIFF, "reservation": {"fee_e4": fee_e4, "per_minute_e4": per_minute_e4}},
                           code="rsv")
        tariffs.assign(s, "S1", v.tariff_id, effective_from=at, backdate=True)
        return v.tariff_id


@pytest.mark.parametrize("end, flags, fee_state", [
    ("start", {"refund_on_start": True}, "refunded"), ("start", {"refund_on_start": False}, "kept"),
    ("cancel", {"refund_on_cancel": True}, "refunded"), ("cancel", {"refund_on_cancel": False}, "kept"),
    ("no_show", {"keep_on_no_show": True}, "kept"), ("no_show", {"keep_on_no_show": False}, "refunded"),
])
def test_the_tariffs_reservation_fee_is_quoted_held_and_kept_or_refunded_by_the_rules(
        engine: Engine, end: str, flags: dict, fee_state: str) -> None:
    _seed(engine, {**TARIFF_FEE, **flags})
    tid = _tariff_with_fee(engine, 10_000, 150)  # 1.0000 CNY a reservation + 0.0150 CNY a minute
    with Session(engine) as s:
        t = service.terms(s, "d1", "S1-P1-1", 15, now=T0)
    assert t["fee_fen"] == 123  # 1.2250 CNY, rounded half up to the fen once
    assert (t["fee_mode"], t["fee_tariff_id"], t["tariff_fee"]) == ("tariff", tid,
                                                                    {"fee_e4": 10_000, "per_minute_e4": 150})
    gw = Gateway()
    v = _reserve(engine, gw, minutes=15)
    assert (v["fee_fen"], v["fee_state"], v["fee_tariff_id"]) == (123, "held", tid)
    b = _bal(engine, "d1")
    assert (b.cash, b.held) == (877, 123)
    rid = v["reservation_id"]
    if end == "start":
        with transactions(engine)() as s:
            service.on_started(s, rid, "o-1", now=T0 + 5 * MIN)
    elif end == "cancel":
        service.cancel(transactions(engine), gw, driver_id="d1", reservation_id=rid, now=T0 + 5 * MIN)
    else:
        assert service.expire_due(transactions(engine), SETTINGS, T0 + 15 * MIN) == 1
    assert _row(engine, rid).fee_state == fee_state
    kept = 123 if fee_state == "kept" else 0
    b = _bal(engine, "d1")
    assert (b.cash, b.held) == (1000 - kept, 0) and _revenue(engine) == kept
    with Session(engine) as s:
        assert ledger.verify(s) == []


def test_a_tariff_without_a_reservation_fee_reserves_free(engine: Engine) -> None:
    _seed(engine, TARIFF_FEE)  # the seeded tariff sets no reservation fee
    with Session(engine) as s:
        t = service.terms(s, "d1", "S1-P1-1", 60, now=T0)
    assert (t["fee_fen"], t["tariff_fee"]) == (0, {"fee_e4": 0, "per_minute_e4": 0})
    v = _reserve(engine, Gateway(), minutes=60)
    assert (v["state"], v["fee_fen"], v["fee_state"]) == ("active", 0, "none")
    assert _bal(engine, "d1").cash == 1000


def test_a_reservation_keeps_the_fee_of_the_version_in_force_when_made(engine: Engine) -> None:
    _seed(engine, TARIFF_FEE)
    old = _tariff_with_fee(engine, 0, 200)  # 0.02 CNY a minute: 30 fen for 15 minutes
    v = _reserve(engine, Gateway(), minutes=15)
    new = _tariff_with_fee(engine, 5_000, 200, at=T0 + MIN)  # the next version, 50 fen more
    with Session(engine) as s:
        assert service.terms(s, "d2", "S1-P1-2", 15, now=T0 + 2 * MIN)["fee_fen"] == 80
        assert service.terms(s, "d2", "S1-P1-2", 15, now=T0 + 2 * MIN)["fee_tariff_id"] == new
        assert (service.get_view(s, "d1", v["reservation_id"])["fee_fen"], v["fee_tariff_id"]) == (30, old)
    service.expire_due(transactions(engine), SETTINGS, T0 + 15 * MIN)
    assert _revenue(engine) == 30


def test_rules_are_audited(engine: Engine) -> None:
    _seed(engine)
    with transactions(engine)() as s:
        service.set_rule(s, "S1", {**FIXED, "fee_fen": 300}, actor="op1", ip="10.0.0.1")
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.actor == "op1")).one()
        assert (entry.action, entry.target, entry.detail) == ("reservation_rules.set", "S1",
                                                              {"changed": {"fee_fen": [200, 300]}})
        assert service.get_rule(s, "S1").fee_fen == 300


def test_the_fees_fate_is_the_rules_when_reserved(engine: Engine) -> None:
    _seed(engine, {**FIXED, "keep_on_no_show": False})
    rid = _reserve(engine, Gateway())["reservation_id"]
    with transactions(engine)() as s:  # the operator changes the rules meanwhile
        service.set_rule(s, "S1", {**FIXED, "keep_on_no_show": True}, actor="op1")
    service.expire_due(transactions(engine), SETTINGS, T0 + 15 * MIN)
    r = _row(engine, rid)
    assert (r.state, r.no_show, r.fee_state) == ("expired", True, "refunded")
    assert _bal(engine, "d1").cash == 1000 and _revenue(engine) == 0


def _holder_starts_unanswered(engine: Engine, rule: dict) -> tuple[str, str, int]:
    """A reservation of driver 41 on S1's P1-1 (now, real time: orders are stamped with it),
    then its start on that gun whose reply never reaches the cloud in time: the order stays
    `starting` (the gateway did start it with the reservation's tag and forgot the reservation)."""
    from cloud.charging import service as charging
    from cloud.models import now_ms

    now = now_ms()
    with Session(engine) as s, s.begin():
        seed_station(s, "S1", {"P1-1": "plugged"}, rule=rule, last_seen=now)
        top_up(s, "41", 20_000)
    rid = _reserve(engine, Gateway(), driver="41", now=now)["reservation_id"]
    view = charging.start_order(transactions(engine), Gateway(answer=silent), driver_id=41, gun_code="S1-P1-1",
                                limit={"mode": "full"}, settings=charging.ChargingSettings())
    assert view["state"] == "starting"
    return rid, view["order_id"], now


def test_a_holders_start_whose_reply_came_late_uses_the_reservation(engine: Engine) -> None:
    from cloud.charging import service as charging
    from cloud.models import CommandLog
    from cloud.orders.models import Order

    rid, oid, now = _holder_starts_unanswered(engine, {**FIXED, "keep_on_no_show": True})
    with transactions(engine)() as s:  # the station's accepting reply arrives after the sender gave up
        s.add(CommandLog(id="c-late", sid="S1", type="start", payload={"gun": "P1-1", "order_id": oid},
                         created_at=s.get_one(Order, oid).created_at, expires_at=now + 60_000, status="replied", ok=True,
                         detail={"session_id": "s-1"}, replied_at=now + 20_000))
    with transactions(engine)() as s:
        charging.follow_start(s, oid, now=now + 21_000)
    r = _row(engine, rid)
    assert (r.state, r.order_id, r.no_show, r.fee_state) == ("used", oid, False, "refunded")
    assert service.expire_due(transactions(engine), SETTINGS, now=now + 16 * MIN) == 0
    b = _bal(engine, "41")  # the fee back; the order's own hold (the default 100 CNY) remains
    assert (b.cash, b.held) == (10_000, 10_000) and _revenue(engine) == 0


def test_a_holders_start_seen_only_by_its_session_is_no_no_show(engine: Engine) -> None:
    from cloud.orders import service as orders
    from cloud.orders.machine import Event

    rid, oid, now = _holder_starts_unanswered(engine, {**FIXED, "keep_on_no_show": True})
    # `until` comes while the start is undecided: neither used nor a no-show yet
    assert service.expire_due(transactions(engine), SETTINGS, now=now + 15 * MIN) == 0
    assert _row(engine, rid).state == "active"
    with transactions(engine)() as s:  # then the station's session record shows it ran
        orders.apply(s, oid, Event.SESSION_STARTED, session_id="s-1")
    assert service.expire_due(transactions(engine), SETTINGS, now=now + 16 * MIN) == 1
    r = _row(engine, rid)
    assert (r.state, r.order_id, r.no_show, r.fee_state) == ("used", oid, False, "refunded")
    assert _revenue(engine) == 0


def test_a_holders_start_that_failed_leaves_a_no_show(engine: Engine) -> None:
    from cloud.orders import service as orders
    from cloud.orders.machine import Event

    rid, oid, now = _holder_starts_unanswered(engine, {**FIXED, "keep_on_no_show": True})
    with transactions(engine)() as s:
        orders.apply(s, oid, Event.START_EXPIRED)
    assert service.expire_due(transactions(engine), SETTINGS, now=now + 15 * MIN) == 1
    r = _row(engine, rid)
    assert (r.state, r.no_show, r.fee_state) == ("expired", True, "kept")
    assert _revenue(engine) == 200


def test_a_cancel_that_overtakes_its_reserve_is_not_taken_as_the_release(engine: Engine) -> None:
    """The driver cancels while `reserve` is still on its way; the station gets the cancel
    first, knows nothing of it (`already_gone`), then takes the reserve and holds the pile.
    The release must wait for the telemetry (and the cancel be sent again), not be confirmed."""
    _seed(engine)
    tx = transactions(engine)
    seen: list[str] = []

    def station(_sid: str, cmd: dict) -> Reply | None:
        seen.append(cmd["type"])
        if cmd["type"] == "cancel_reservation":
            return Reply.success(cmd["id"], {"reservation_id": cmd["reservation_id"], "already_gone": True})
        with Session(engine) as s:  # the reserve in flight: the driver cancels now
            rid = s.scalars(select(Reservation.reservation_id)).one()
        v = service.cancel(tx, gw, driver_id="d1", reservation_id=rid, now=T0 + 1000)
        assert v["state"] == "cancelled" and v["fee_state"] == "refunded"
        return None  # then the station takes the reserve

    gw = Gateway(answer=station)
    v = _reserve(engine, gw)
    assert v["state"] == "cancelled" and seen == ["reserve", "cancel_reservation"]
    assert _row(engine, v["reservation_id"]).release == "pending"
    with tx() as s:  # the pile holds it: the job sends the cancel again
        set_telemetry(s, "S1", {"P1-1": "reserved", "P1-2": "plugged"}, ts=T0 + 4 * MIN)
    assert service.reconcile_releases(tx, gw, SETTINGS, T0 + 4 * MIN) == 1
    assert seen[-1] == "cancel_reservation"
    with tx() as s:
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=T0 + 5 * MIN)
    service.reconcile_releases(tx, gw, SETTINGS, T0 + 5 * MIN)
    assert _row(engine, v["reservation_id"]).release == "confirmed"


def test_a_cancel_of_an_active_reservation_the_station_forgot_is_released(engine: Engine) -> None:
    _seed(engine)
    gone = Gateway(answer=lambda _sid, cmd: Reply.success(cmd["id"], {"reservation_id": cmd["reservation_id"],
                                                                      "already_gone": True})
                   if cmd["type"] == "cancel_reservation" else None)
    rid = _reserve(engine, gone)["reservation_id"]
    service.cancel(transactions(engine), gone, driver_id="d1", reservation_id=rid, now=T0 + MIN)
    assert _row(engine, rid).release == "confirmed"


@pytest.mark.parametrize("value", ["³⁰", "１5", "²"])
def test_a_rule_in_digits_int_refuses_is_a_rule_error(value: str) -> None:
    """str.isdigit takes "³⁰" (and int() refuses it): the console's form must get the rule's
    error (400), not a ValueError (500). Full-width digits are not taken either."""
    from cloud.reservations.rules import RuleError, rule_from

    with pytest.raises(RuleError) as e:
        rule_from({"enabled": True, "max_minutes": value})
    assert e.value.field == "max_minutes"


@pytest.mark.parametrize("late_ms", [0, 1, 30_000])
def test_a_cancel_at_or_after_until_does_not_dodge_the_no_show(engine: Engine, late_ms: int) -> None:
    """At `until` the reservation is over (the gun free for others): the job books the no-show
    and keeps the fee by the rules; a cancel sent then, before the job's round, is refused and
    neither refunds the fee nor spares the no-show."""
    _seed(engine, {**FIXED, "refund_on_cancel": True, "keep_on_no_show": True})
    gw = Gateway()
    rid = _reserve(engine, gw)["reservation_id"]
    with pytest.raises(ReservationError) as e:
        service.cancel(transactions(engine), gw, driver_id="d1", reservation_id=rid, now=T0 + 15 * MIN + late_ms)
    assert e.value.code == "reservation_not_active"
    assert _row(engine, rid).state == "active"
    assert service.expire_due(transactions(engine), SETTINGS, T0 + 15 * MIN + late_ms) == 1
    r = _row(engine, rid)
    assert (r.state, r.no_show, r.fee_state) == ("expired", True, "kept") and _revenue(engine) == 200
    # a minute before `until` a cancel is still a cancel
    with transactions(engine)() as s:
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=T0 + 20 * MIN)
    _seed_more = service.reserve(transactions(engine), gw, driver_id="d2", gun_code="S1-P1-1", minutes=15,
                                 settings=SETTINGS, now=T0 + 20 * MIN)["reservation_id"]
    v = service.cancel(transactions(engine), gw, driver_id="d2", reservation_id=_seed_more, now=T0 + 34 * MIN)
    assert (v["state"], v["fee_state"]) == ("cancelled", "refunded")


def test_at_until_the_gun_and_the_driver_are_free_to_reserve_before_the_jobs_round(engine: Engine) -> None:
    """`terms` says the gun is free from `until` on; a reserve then, before the job's next round
    ended the old reservation, must not be refused (`reserved` by the unique index of the live,
    `reservation_exists` for its driver): the old one ends first as the job would end it."""
    _seed(engine, {**FIXED, "keep_on_no_show": True})
    gw = Gateway()
    old = _reserve(engine, gw)["reservation_id"]
    end = T0 + 15 * MIN
    with transactions(engine)() as s:  # the gateway released it at `until`: the gun reads available
        set_telemetry(s, "S1", {"P1-1": "available", "P1-2": "plugged"}, ts=end)
        assert service.terms(s, "d2", "S1-P1-1", 15, now=end)["held_until"] is None
    v = _reserve(engine, gw, driver="d2", now=end)
    assert v["state"] == "active" and v["gun"] == "P1-1"
    r = _row(engine, old)
    assert (r.state, r.no_show, r.fee_state, r.ended_at) == ("expired", True, "kept", end)
    assert _reserve(engine, gw, driver="d1", code="S1-P1-2", now=end + 1)["state"] == "active"
    assert _revenue(engine) == 200 and service.expire_due(transactions(engine), SETTINGS, end + MIN) == 0


def test_a_reserved_reading_left_by_a_reservation_that_is_over_refuses_nothing(engine: Engine) -> None:
    """Right after `until` the station's telemetry may still show the gun `reserved` (the
    gateway releases it at its next heartbeat round, or before the next start or reserve it
    gets). Neither a start nor a reservation by another driver is refused for that reading;
    one still shown well after the end (past `release_grace_ms`) is refused as before."""
    from cloud.charging import service as charging
    from cloud.models import now_ms

    now = now_ms()
    made = now - 16 * MIN
    with Session(engine) as s, s.begin():
        seed_station(s, "S1", {"P1-1": "plugged", "P1-2": "plugged"}, rule=FIXED, last_seen=made)
        top_up(s, "41", 20_000)
        top_up(s, "42", 20_000)
        top_up(s, "43", 20_000)
    gw = Gateway()
    _reserve(engine, gw, driver="41", now=made)  # until: a minute ago
    _reserve(engine, gw, driver="43", code="S1-P1-2", now=made)
    with transactions(engine)() as s:  # the last word, 30 s ago: both guns still held on the piles
        set_telemetry(s, "S1", {"P1-1": "reserved", "P1-2": "reserved"}, ts=now - 30_000)
    start = charging.start_order(transactions(engine), gw, driver_id=42, gun_code="S1-P1-1", limit={"mode": "full"},
                                 settings=charging.ChargingSettings())
    assert start["state"] == "starting" and gw.commands[-1][1]["type"] == "start"
    v = _reserve(engine, gw, driver="41", code="S1-P1-2", now=now)
    assert v["state"] == "active" and gw.commands[-1][1]["type"] == "reserve"
    service.cancel(transactions(engine), gw, driver_id="41", reservation_id=v["reservation_id"], now=now + 1)
    with transactions(engine)() as s:  # still shown reserved 3 minutes after the end: refused as before
        set_telemetry(s, "S1", {"P1-1": "charging", "P1-2": "reserved"}, ts=now + 3 * MIN)
    with pytest.raises(ReservationError) as e:
        service.reserve(transactions(engine), gw, driver_id="43", gun_code="S1-P1-2", minutes=5,
                        settings=SETTINGS, now=now + 3 * MIN)
    assert e.value.code == "reserved"
