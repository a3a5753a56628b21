"""Battery-swap stations: plain functions (no Flask request objects). The caller gives the
database transactions (`transactions()` yields a Session that commits on exit) or a Session.

- Operators (console, `jc-cloud swap`) make a station a swap station, set its bays, the pack
  types and the packs in stock (charging with an expected ready time, ready, out); each
  change is audited in its transaction. No swap-station device protocol exists: the stock is
  what operators report.
- Drivers find swap stations, see packs ready now and predicted (cloud.swap.predict) and book
  a slot for a pack type under the station's reservation rules (cloud.reservations: allowed,
  longest lead time, fee, its fate on use/cancel/no-show, no-show suspension); the fee is held
  on the ledger (hold key of the booking id) in the booking's transaction, and ended through
  cloud.reservations.service.end_fee like a gun reservation's.
- The swap done (operator): `used`; the pack handed out becomes the returned one, charging.
- The job ends bookings whose slot is over: `expired`, a no-show.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.db import take_write_lock
from cloud.drivers.errors import InvalidField
from cloud.ledger import service as ledger
from cloud.models import Station, now_ms
from cloud.reservations import service as reservations
from cloud.reservations.rules import MINUTE_MS, fee_for, suspended_until
from cloud.reservations.service import ReservationError
from cloud.stations import service as stations
from cloud.swap import predict
from cloud.swap.models import (
    BAY_STATES,
    PACK_STATES,
    PackType,
    SwapBay,
    SwapBooking,
    SwapPack,
    SwapStation,
)
from cloud.tariffs import service as tariffs

Transactions = Callable[[], AbstractContextManager[Session]]
DAY_MS = 86_400_000


class SwapError(ReservationError):
    """A refusal with a stable driver API code (the reservation codes, and swap's own)."""


def _text(value: Any, field: str, most: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > most:
        raise InvalidField(f"{field}: text of 1..{most} characters", field=field)
    return value.strip()


def _whole(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():  # "²": int() refuses it
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidField(f"{field}: a whole number {low}..{high}", field=field)
    return value


# --- operators: the station, bays, pack types and stock ----------------------------------------------
def set_swap_station(s: Session, sid: str, *, slot_minutes: Any = 10, actor: str, ip: str | None = None) -> None:
    """Make the archived station `sid` a swap station (or change its slot length)."""
    minutes = _whole(slot_minutes, "slot_minutes", 5, 60)
    if s.get(Station, sid) is None:
        raise LookupError(f"no station {sid}")
    row = s.get(SwapStation, sid) or SwapStation(sid=sid)
    row.slot_minutes, row.updated_by, row.updated_at = minutes, actor[:64], now_ms()
    s.add(row)
    audit.record(s, actor, "swap.station", sid, {"slot_minutes": minutes}, ip)
    s.flush()


def is_swap(s: Session, sid: str) -> bool:
    return s.get(SwapStation, sid) is not None


def _station(s: Session, sid: str) -> SwapStation:
    row = s.get(SwapStation, sid) if isinstance(sid, str) and len(sid) <= 64 else None
    if row is None:
        raise SwapError("not_found", f"no swap station {sid!r}")
    return row


def set_bay(s: Session, sid: str, bay_id: Any, state: Any, *, actor: str, ip: str | None = None) -> None:
    _station(s, sid)
    bay_id = _text(bay_id, "bay_id", 32)
    if state not in BAY_STATES:
        raise InvalidField(f"state: one of {', '.join(BAY_STATES)}", field="state")
    row = s.get(SwapBay, (sid, bay_id)) or SwapBay(sid=sid, bay_id=bay_id)
    before = row.state
    row.state, row.updated_at = state, now_ms()
    s.add(row)
    audit.record(s, actor, "swap.bay", f"{sid}/{bay_id}", {"before": before, "state": state}, ip)
    s.flush()


def set_pack_type(s: Session, type_code: Any, *, name: Any, kwh: Any, charge_minutes: Any = 60,
                  actor: str, ip: str | None = None) -> None:
    code = _text(type_code, "type_code", 32)
    row = s.get(PackType, code) or PackType(type_code=code)
    row.name, row.kwh = _text(name, "name", 64), _whole(kwh, "kwh", 1, 1000)
    row.charge_minutes = _whole(charge_minutes, "charge_minutes", 1, 1440)
    s.add(row)
    audit.record(s, actor, "swap.pack_type", code, {"name": row.name, "kwh": row.kwh,
                                                    "charge_minutes": row.charge_minutes}, ip)
    s.flush()


def set_pack(s: Session, sid: str, pack_id: Any, *, type_code: Any, state: Any, soc_pct: Any = 100,
             ready_at: Any = None, actor: str, ip: str | None = None) -> None:
    """A pack in the station's stock: ready, charging (with its expected ready time), or out."""
    _station(s, sid)
    pack_id = _text(pack_id, "pack_id", 64)
    if not isinstance(type_code, str) or s.get(PackType, type_code) is None:
        raise InvalidField("type_code: a known pack type", field="type_code")
    if state not in PACK_STATES:
        raise InvalidField(f"state: one of {', '.join(PACK_STATES)}", field="state")
    soc = _whole(soc_pct, "soc_pct", 0, 100)
    if state == "charging":
        ready_at = _whole(ready_at, "ready_at", 0, 2**53)
    else:
        ready_at = None
    row = s.get(SwapPack, pack_id)
    if row is not None and row.sid != sid:
        raise InvalidField(f"pack {pack_id} belongs to station {row.sid}", field="pack_id")
    row = row or SwapPack(pack_id=pack_id, sid=sid)
    row.type_code, row.state, row.soc_pct, row.ready_at, row.updated_at = type_code, state, soc, ready_at, now_ms()
    s.add(row)
    audit.record(s, actor, "swap.pack", f"{sid}/{pack_id}",
                 {"type_code": type_code, "state": state, "soc_pct": soc, "ready_at": ready_at}, ip)
    s.flush()


# --- what the station can promise ---------------------------------------------------------------------
def _packs(s: Session, sid: str) -> list[predict.Pack]:
    return [predict.Pack(p.type_code, p.state, p.ready_at)
            for p in s.scalars(select(SwapPack).where(SwapPack.sid == sid))]


def _booked_rows(s: Session, sid: str, now: int | None = None) -> list[SwapBooking]:
    """The station's live bookings; given `now`, without those whose slot is over (no-shows
    the job has not ended yet: they promise nothing any more)."""
    q = select(SwapBooking).where(SwapBooking.sid == sid, SwapBooking.state == "booked")
    if now is not None:
        q = q.where(SwapBooking.until > now)
    return list(s.scalars(q))


def _booked(s: Session, sid: str, now: int | None = None) -> list[predict.Booked]:
    return [predict.Booked(b.type_code, b.slot_start) for b in _booked_rows(s, sid, now)]


def _capacity(s: Session, sid: str) -> int:
    return sum(1 for b in s.scalars(select(SwapBay).where(SwapBay.sid == sid)) if b.state != "maintenance")


def _types_at(s: Session, sid: str) -> list[PackType]:
    codes = set(s.scalars(select(SwapPack.type_code).where(SwapPack.sid == sid)))
    return [t for t in s.scalars(select(PackType).order_by(PackType.type_code)) if t.type_code in codes]


def _summary(s: Session, st: Station, row: SwapStation, now: int, origin: tuple[float, float] | None) -> dict[str, Any]:
    packs, booked = _packs(s, st.sid), _booked(s, st.sid, now)
    bays = list(s.scalars(select(SwapBay).where(SwapBay.sid == st.sid).order_by(SwapBay.bay_id)))
    types = []
    for t in _types_at(s, st.sid):
        types.append({"type_code": t.type_code, "name": t.name, "kwh": t.kwh,
                      "ready": sum(1 for p in packs if p.type_code == t.type_code and p.state == "ready"),
                      "charging": sum(1 for p in packs if p.type_code == t.type_code and p.state == "charging"),
                      "booked": sum(1 for b in booked if b.type_code == t.type_code),
                      "bookable_now": predict.free_packs(packs, booked, t.type_code, now),
                      "predicted": [{"at": at, "ready": n} for at, n in predict.predicted(packs, t.type_code, now)]})
    distance = (round(stations.haversine_m(origin[0], origin[1], st.lat, st.lng))
                if origin is not None and st.lat is not None and st.lng is not None else None)
    return {"sid": st.sid, "name": st.name or st.sid, "address": st.address, "lat": st.lat, "lng": st.lng,
            "kind": "swap", "distance_m": distance, "slot_minutes": row.slot_minutes,
            "bays": {"total": len(bays), "free": sum(1 for b in bays if b.state == "free"),
                     "swapping": sum(1 for b in bays if b.state == "swapping"),
                     "maintenance": sum(1 for b in bays if b.state == "maintenance")},
            "pack_types": types}


def find(s: Session, *, lat: float | None = None, lng: float | None = None, radius_m: int = 50_000,
         limit: int = 50, now: int | None = None) -> list[dict[str, Any]]:
    """Swap stations near (lat, lng) within radius_m, nearest first (without a point: by name)."""
    t = now_ms() if now is None else now
    rows = s.execute(select(Station, SwapStation).join(SwapStation, SwapStation.sid == Station.sid)).all()
    origin = (lat, lng) if lat is not None and lng is not None else None
    out = [_summary(s, st, row, t, origin) for st, row in rows]
    if origin is not None:
        out = [v for v in out if v["distance_m"] is not None and v["distance_m"] <= radius_m]
        out.sort(key=lambda v: (v["distance_m"], v["sid"]))
    else:
        out.sort(key=lambda v: (v["name"], v["sid"]))
    return out[:limit]


def finder_marks(s: Session, sids: list[str]) -> dict[str, dict[str, int]]:
    """The swap stations among `sids`, for the charging-station finder: bays free and in
    service, packs ready now (all types)."""
    if not sids:
        return {}
    swaps = set(s.scalars(select(SwapStation.sid).where(SwapStation.sid.in_(sids))))
    out: dict[str, dict[str, int]] = {sid: {"bays_free": 0, "bays_total": 0, "packs_ready": 0} for sid in swaps}
    for b in s.scalars(select(SwapBay).where(SwapBay.sid.in_(swaps))):
        out[b.sid]["bays_total"] += 1
        out[b.sid]["bays_free"] += b.state == "free"
    for p in s.scalars(select(SwapPack).where(SwapPack.sid.in_(swaps), SwapPack.state == "ready")):
        out[p.sid]["packs_ready"] += 1
    return out


def details(s: Session, sid: str, *, now: int | None = None) -> dict[str, Any]:
    """A swap station for drivers: bays, packs by type (ready now, predicted), the reservation
    terms, and the bookable slots (bays left, packs bookable per type)."""
    t = now_ms() if now is None else now
    row = _station(s, sid)
    st = s.get_one(Station, sid)
    view = _summary(s, st, row, t, None)
    rule = reservations.get_rule(s, sid)
    packs, booked, capacity = _packs(s, sid), _booked(s, sid, t), _capacity(s, sid)
    codes = [p["type_code"] for p in view["pack_types"]]
    size = row.slot_minutes * MINUTE_MS
    idle, price = _tariff_fees(s, sid, t)
    view["slots"] = [{"start": start, "end": start + size,
                      "bays_free": predict.bays_free(capacity, booked, start),
                      "packs": {c: predict.free_packs(packs, booked, c, start) for c in codes},
                      "fee_fen": fee_for(rule, _held_minutes(start + size, t), idle, price)}
                     for start in (predict.slots(t, row.slot_minutes, rule.max_minutes) if rule.enabled else [])]
    view["rules"] = {"enabled": rule.enabled, "max_minutes": rule.max_minutes, "fee_mode": rule.fee_mode,
                     "refund_on_start": rule.refund_on_start, "refund_on_cancel": rule.refund_on_cancel,
                     "keep_on_no_show": rule.keep_on_no_show}
    return view


def _held_minutes(until: int, now: int) -> int:
    """The time a booking made now holds its pack: started minutes to the slot end."""
    return -(-(until - now) // MINUTE_MS)


def _tariff_fees(s: Session, sid: str, now: int) -> tuple[Any, dict[str, int] | None]:
    """The idle fee and the reservation fee of the tariff in force (fee modes `tariff_idle`, `tariff`)."""
    row = tariffs.version_in_force(s, sid, now)
    if row is None:
        return None, None
    return tariffs.tariff_of(row).to_dict().get("idle"), tariffs.reservation_of(row)


# --- bookings -----------------------------------------------------------------------------------------
def new_booking_id() -> str:
    return "sw" + secrets.token_hex(12)


def no_show_times(s: Session, driver_id: str, sid: str, since: int) -> list[int]:
    """The driver's no-shows at the station since `since`: swap bookings' and gun reservations'
    (one station, one set of rules)."""
    own = s.scalars(select(SwapBooking.until).where(SwapBooking.driver_id == driver_id, SwapBooking.sid == sid,
                                                    SwapBooking.no_show.is_(True), SwapBooking.until > since))
    return [*own, *reservations.no_show_times(s, driver_id, sid, since)]


def view(s: Session, b: SwapBooking) -> dict[str, Any]:
    st, t = s.get(Station, b.sid), s.get(PackType, b.type_code)
    return {"booking_id": b.booking_id, "state": b.state, "sid": b.sid,
            "station_name": st.name if st and st.name else b.sid, "type_code": b.type_code,
            "type_name": t.name if t else b.type_code, "slot_start": b.slot_start, "until": b.until,
            "created_at": b.created_at, "fee_fen": b.fee_fen, "fee_state": b.fee_state,
            "ended_at": b.ended_at, "no_show": b.no_show, "bay_id": b.bay_id}


def book(transactions: Transactions, *, driver_id: int | str, sid: Any, type_code: Any, slot_start: Any,
         now: int | None = None) -> dict[str, Any]:
    """Book the slot starting `slot_start` at swap station `sid` for a pack of `type_code`:
    the station's reservation rules allow it, a bay and a pack are left for the slot, the
    driver has no live booking and is not suspended; the fee is held. SwapError otherwise."""
    if not isinstance(sid, str) or not 1 <= len(sid) <= 64:
        raise InvalidField("sid: a swap station's id", field="sid")
    if not isinstance(type_code, str) or not 1 <= len(type_code) <= 32:
        raise InvalidField("type_code: a pack type", field="type_code")
    start = _whole(slot_start, "slot_start", 0, 2**53)
    did = str(driver_id)
    t = now_ms() if now is None else now
    bid = new_booking_id()
    with transactions() as s:
        take_write_lock(s)
        # One booking decision per station and per driver at a time on PostgreSQL (SQLite's
        # write lock serialises them): the slot's capacity is no unique index.
        reservations.serialize(s, f"swap:{sid}", f"driver:{did}")
        _end_overdue(s, sid, did, t)
        row = _station(s, sid)
        rule = reservations.get_rule(s, sid)
        if not rule.enabled:
            raise SwapError("reservation_disabled", f"station {sid} takes no bookings")
        size = row.slot_minutes * MINUTE_MS
        if start % size or start + size <= t:
            raise SwapError("slot_unavailable", "not a slot one can book now")
        if start + size - t > rule.max_minutes * MINUTE_MS:
            raise SwapError("reservation_too_long", f"at most {rule.max_minutes} minutes ahead here",
                            max_minutes=rule.max_minutes)
        if s.get(PackType, type_code) is None:
            raise InvalidField("type_code: a known pack type", field="type_code")
        if s.scalar(select(SwapBooking.booking_id).where(SwapBooking.driver_id == did,
                                                         SwapBooking.state == "booked")) is not None:
            raise SwapError("reservation_exists", "the driver has a swap booking already")
        banned = suspended_until(rule, no_show_times(s, did, sid, t - rule.suspend_days * DAY_MS), t)
        if banned is not None:
            raise SwapError("reservation_suspended", f"too many no-shows: suspended until {banned}", until=banned)
        booked = _booked(s, sid)
        if predict.bays_free(_capacity(s, sid), booked, start) < 1:
            raise SwapError("slot_full", "every bay is booked in that slot")
        if predict.free_packs(_packs(s, sid), booked, type_code, start) < 1:
            raise SwapError("no_pack", f"no {type_code} pack will be ready for that slot")
        fee = fee_for(rule, _held_minutes(start + size, t), *_tariff_fees(s, sid, t))
        balances = ledger.lock_driver(s, did)
        if fee and balances.available - balances.debt < fee:
            raise SwapError("insufficient_balance", f"the fee is {fee} fen",
                            needed_fen=fee, available_fen=max(0, balances.available - balances.debt))
        b = SwapBooking(booking_id=bid, driver_id=did, sid=sid, type_code=type_code, created_at=t,
                        slot_start=start, until=start + size, state="booked", fee_fen=fee,
                        refund_on_start=rule.refund_on_start, refund_on_cancel=rule.refund_on_cancel,
                        keep_on_no_show=rule.keep_on_no_show)
        s.add(b)
        try:
            s.flush()
        except IntegrityError:  # the same driver booked concurrently
            raise SwapError("reservation_exists", "the driver has a swap booking already") from None
        if fee:
            ledger.hold(s, did, bid, fee)
            b.fee_state = "held"
        return view(s, b)


def _end_overdue(s: Session, sid: str, driver_id: str, t: int) -> None:
    """Before a booking: the station's and the driver's bookings whose slot is over end now as
    the job's next round would end them (no-shows), so that until that round neither their
    packs and bays stay promised nor the driver counts as holding a live booking."""
    pg = s.get_bind().dialect.name == "postgresql"
    for bid in list(s.scalars(select(SwapBooking.booking_id).where(
            SwapBooking.state == "booked", SwapBooking.until <= t,
            (SwapBooking.sid == sid) | (SwapBooking.driver_id == driver_id)))):
        b = s.get(SwapBooking, bid, with_for_update=pg)
        if b is not None and b.state == "booked":
            ledger.lock_driver(s, b.driver_id)
            _end(s, b, "expired", t)
            b.no_show = True


def _end(s: Session, b: SwapBooking, state: str, now: int) -> None:
    b.state, b.ended_at = state, now
    b.fee_state = reservations.end_fee(s, b.booking_id, b.fee_fen, b.fee_state, state,
                                       refund_on_start=b.refund_on_start, refund_on_cancel=b.refund_on_cancel,
                                       keep_on_no_show=b.keep_on_no_show)
    s.flush()


def _own(s: Session, driver_id: str, booking_id: Any, lock: bool = False) -> SwapBooking:
    if not isinstance(booking_id, str) or not 1 <= len(booking_id) <= 64:
        raise SwapError("not_found", "no such booking")
    b = s.get(SwapBooking, booking_id, with_for_update=lock and s.get_bind().dialect.name == "postgresql")
    if b is None or b.driver_id != driver_id:
        raise SwapError("not_found", "no such booking")  # another driver's is as missing
    return b


def cancel(transactions: Transactions, *, driver_id: int | str, booking_id: Any,
           now: int | None = None) -> dict[str, Any]:
    did = str(driver_id)
    t = now_ms() if now is None else now
    with transactions() as s:
        take_write_lock(s)
        b = _own(s, did, booking_id, lock=True)
        if b.state != "booked":
            raise SwapError("reservation_not_active", f"the booking is {b.state}")
        if b.until <= t:  # the slot is over: the job books it (a no-show), a late cancel must not dodge that
            raise SwapError("reservation_not_active", "the booking's slot is over")
        ledger.lock_driver(s, did)
        _end(s, b, "cancelled", t)
        return view(s, b)


def get_view(s: Session, driver_id: int | str, booking_id: Any) -> dict[str, Any]:
    return view(s, _own(s, str(driver_id), booking_id))


def current(s: Session, driver_id: int | str) -> dict[str, Any] | None:
    b = s.scalar(select(SwapBooking).where(SwapBooking.driver_id == str(driver_id), SwapBooking.state == "booked"))
    return None if b is None else view(s, b)


def list_mine(s: Session, driver_id: int | str, *, limit: int = 20) -> list[dict[str, Any]]:
    rows = s.scalars(select(SwapBooking).where(SwapBooking.driver_id == str(driver_id))
                     .order_by(SwapBooking.created_at.desc(), SwapBooking.booking_id.desc()).limit(limit))
    return [view(s, b) for b in rows]


def mark_used(transactions: Transactions, booking_id: Any, *, sid: str | None = None, bay_id: Any = None,
              actor: str, ip: str | None = None, now: int | None = None) -> dict[str, Any]:
    """The swap is done (an operator's word): `used`, the fee back or kept by the terms. The
    pack handed out is one ready now that leaves every other live booking of the type a pack
    by its slot (`predict.hand_out`: not the pack promised to an earlier booking when the
    operator swaps a later one first); it becomes the returned one, charging until its type's
    charge time has passed. No such pack: SwapError `no_pack`, nothing changes. Given `sid`, a
    booking at another station is not found."""
    t = now_ms() if now is None else now
    with transactions() as s:
        take_write_lock(s)
        known = s.get(SwapBooking, booking_id) if isinstance(booking_id, str) and len(booking_id) <= 64 else None
        if known is None or (sid is not None and known.sid != sid):  # `sid`: the station the operator may see
            raise SwapError("not_found", "no such booking")
        # The stock and the other bookings must not change under the choice of pack: the
        # station's booking lock, as `book` takes it (PostgreSQL; SQLite's write lock holds).
        reservations.serialize(s, f"swap:{known.sid}")
        b = s.get_one(SwapBooking, booking_id, with_for_update=s.get_bind().dialect.name == "postgresql",
                      populate_existing=True)
        if b.state != "booked":
            raise SwapError("reservation_not_active", f"the booking is {b.state}")
        if bay_id is not None and s.get(SwapBay, (b.sid, str(bay_id))) is None:
            raise InvalidField("bay_id: a bay of the station", field="bay_id")
        kind = s.get_one(PackType, b.type_code)
        rows = list(s.scalars(select(SwapPack).where(SwapPack.sid == b.sid).order_by(SwapPack.pack_id)))
        others = [x for x in _booked_rows(s, b.sid) if x.booking_id != b.booking_id]
        pick = predict.hand_out([predict.Pack(p.type_code, p.state, p.ready_at) for p in rows],
                                [predict.Booked(x.type_code, x.slot_start) for x in others], b.type_code, t,
                                t + kind.charge_minutes * MINUTE_MS)
        if pick is None:
            raise SwapError("no_pack", f"no {b.type_code} pack ready now leaves the other bookings theirs")
        ledger.lock_driver(s, b.driver_id)
        pack = rows[pick]
        pack.state, pack.soc_pct = "charging", 0
        pack.ready_at, pack.updated_at = t + kind.charge_minutes * MINUTE_MS, t
        b.bay_id = None if bay_id is None else str(bay_id)
        _end(s, b, "used", t)
        audit.record(s, actor, "swap.used", b.booking_id, {"sid": b.sid, "bay_id": b.bay_id,
                                                            "pack_id": pack.pack_id}, ip)
        return view(s, b)


def expire_due(transactions: Transactions, now: int | None = None) -> int:
    """Bookings whose slot is over and not used: `expired`, a no-show, the fee by the terms.
    Packs whose expected ready time has passed become ready (the operators' word stands
    until then). One transaction per booking: one's trouble stops no other."""
    t = now_ms() if now is None else now
    with transactions() as s:
        due = list(s.scalars(select(SwapBooking.booking_id).where(SwapBooking.state == "booked",
                                                                 SwapBooking.until <= t)))
    ended = 0
    for bid in due:
        with transactions() as s:
            take_write_lock(s)
            b = s.get(SwapBooking, bid, with_for_update=s.get_bind().dialect.name == "postgresql")
            if b is None or b.state != "booked":
                continue
            ledger.lock_driver(s, b.driver_id)
            _end(s, b, "expired", t)
            b.no_show = True
            ended += 1
    with transactions() as s:
        take_write_lock(s)
        for p in s.scalars(select(SwapPack).where(SwapPack.state == "charging", SwapPack.ready_at <= t)):
            p.state, p.soc_pct, p.ready_at = "ready", 100, None
            ended += 1
    return ended


# --- the console --------------------------------------------------------------------------------------
def console_view(s: Session, sid: str, *, now: int | None = None, limit: int = 50) -> dict[str, Any]:
    """Bays, packs one by one, and the latest bookings (with their drivers)."""
    t = now_ms() if now is None else now
    view_ = details(s, sid, now=t)
    view_["bay_list"] = [{"bay_id": b.bay_id, "state": b.state, "updated_at": b.updated_at}
                         for b in s.scalars(select(SwapBay).where(SwapBay.sid == sid).order_by(SwapBay.bay_id))]
    view_["packs"] = [{"pack_id": p.pack_id, "type_code": p.type_code, "state": p.state, "soc_pct": p.soc_pct,
                       "ready_at": p.ready_at}
                      for p in s.scalars(select(SwapPack).where(SwapPack.sid == sid).order_by(SwapPack.pack_id))]
    view_["bookings"] = [{**view(s, b), "driver_id": b.driver_id} for b in s.scalars(
        select(SwapBooking).where(SwapBooking.sid == sid)
        .order_by(SwapBooking.slot_start.desc(), SwapBooking.booking_id.desc()).limit(limit))]
    view_["all_types"] = [{"type_code": p.type_code, "name": p.name, "kwh": p.kwh}
                          for p in s.scalars(select(PackType).order_by(PackType.type_code))]
    return view_


def stations_list(s: Session) -> list[dict[str, Any]]:
    return [{"sid": sid, "name": name or sid} for sid, name in s.execute(
        select(Station.sid, Station.name).join(SwapStation, SwapStation.sid == Station.sid).order_by(Station.sid))]
