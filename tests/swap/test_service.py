"""The swap service on a real database (SQLite and PostgreSQL): booking under the station's
reservation rules with the fee held on the ledger, refusals that move no money, cancel, the
swap done, no-shows by the job and the suspension they bring, stock changes audited, and
two drivers racing for the last bay of a slot."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.audit.models import AuditEntry
from cloud.db import make_engine
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.swap import service
from cloud.swap.models import SwapBooking, SwapPack
from cloud.swap.service import SwapError
from tests.swap.support import FIXED, MIN, SLOT, T0, seed_swap, top_up


def _tx(engine: Engine):  # type: ignore[no-untyped-def]
    return sessionmaker(engine).begin


def _seed(engine: Engine, **kw: object) -> None:
    with Session(engine) as s, s.begin():
        seed_swap(s, **kw)  # type: ignore[arg-type]
        top_up(s, "d1", 1000)
        top_up(s, "d2", 1000)


def _book(engine: Engine, driver: str = "d1", slot: int = T0 + SLOT, type_code: str = "NIO-75",
          now: int = T0) -> dict:
    return service.book(_tx(engine), driver_id=driver, sid="SW1", type_code=type_code, slot_start=slot, now=now)


def _bal(engine: Engine, driver: str) -> ledger.Balances:
    with Session(engine) as s:
        return ledger.balances(s, driver)


def _revenue(engine: Engine) -> int:
    with Session(engine) as s:
        return ledger.platform_balance(s, Kind.REVENUE_SERVICE)


def test_details_show_packs_ready_now_and_predicted_and_the_slots(engine: Engine) -> None:
    _seed(engine)
    with Session(engine) as s:
        v = service.details(s, "SW1", now=T0)
    [t75] = [t for t in v["pack_types"] if t["type_code"] == "NIO-75"]
    assert (t75["ready"], t75["charging"], t75["bookable_now"]) == (1, 1, 1)
    assert t75["predicted"] == [{"at": T0, "ready": 1}, {"at": T0 + 25 * MIN, "ready": 2}]
    assert v["bays"] == {"total": 2, "free": 2, "swapping": 0, "maintenance": 0}
    assert [sl["start"] for sl in v["slots"]] == [T0 + k * SLOT for k in range(6)]
    assert v["slots"][3]["packs"] == {"NIO-75": 2} and v["slots"][0]["bays_free"] == 2


def test_the_tariffs_reservation_fee_prices_a_slot_for_the_minutes_to_its_end(engine: Engine) -> None:
    from cloud.tariffs import service as tariffs
    from tests.reservations.support import TARIFF

    _seed(engine, rule={"enabled": True, "max_minutes": 60, "fee_mode": "tariff", "keep_on_no_show": True})
    with _tx(engine)() as s:  # 0.50 CNY a booking + 0.0125 CNY a minute
        v = tariffs.create(s, {**TARIFF, "reservation": {"fee_e4": 5_000, "per_minute_e4": 125}}, code="swrsv")
        tariffs.assign(s, "SW1", v.tariff_id, effective_from=T0 - MIN, backdate=True)
    with Session(engine) as s:  # the slot ending 20 minutes on: 0.75 CNY
        assert service.details(s, "SW1", now=T0)["slots"][1]["fee_fen"] == 75
    b = _book(engine)
    assert (b["fee_fen"], b["fee_state"]) == (75, "held") and _bal(engine, "d1").held == 75


def test_book_holds_the_fee_and_takes_a_pack_and_a_bay(engine: Engine) -> None:
    _seed(engine)
    b = _book(engine)
    assert (b["state"], b["fee_fen"], b["fee_state"], b["until"]) == ("booked", 300, "held", T0 + 2 * SLOT)
    assert _bal(engine, "d1").held == 300 and _bal(engine, "d1").cash == 700
    with Session(engine) as s:
        v = service.details(s, "SW1", now=T0)
    assert v["slots"][1]["bays_free"] == 1 and v["slots"][1]["packs"]["NIO-75"] == 0
    assert v["slots"][3]["packs"]["NIO-75"] == 1  # the pack charging till T0+25 serves the slots from T0+30
    with pytest.raises(SwapError) as e:
        _book(engine, "d2")  # the only pack ready by T0+10 is promised
    assert e.value.code == "no_pack"
    assert _book(engine, "d2", slot=T0 + 3 * SLOT)["state"] == "booked"


@pytest.mark.parametrize("rule, slot, now, code", [
    ({**FIXED, "enabled": False}, T0 + SLOT, T0, "reservation_disabled"),
    (FIXED, T0 + 6 * SLOT, T0, "reservation_too_long"),
    (FIXED, T0 + SLOT + 1, T0, "slot_unavailable"),
    (FIXED, T0 - SLOT, T0, "slot_unavailable"),
    ({**FIXED, "fee_fen": 5000}, T0 + SLOT, T0, "insufficient_balance"),
])
def test_refusals_book_nothing_and_move_no_money(engine: Engine, rule: dict, slot: int, now: int,
                                                 code: str) -> None:
    _seed(engine, rule=rule)
    with pytest.raises(SwapError) as e:
        _book(engine, slot=slot, now=now)
    assert e.value.code == code
    assert _bal(engine, "d1") == ledger.Balances(cash=1000, bonus=0, held=0, debt=0)
    with Session(engine) as s:
        assert s.scalars(select(SwapBooking)).all() == []


def test_a_full_slot_and_a_second_booking_are_refused(engine: Engine) -> None:
    _seed(engine, bays=1, packs={"NIO-75": [("ready", None), ("ready", None)]})
    _book(engine, "d1")
    with pytest.raises(SwapError) as e:
        _book(engine, "d2")
    assert e.value.code == "slot_full"
    with pytest.raises(SwapError) as e:
        _book(engine, "d1", slot=T0 + 2 * SLOT)
    assert e.value.code == "reservation_exists"
    with Session(engine) as s, s.begin():
        service.set_bay(s, "SW1", "B1", "maintenance", actor="op")
    with Session(engine) as s:
        assert service.details(s, "SW1", now=T0)["slots"][2]["bays_free"] == 0


@pytest.mark.parametrize("refund, cash, revenue", [(True, 1000, 0), (False, 700, 300)])
def test_cancel_refunds_or_keeps_the_fee_by_the_rules(engine: Engine, refund: bool, cash: int, revenue: int) -> None:
    _seed(engine, rule={**FIXED, "refund_on_cancel": refund})
    b = _book(engine)
    v = service.cancel(_tx(engine), driver_id="d1", booking_id=b["booking_id"], now=T0 + MIN)
    assert v["state"] == "cancelled" and v["fee_state"] == ("refunded" if refund else "kept")
    assert _bal(engine, "d1") == ledger.Balances(cash=cash, bonus=0, held=0, debt=0)
    assert _revenue(engine) == revenue
    with pytest.raises(SwapError) as e:
        service.cancel(_tx(engine), driver_id="d1", booking_id=b["booking_id"])
    assert e.value.code == "reservation_not_active"
    with pytest.raises(SwapError) as e:  # another driver's booking is as missing
        service.cancel(_tx(engine), driver_id="d2", booking_id=b["booking_id"])
    assert e.value.code == "not_found"


def test_the_swap_done_uses_the_booking_and_the_pack_goes_charging(engine: Engine) -> None:
    _seed(engine, rule={**FIXED, "refund_on_start": False})
    b = _book(engine)
    v = service.mark_used(_tx(engine), b["booking_id"], bay_id="B2", actor="op", now=T0 + 12 * MIN)
    assert (v["state"], v["fee_state"], v["bay_id"]) == ("used", "kept", "B2")
    assert _bal(engine, "d1").cash == 700 and _revenue(engine) == 300
    with Session(engine) as s:
        pack = s.get_one(SwapPack, "SW1-NIO-75-0")
        assert (pack.state, pack.ready_at) == ("charging", T0 + 12 * MIN + 45 * MIN)
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "swap.used")).target == b["booking_id"]


def test_no_shows_expire_keep_the_fee_and_suspend(engine: Engine) -> None:
    _seed(engine, rule={**FIXED, "no_show_limit": 2, "suspend_days": 7},
          packs={"NIO-75": [("ready", None)] * 3})
    for k in range(2):
        b = _book(engine, "d1", slot=T0 + (3 * k + 1) * SLOT, now=T0 + 3 * k * SLOT)
        assert service.expire_due(_tx(engine), now=b["until"] - 1) == 0
        assert service.expire_due(_tx(engine), now=b["until"]) == 1
        with Session(engine) as s:
            row = s.get_one(SwapBooking, b["booking_id"])
            assert (row.state, row.no_show, row.fee_state) == ("expired", True, "kept")
    assert _bal(engine, "d1").cash == 400 and _revenue(engine) == 600
    with pytest.raises(SwapError) as e:
        _book(engine, "d1", slot=T0 + 7 * SLOT, now=T0 + 6 * SLOT)
    assert e.value.code == "reservation_suspended"
    assert _book(engine, "d2", slot=T0 + 7 * SLOT, now=T0 + 6 * SLOT)["state"] == "booked"


def test_the_job_makes_packs_ready_at_their_time(engine: Engine) -> None:
    _seed(engine)
    service.expire_due(_tx(engine), now=T0 + 25 * MIN)
    with Session(engine) as s:
        assert s.get_one(SwapPack, "SW1-NIO-75-1").state == "ready"


def test_stock_changes_are_audited_and_bad_values_refused(engine: Engine) -> None:
    from cloud.drivers.errors import InvalidField

    _seed(engine)
    with Session(engine) as s, s.begin():
        service.set_pack(s, "SW1", "SW1-NIO-75-0", type_code="NIO-75", state="out", actor="op", ip="10.0.0.1")
        for bad in ({"state": "lost"}, {"type_code": "NOPE"}, {"state": "charging", "ready_at": None}):
            with pytest.raises(InvalidField):
                service.set_pack(s, "SW1", "P9", **{"type_code": "NIO-75", "state": "ready", **bad},  # type: ignore[arg-type]
                                 actor="op")
        with pytest.raises(InvalidField):
            service.set_bay(s, "SW1", "B1", "broken", actor="op")
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "swap.pack")
                          .order_by(AuditEntry.id.desc())).first()
        assert entry is not None and entry.actor == "op" and entry.detail["state"] == "out"
        assert service.details(s, "SW1", now=T0)["pack_types"][0]["ready"] == 0


def _race(url: str, tmp: object) -> None:
    seeder = make_engine(url, purpose="writer")
    from tests.cloud.support import migrated_engine

    migrated_engine(url).dispose()
    _seed(seeder, bays=1, packs={"NIO-75": [("ready", None), ("ready", None)]})
    web = make_engine(url, purpose="web")
    barrier, results = threading.Barrier(2), {}

    def go(driver: str) -> None:
        barrier.wait()
        try:
            results[driver] = _book(web, driver)["state"]
        except SwapError as e:
            results[driver] = e.code

    threads = [threading.Thread(target=go, args=(d,)) for d in ("d1", "d2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()) == ["booked", "slot_full"], results
    with Session(seeder) as s:
        assert len(s.scalars(select(SwapBooking)).all()) == 1
        assert sorted(ledger.balances(s, d).held for d in ("d1", "d2")) == [0, 300]
        assert ledger.verify(s) == []
    web.dispose()
    seeder.dispose()


@pytest.mark.parametrize("round_", range(3))
def test_two_drivers_racing_for_the_last_bay_sqlite(tmp_path: object, round_: int) -> None:
    _race(f"sqlite:///{tmp_path}/race.sqlite", tmp_path)


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(3))
def test_two_drivers_racing_for_the_last_bay_postgres(pg_url: str, round_: int) -> None:
    _race(pg_url, None)


def test_a_later_booking_done_first_leaves_the_earlier_one_its_pack(engine: Engine) -> None:
    """One pack ready (promised to the earlier slot) and one charging, ready for the later slot
    only: the later booking's swap done first cannot take the ready pack (it is the earlier
    booking's); once the charging pack is ready it is the one handed out."""
    _seed(engine, packs={"NIO-75": [("ready", None), ("charging", T0 + 25 * MIN)]})
    early = _book(engine, "d1", slot=T0 + SLOT)
    late = _book(engine, "d2", slot=T0 + 3 * SLOT)
    with pytest.raises(SwapError) as e:
        service.mark_used(_tx(engine), late["booking_id"], actor="op", now=T0 + MIN)
    assert e.value.code == "no_pack"
    with Session(engine) as s:
        assert s.get_one(SwapBooking, late["booking_id"]).state == "booked"
        assert s.get_one(SwapPack, "SW1-NIO-75-0").state == "ready"
    v = service.mark_used(_tx(engine), late["booking_id"], actor="op", now=T0 + 26 * MIN)
    assert v["state"] == "used"
    with Session(engine) as s:
        assert s.get_one(SwapPack, "SW1-NIO-75-0").state == "ready"  # still the earlier booking's
        assert s.get_one(SwapPack, "SW1-NIO-75-1").ready_at == T0 + 26 * MIN + 45 * MIN
    assert service.mark_used(_tx(engine), early["booking_id"], actor="op", now=T0 + 27 * MIN)["state"] == "used"


@pytest.mark.parametrize("late_ms", [0, 1, 5 * MIN])
def test_a_cancel_once_the_slot_is_over_does_not_dodge_the_no_show(engine: Engine, late_ms: int) -> None:
    """The slot over and not used, the booking is a no-show (the job's next round); a cancel
    sent in between is refused: no refund, no escape from the no-show."""
    _seed(engine, rule={**FIXED, "refund_on_cancel": True, "keep_on_no_show": True})
    b = _book(engine)
    end = b["until"]
    with pytest.raises(SwapError) as e:
        service.cancel(_tx(engine), driver_id="d1", booking_id=b["booking_id"], now=end + late_ms)
    assert e.value.code == "reservation_not_active"
    assert service.expire_due(_tx(engine), now=end + late_ms) >= 1
    with Session(engine) as s:
        row = s.get_one(SwapBooking, b["booking_id"])
        assert (row.state, row.no_show, row.fee_state) == ("expired", True, "kept")
    assert _revenue(engine) == 300


def test_at_the_slots_end_its_pack_and_its_driver_are_free_before_the_jobs_round(engine: Engine) -> None:
    """A booking not used by its slot's end is a no-show; until the job's round ended it, it
    still promised its pack (one ready pack: `no_pack` for the next slot) and held its driver
    (`reservation_exists`, also at another station). A booking then ends it first, as the job
    would."""
    one = {"NIO-75": [("ready", None)], "NIO-100": [("ready", None)]}
    _seed(engine, packs=one)
    with Session(engine) as s, s.begin():
        seed_swap(s, "SW2", packs=one, lat=31.3)
        top_up(s, "d3", 1000)
    b = _book(engine)
    other = service.book(_tx(engine), driver_id="d3", sid="SW2", type_code="NIO-75", slot_start=T0 + SLOT, now=T0)
    end = b["until"]
    with Session(engine) as s:  # what drivers are shown agrees: the pack is bookable again
        [kind] = [t for t in service.details(s, "SW1", now=end)["pack_types"] if t["type_code"] == "NIO-75"]
        assert (kind["booked"], kind["bookable_now"]) == (0, 1)
    assert _book(engine, "d2", slot=end, now=end)["state"] == "booked"  # SW1's one NIO-75 pack, free again
    assert _book(engine, "d3", slot=end, type_code="NIO-100", now=end)["state"] == "booked"  # d3 held no more
    with Session(engine) as s:
        for bid in (b["booking_id"], other["booking_id"]):
            row = s.get_one(SwapBooking, bid)
            assert (row.state, row.no_show, row.fee_state, row.ended_at) == ("expired", True, "kept", end)
    assert _revenue(engine) == 600 and service.expire_due(_tx(engine), now=end) == 0
