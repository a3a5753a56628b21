"""Reservations: plain functions (no Flask request objects). The caller gives the database
transactions (`transactions()` yields a Session that commits on exit) and `send`, a function
that sends a command to a station and returns its reply (cloud.commands).

Life of a reservation (docs/reservations.md):
- `reserve`: the gun is free and its station reachable, the station's rules allow it and the
  driver is not suspended for no-shows; the fee (the station's rules: none, fixed, the tariff's
  idle fee for the time held, or the tariff's own reservation fee, the version that priced it
  noted as `fee_tariff_id`) is held on the ledger (hold key
  `hold:<reservation_id>`) and the row committed `pending` in one transaction; then the
  `reserve` command goes out and its reply makes it `active` (or `failed`, fee back).
- `cancel` (the driver): `cancelled`, the fee back or kept by the rules, `cancel_reservation` sent.
- used: the driver's own start on the gun (cloud.charging) makes it `used`; the gateway finds
  the reservation by the gun and starts with its tag.
- expiry: at `until` the job makes an `active` one `expired`, a no-show, fee kept or back by the
  rules. The gateway ends it at `until` by itself, also offline; the cloud confirms the
  release from the station's telemetry once it reports after the end (`release`), and sends
  `cancel_reservation` again if the gun still shows reserved well after.
Money moves only through cloud.ledger (integer fen, double entry, balances never negative):
a kept fee is booked as service revenue (`settle` of the hold), a refunded one released.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.db import take_write_lock
from cloud.drivers.errors import DriverError, InvalidField
from cloud.ledger import service as ledger
from cloud.models import Gun, Station, StationState, now_ms
from cloud.orders.machine import State as OrderState
from cloud.orders.models import Order
from cloud.reservations.models import LIVE, Reservation, ReservationRule
from cloud.reservations.rules import (
    MINUTE_MS,
    Rule,
    fee_for,
    fee_outcome,
    rule_from,
    suspended_until,
)
from cloud.sharing import service as sharing
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from jcproto import ProtocolError

log = logging.getLogger(__name__)

Transactions = Callable[[], AbstractContextManager[Session]]
Send = Callable[[str, str, Mapping[str, Any]], Any]  # (sid, type, payload) -> jcproto Reply

ENDED = ("used", "cancelled", "expired", "failed")
# The gateway's refusals of `reserve`, as the driver API names them.
REPLY_CODES = {"unknown_gun": "gun_not_found", "busy": "gun_busy", "faulted": "gun_faulted",
               "unavailable": "gun_faulted", "reserved": "reserved", "not_plugged": "reserve_failed",
               "blocked_by_load": "reserve_failed", "expired": "reserve_failed", "invalid": "reserve_failed"}


class ReservationError(DriverError):
    """A refusal with a stable driver API code."""

    def __init__(self, code: str, detail: str = "", **facts: Any) -> None:
        super().__init__(detail or code, **facts)
        self.code = code


@dataclass(frozen=True)
class ReservationSettings:
    reserve_timeout_s: float = 10.0
    offline_after_ms: int = 90_000  # nothing from the station this long: it is not reachable
    pending_grace_ms: int = 120_000  # a `pending` older than this lost its sender: failed
    release_grace_ms: int = 120_000  # still shown reserved this long after the end: cancel again

    @classmethod
    def from_settings(cls, c: Mapping[str, Any]) -> ReservationSettings:
        return cls(reserve_timeout_s=float(c.get("COMMAND_TIMEOUT_S", 10.0)),
                   offline_after_ms=int(float(c.get("STATION_OFFLINE_AFTER_S", 90)) * 1000))


write_lock = take_write_lock


def serialize(s: Session, *names: str) -> None:
    """On PostgreSQL, one reserve per gun and per driver at a time (transaction advisory locks,
    always in the order given): two reserves racing on the partial unique indexes could
    otherwise deadlock. SQLite's write lock already serialises them."""
    if s.get_bind().dialect.name != "postgresql":
        return
    for name in names:
        key = int.from_bytes(hashlib.sha256(f"jc-reserve:{name}".encode()).digest()[:8], "big", signed=True)
        s.execute(select(func.pg_advisory_xact_lock(key)))


def new_reservation_id() -> str:
    return "rv" + secrets.token_hex(12)


# --- rules ------------------------------------------------------------------------------------------
def get_rule(s: Session, sid: str) -> Rule:
    row = s.get(ReservationRule, sid)
    if row is None:
        return Rule()
    return Rule(enabled=row.enabled, max_minutes=row.max_minutes, fee_mode=row.fee_mode, fee_fen=row.fee_fen,
                refund_on_start=row.refund_on_start, refund_on_cancel=row.refund_on_cancel,
                keep_on_no_show=row.keep_on_no_show, no_show_limit=row.no_show_limit,
                suspend_days=row.suspend_days)


def set_rule(s: Session, sid: str, values: Mapping[str, Any], *, actor: str, ip: str | None = None) -> Rule:
    """Set a station's rules (RuleError names a bad value); the change is audited in the
    same transaction."""
    rule = rule_from(values)
    write_lock(s)  # SQLite: it reads the rule it then writes, while ingest commits meanwhile
    if s.get(Station, sid) is None:
        raise LookupError(f"no station {sid}")
    before = get_rule(s, sid)
    row = s.get(ReservationRule, sid) or ReservationRule(sid=sid)
    for key, value in rule.as_dict().items():
        setattr(row, key, value)
    row.updated_by, row.updated_at = actor[:64], now_ms()
    s.add(row)
    s.flush()
    changed = {k: [before.as_dict()[k], v] for k, v in rule.as_dict().items() if before.as_dict()[k] != v}
    audit.record(s, actor, "reservation_rules.set", sid, {"changed": changed}, ip)
    return rule


# --- reading ----------------------------------------------------------------------------------------
def live_on_gun(s: Session, sid: str, gun: str, now: int | None = None) -> Reservation | None:
    """The gun's reservation that holds it now (pending or active, before its `until`)."""
    t = now_ms() if now is None else now
    return s.scalar(select(Reservation).where(Reservation.sid == sid, Reservation.gun == gun,
                                              Reservation.state.in_(LIVE), Reservation.until > t))


def _live_of_driver(s: Session, driver_id: str) -> Reservation | None:
    return s.scalar(select(Reservation).where(Reservation.driver_id == driver_id, Reservation.state.in_(LIVE)))


def reachable(st: StationState | None, now: int, offline_after_ms: int) -> bool:
    """The station is online and was heard from lately (its link is up)."""
    return bool(st and st.online and st.last_seen is not None and st.last_seen >= now - offline_after_ms)


def suggest_gun(s: Session, sid: str, exclude: str, now: int | None = None,
                accept: Callable[[str], bool] | None = None) -> dict[str, Any] | None:
    """Another gun of the station free now and not reserved (for a refused driver), or None.
    `accept` (gun → may this driver start there): the caller's further rule, e.g. a private
    pile closed to others."""
    t = now_ms() if now is None else now
    held = {r.gun for r in s.scalars(select(Reservation).where(Reservation.sid == sid, Reservation.state.in_(LIVE),
                                                               Reservation.until > t))}
    view = stations.station_details(s, sid, at=t)
    for g in (view or {}).get("guns", []):
        if (g["gun"] != exclude and g["free"] and g["gun"] not in held and g["code"]
                and (accept is None or accept(g["gun"]))):
            return {"sid": sid, "gun": g["gun"], "code": g["code"], "name": g["name"]}
    return None


def no_show_times(s: Session, driver_id: str, sid: str, since: int) -> list[int]:
    return list(s.scalars(select(Reservation.until).where(Reservation.driver_id == driver_id,
                                                          Reservation.sid == sid, Reservation.no_show.is_(True),
                                                          Reservation.until > since)))


def view(s: Session, r: Reservation) -> dict[str, Any]:
    gun, st = s.get(Gun, (r.sid, r.gun)), s.get(Station, r.sid)
    return {"reservation_id": r.reservation_id, "state": r.state, "sid": r.sid,
            "station_name": (st.name if st and st.name else r.sid), "gun": r.gun,
            "gun_code": gun.code if gun else None, "gun_name": gun.name if gun else None,
            "created_at": r.created_at, "until": r.until,
            "fee_fen": r.fee_fen, "fee_tariff_id": r.fee_tariff_id, "fee_state": r.fee_state,
            "ended_at": r.ended_at, "order_id": r.order_id,
            "no_show": r.no_show}


def _own(s: Session, driver_id: str, reservation_id: Any, lock: bool = False) -> Reservation:
    if not isinstance(reservation_id, str) or not 1 <= len(reservation_id) <= 64:
        raise ReservationError("not_found", "no such reservation")
    r = s.get(Reservation, reservation_id,
              with_for_update=lock and s.get_bind().dialect.name == "postgresql")
    if r is None or r.driver_id != driver_id:
        raise ReservationError("not_found", "no such reservation")  # another driver's is as missing
    return r


def get_view(s: Session, driver_id: int | str, reservation_id: Any) -> dict[str, Any]:
    return view(s, _own(s, str(driver_id), reservation_id))


def current(s: Session, driver_id: int | str) -> dict[str, Any] | None:
    """The driver's live reservation (pending or active), or None."""
    r = _live_of_driver(s, str(driver_id))
    return None if r is None else view(s, r)


def list_mine(s: Session, driver_id: int | str, *, limit: int = 20) -> list[dict[str, Any]]:
    rows = s.scalars(select(Reservation).where(Reservation.driver_id == str(driver_id))
                     .order_by(Reservation.created_at.desc(), Reservation.reservation_id.desc()).limit(limit))
    return [view(s, r) for r in rows]


# --- money ------------------------------------------------------------------------------------------
def quote_fee(s: Session, rule: Rule, sid: str, minutes: int,
              now: int) -> tuple[int, str | None, dict[str, int] | None]:
    """(fee in fen, the tariff version it comes from, that version's reservation fee) of
    reserving `minutes` at `sid` now under `rule`: the version is named when the fee is the
    tariff's (modes `tariff_idle` and `tariff`) and a tariff is in force."""
    row = tariffs.version_in_force(s, sid, now)
    if row is None:
        return fee_for(rule, minutes, None, None), None, None
    price = tariffs.reservation_of(row)
    fee = fee_for(rule, minutes, tariffs.tariff_of(row).to_dict().get("idle"), price)
    return fee, (row.tariff_id if rule.fee_mode in ("tariff_idle", "tariff") else None), price


def _end(s: Session, r: Reservation, state: str, now: int, *, failure: str | None = None) -> None:
    """End a live reservation as `state`, its held fee refunded or kept by the rules in force
    when it was made (in the caller's transaction, with the state change)."""
    r.state, r.ended_at = state, now
    if failure:
        r.failure = failure[:200]
    r.fee_state = end_fee(s, r.reservation_id, r.fee_fen, r.fee_state, state, refund_on_start=r.refund_on_start,
                          refund_on_cancel=r.refund_on_cancel, keep_on_no_show=r.keep_on_no_show)
    s.flush()


def end_fee(s: Session, hold_id: str, fee_fen: int, fee_state: str, end: str, *, refund_on_start: bool,
            refund_on_cancel: bool, keep_on_no_show: bool) -> str:
    """The fee state after a booking held under `hold_id` ends by `end` (used, cancelled,
    expired, failed): a held fee kept (settled as service revenue) or released by the terms
    given, on the ledger in the caller's transaction. Shared with battery-swap bookings
    (cloud.swap), so both follow the same rules."""
    if fee_state != "held":
        return fee_state
    terms = Rule(refund_on_start=refund_on_start, refund_on_cancel=refund_on_cancel, keep_on_no_show=keep_on_no_show)
    outcome = fee_outcome(terms, end)
    if outcome == "kept":
        ledger.settle(s, hold_id, {"service": fee_fen})
    else:
        ledger.release(s, hold_id)
    return outcome


# --- reserve, cancel, use ---------------------------------------------------------------------------
def _check_minutes(minutes: Any) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 1440:
        raise InvalidField("minutes: a whole number 1..1440", field="minutes")
    return minutes


def reserve(transactions: Transactions, send: Send, *, driver_id: int | str, gun_code: Any, minutes: Any,
            settings: ReservationSettings, now: int | None = None) -> dict[str, Any]:
    """Reserve the gun `gun_code` for `minutes` for the driver; the reservation's view
    (`active` once the station confirmed). ReservationError with the driver API's codes."""
    if not isinstance(gun_code, str) or not gun_code or len(gun_code) > 64:
        raise InvalidField("gun_code must be the code the gun's QR carries", field="gun_code")
    minutes = _check_minutes(minutes)
    did = str(driver_id)
    t = now_ms() if now is None else now
    rid = new_reservation_id()
    with transactions() as s:
        write_lock(s)
        gun = stations.gun_by_code(s, gun_code)
        if gun is None:
            raise ReservationError("gun_not_found", f"no gun with code {gun_code!r}")
        sid = gun.sid
        serialize(s, f"gun:{sid}:{gun.gun_id}", f"driver:{did}")
        _end_overdue(s, sid, gun.gun_id, did, t, settings)
        rule = get_rule(s, sid)
        if not rule.enabled:
            raise ReservationError("reservation_disabled", f"station {sid} takes no reservations")
        if minutes > rule.max_minutes:
            raise ReservationError("reservation_too_long", f"at most {rule.max_minutes} minutes here",
                                   max_minutes=rule.max_minutes)
        shared = sharing.refusal(s, sid, gun.gun_id, did, now=t)
        if shared:  # a shared pile closed or outside its hours (the owner always may)
            raise ReservationError(shared, f"{gun.gun_id} is a shared pile not open to others now")
        if not reachable(s.get(StationState, sid), t, settings.offline_after_ms):
            raise ReservationError("station_offline", f"station {sid} is not reachable")
        entry = stations.live_gun(s, sid, gun.gun_id)
        if (entry or {}).get("state") == "reserved" and pile_hold_is_over(
                s, sid, gun.gun_id, (s.get(StationState, sid) or StationState()).telemetry_ts, settings, t):
            entry = {**(entry or {}), "state": "available"}  # the gateway releases it before reserving
        if live_on_gun(s, sid, gun.gun_id, t) is not None or (entry or {}).get("state") == "reserved":
            raise ReservationError("reserved", f"{gun.gun_id} is reserved")
        if not stations.is_free(entry):
            state = (entry or {}).get("state")
            raise ReservationError("gun_faulted" if state in ("faulted", "unavailable", None) else "gun_busy",
                                   f"{gun.gun_id} is {state}")
        if _live_of_driver(s, did) is not None:
            raise ReservationError("reservation_exists", "the driver has a reservation already")
        banned = suspended_until(rule, no_show_times(s, did, sid, t - rule.suspend_days * 86_400_000), t)
        if banned is not None:
            raise ReservationError("reservation_suspended", f"too many no-shows: suspended until {banned}",
                                   until=banned)
        fee, fee_tariff_id, _price = quote_fee(s, rule, sid, minutes, t)
        balances = ledger.lock_driver(s, did)  # one money decision per driver at a time from here
        if fee and balances.available - balances.debt < fee:
            raise ReservationError("insufficient_balance", f"the fee is {fee} fen",
                                   needed_fen=fee, available_fen=max(0, balances.available - balances.debt))
        payload_gun = gun.gun_id  # the flush below may fail and expire every loaded object
        r = Reservation(reservation_id=rid, driver_id=did, sid=sid, gun=payload_gun, created_at=t,
                        until=t + minutes * MINUTE_MS, state="pending", fee_fen=fee,
                        fee_tariff_id=fee_tariff_id, refund_on_start=rule.refund_on_start,
                        refund_on_cancel=rule.refund_on_cancel,
                        keep_on_no_show=rule.keep_on_no_show)
        s.add(r)
        try:
            s.flush()
        except IntegrityError:  # a concurrent request took the gun (or the driver reserved) first
            raise ReservationError("reserved", f"{payload_gun} was just reserved") from None
        if fee:
            ledger.hold(s, did, rid, fee)
            r.fee_state = "held"
        payload = {"gun": payload_gun, "reservation_id": rid, "until": r.until}
    _send_reserve(transactions, send, sid, rid, payload)
    with transactions() as s:
        return view(s, _own(s, did, rid))


def _send_reserve(transactions: Transactions, send: Send, sid: str, rid: str, payload: dict[str, Any]) -> None:
    from cloud.commands import CommandPublishError, CommandTimeout

    try:
        reply = send(sid, "reserve", payload)
    except CommandTimeout:
        _fail(transactions, rid, "no reply to reserve in time", release="pending")
        _cancel_quietly(send, sid, rid)  # the station may have reserved after all
        raise ReservationError("reserve_failed", "the station did not answer in time") from None
    except (CommandPublishError, ProtocolError, OSError) as e:
        _fail(transactions, rid, f"not published: {e}", release="none")
        raise ReservationError("reserve_failed", f"the broker did not take the reserve: {e}") from None
    if reply.ok:
        with transactions() as s:
            write_lock(s)
            r = s.get_one(Reservation, rid)
            if r.state == "pending":  # a cancel or the job may have ended it meanwhile
                r.state = "active"
        return
    error = reply.error.value if reply.error is not None else "invalid"
    _fail(transactions, rid, f"the station refused: {error}", release="none")
    raise ReservationError(REPLY_CODES.get(error, "reserve_failed"), f"the station refused the reserve: {error}")


def _fail(transactions: Transactions, rid: str, why: str, *, release: str) -> None:
    with transactions() as s:
        write_lock(s)
        r = s.get_one(Reservation, rid)
        if r.state in LIVE:
            _end(s, r, "failed", now_ms(), failure=why)
            r.release = release


def _cancel_quietly(send: Send, sid: str, rid: str, *, gone_counts: bool = True) -> bool:
    """Send `cancel_reservation`; True if the station confirmed. Never raises: the gateway
    ends the reservation at `until` in any case, and the job sends it again. With
    `gone_counts` False, a station that knew no such reservation (`already_gone`) confirms
    nothing: a cancel that overtook its own `reserve` finds nothing, and the reserve then
    holds the pile."""
    try:
        reply = send(sid, "cancel_reservation", {"reservation_id": rid})
    except Exception as e:  # noqa: BLE001  (timeouts, broker down: the job retries)
        log.info("cancel_reservation %s at %s not confirmed: %s", rid, sid, e)
        return False
    if not gone_counts and (reply.detail or {}).get("already_gone"):
        return False
    return bool(reply.ok)


def cancel(transactions: Transactions, send: Send, *, driver_id: int | str, reservation_id: Any,
           now: int | None = None) -> dict[str, Any]:
    """The driver cancels a live reservation: fee back or kept by the rules, the station told."""
    did = str(driver_id)
    t = now_ms() if now is None else now
    with transactions() as s:
        write_lock(s)
        r = _own(s, did, reservation_id, lock=True)
        if r.state not in LIVE:
            raise ReservationError("reservation_not_active", f"the reservation is {r.state}")
        if r.until <= t:  # over: the job books it (a no-show), a late cancel must not dodge that
            raise ReservationError("reservation_not_active", "the reservation is over")
        ledger.lock_driver(s, did)
        was_pending = r.state == "pending"  # its `reserve` may still be on the way
        _end(s, r, "cancelled", t)
        r.release = "pending"
        sid, rid = r.sid, r.reservation_id
    if _cancel_quietly(send, sid, rid, gone_counts=not was_pending):
        with transactions() as s:
            write_lock(s)
            r = s.get_one(Reservation, rid)
            if r.release == "pending":
                r.release, r.released_seen_at = "confirmed", now_ms()
    with transactions() as s:
        return view(s, _own(s, did, rid))


def pile_hold_is_over(s: Session, sid: str, gun: str, telemetry_ts: int | None,
                      settings: ReservationSettings = ReservationSettings(), now: int | None = None) -> bool:
    """Whether a gun the station's telemetry shows `reserved` is held only by a reservation of
    ours that is over: none holds it now, the latest one on the gun ended (or reached its
    `until`), and the telemetry is no newer than `release_grace_ms` after that end. The
    gateway releases such a hold before it runs a `start` or `reserve` (also at its next
    heartbeat round), so neither is refused for it; a hold still shown after that is left to the
    job (`reconcile_releases`) and keeps refusing."""
    t = now_ms() if now is None else now
    if telemetry_ts is None or live_on_gun(s, sid, gun, t) is not None:
        return False
    last = s.scalar(select(Reservation).where(Reservation.sid == sid, Reservation.gun == gun)
                    .order_by(Reservation.created_at.desc(), Reservation.reservation_id.desc()).limit(1))
    if last is None:
        return False
    end = min(last.until, last.ended_at) if last.ended_at is not None else last.until
    return end <= t and telemetry_ts <= end + settings.release_grace_ms


def holder(s: Session, sid: str, gun: str, now: int | None = None) -> tuple[str, str] | None:
    """(reservation_id, driver_id) of the reservation holding the gun now, or None: what the
    start of an order checks (a stranger is refused, the holder's start uses it)."""
    r = live_on_gun(s, sid, gun, now)
    return None if r is None else (r.reservation_id, r.driver_id)


def _holders_order(s: Session, r: Reservation) -> Order | None:
    """The first order its driver started on the reservation's gun while it held the gun: the
    gateway starts such an order with the reservation's tag (and forgets the reservation),
    whether or not its reply reached the cloud in time."""
    return s.scalar(select(Order).where(Order.driver_id == r.driver_id, Order.sid == r.sid, Order.gun == r.gun,
                                        Order.created_at >= r.created_at, Order.created_at < r.until)
                    .order_by(Order.created_at, Order.order_id).limit(1))


def use_by_order(s: Session, order_id: str, now: int | None = None) -> None:
    """An order's start accepted late (its reply came after the sender stopped waiting): the
    reservation of its driver on its gun that the start used becomes `used`, as `on_started`."""
    o = s.get(Order, order_id)
    if o is None:
        return
    r = s.scalar(select(Reservation).where(Reservation.driver_id == o.driver_id, Reservation.sid == o.sid,
                                           Reservation.gun == o.gun, Reservation.state.in_(LIVE),
                                           Reservation.created_at <= o.created_at, Reservation.until > o.created_at))
    if r is not None:
        on_started(s, r.reservation_id, o.order_id, now)


def on_started(s: Session, reservation_id: str, order_id: str, now: int | None = None) -> None:
    """The holder's start was accepted by the station (which started with the reservation's
    tag and forgot it): `used`, the fee back or kept by the rules."""
    write_lock(s)
    r = s.get(Reservation, reservation_id,
              with_for_update=s.get_bind().dialect.name == "postgresql")
    if r is None or r.state not in LIVE:
        return
    _end(s, r, "used", now_ms() if now is None else now)
    r.order_id = order_id


# --- the job ----------------------------------------------------------------------------------------
def expire_due(transactions: Transactions, settings: ReservationSettings, now: int | None = None) -> int:
    """End reservations whose `until` has come: an `active` one `expired` (a no-show), a
    `pending` one never confirmed `failed`, as also a `pending` one whose sender is gone.
    Whether the station was reachable then is noted; the release waits for its word."""
    t = now_ms() if now is None else now
    with transactions() as s:
        due = list(s.scalars(select(Reservation.reservation_id).where(
            Reservation.state.in_(LIVE),
            (Reservation.until <= t) | ((Reservation.state == "pending")
                                        & (Reservation.created_at <= t - settings.pending_grace_ms)))
            .order_by(Reservation.until)))
    ended = 0
    for rid in due:  # one transaction each: one reservation's trouble stops no other
        with transactions() as s:
            write_lock(s)
            r = s.get(Reservation, rid, with_for_update=s.get_bind().dialect.name == "postgresql")
            if r is not None and r.state in LIVE:
                ended += _end_due(s, r, t, settings)
    return ended


def _end_due(s: Session, r: Reservation, t: int, settings: ReservationSettings) -> bool:
    """End one live reservation that is due at `t` (locked by the caller), as the job does;
    False when it must wait (the holder's start on the gun not decided yet)."""
    if not (r.until <= t or (r.state == "pending" and r.created_at <= t - settings.pending_grace_ms)):
        return False
    ledger.lock_driver(s, r.driver_id)
    online = reachable(s.get(StationState, r.sid), t, settings.offline_after_ms)
    started = _holders_order(s, r) if r.state == "active" and r.until <= t else None
    if started is not None and started.state == OrderState.STARTING.value:
        return False  # the holder's start is not decided yet: used or a no-show once it is
    if started is not None and started.state not in (OrderState.FAILED.value, OrderState.CANCELLED.value):
        # the holder started in time, the reply lost or late: used, not a no-show
        _end(s, r, "used", t)
        r.order_id = started.order_id
        return True
    if r.state == "active" and r.until <= t:
        _end(s, r, "expired", t)
        r.no_show = True
    else:
        _end(s, r, "failed", t, failure="the station never confirmed the reserve")
    r.offline_at_end, r.release = not online, "pending"
    return True


def _end_overdue(s: Session, sid: str, gun: str, driver_id: str, t: int, settings: ReservationSettings) -> None:
    """Before a new reservation: the gun's and the driver's live reservations whose `until` has
    passed end now, as the job's next round would end them (a no-show, or failed), so that
    neither the gun nor the driver stays taken by one that is over until that round."""
    pg = s.get_bind().dialect.name == "postgresql"
    for rid in list(s.scalars(select(Reservation.reservation_id).where(
            Reservation.state.in_(LIVE), Reservation.until <= t,
            ((Reservation.sid == sid) & (Reservation.gun == gun)) | (Reservation.driver_id == driver_id)))):
        r = s.get(Reservation, rid, with_for_update=pg)
        if r is not None and r.state in LIVE:
            _end_due(s, r, t, settings)


def reconcile_releases(transactions: Transactions, send: Send | None, settings: ReservationSettings,
                       now: int | None = None) -> int:
    """Ended reservations whose release is not yet seen: confirmed once the station's
    telemetry after the end shows the gun no longer reserved (or reserved for a newer one);
    still reserved `release_grace_ms` after the end: `cancel_reservation` again."""
    t = now_ms() if now is None else now
    with transactions() as s:
        write_lock(s)
        waiting = list(s.scalars(select(Reservation).where(Reservation.release == "pending",
                                                           Reservation.ended_at > t - 7 * 86_400_000)))
        again = []
        for r in waiting:
            st = s.get(StationState, r.sid)
            end = max(r.ended_at or 0, r.until if r.state == "expired" else 0)
            if not reachable(st, t, settings.offline_after_ms) or st is None or (st.telemetry_ts or 0) <= end:
                continue  # no word from the station since the end yet
            entry = stations.gun_entry(st.telemetry, r.gun)
            newer = live_on_gun(s, r.sid, r.gun, t)
            if newer is not None or entry is None or entry.get("state") != "reserved":
                r.release, r.released_seen_at = "confirmed", st.telemetry_ts
            elif st.telemetry_ts > end + settings.release_grace_ms:
                again.append((r.sid, r.reservation_id))
        confirmed = sum(1 for r in waiting if r.release == "confirmed")
    for sid, rid in again:
        if send is not None and _cancel_quietly(send, sid, rid):
            log.warning("reservation %s: %s still showed the gun reserved; cancelled again", rid, sid)
    return confirmed + len(again)


# --- the console ------------------------------------------------------------------------------------
def station_listing(s: Session, sid: str, *, limit: int = 50) -> list[dict[str, Any]]:
    rows = s.scalars(select(Reservation).where(Reservation.sid == sid)
                     .order_by(Reservation.created_at.desc(), Reservation.reservation_id.desc()).limit(limit))
    return [{**view(s, r), "driver_id": r.driver_id, "release": r.release,
             "offline_at_end": r.offline_at_end, "failure": r.failure} for r in rows]


def no_shows(s: Session, sid: str, *, since: int, now: int | None = None) -> list[dict[str, Any]]:
    """Drivers with no-shows at the station since `since`: count, latest, suspended until."""
    t = now_ms() if now is None else now
    rule = get_rule(s, sid)
    rows = s.execute(select(Reservation.driver_id, func.count(), func.max(Reservation.until))
                     .where(Reservation.sid == sid, Reservation.no_show.is_(True), Reservation.until > since)
                     .group_by(Reservation.driver_id).order_by(func.count().desc(), Reservation.driver_id)).all()
    out = []
    for driver_id, count, latest in rows:
        times = no_show_times(s, driver_id, sid, t - rule.suspend_days * 86_400_000) if rule.suspend_days else []
        out.append({"driver_id": driver_id, "count": int(count), "latest": int(latest),
                    "suspended_until": suspended_until(rule, times, t)})
    return out


def terms(s: Session, driver_id: int | str, gun_code: Any, minutes: Any = None,
          now: int | None = None) -> dict[str, Any]:
    """What reserving the gun would be for the driver: allowed or not, the longest time, the
    fee for `minutes` (default the longest) with where it comes from (the rules' mode; the
    tariff version and its reservation prices when the tariff sets it), what becomes of it,
    and any suspension."""
    if not isinstance(gun_code, str) or not gun_code or len(gun_code) > 64:
        raise InvalidField("gun_code must be the code the gun's QR carries", field="gun_code")
    t = now_ms() if now is None else now
    gun = stations.gun_by_code(s, gun_code)
    if gun is None:
        raise ReservationError("gun_not_found", f"no gun with code {gun_code!r}")
    rule = get_rule(s, gun.sid)
    mins = rule.max_minutes if minutes is None else _check_minutes(minutes)
    fee, fee_tariff_id, price = quote_fee(s, rule, gun.sid, mins, t)
    since = t - rule.suspend_days * 86_400_000
    return {"sid": gun.sid, "gun": gun.gun_id, "gun_code": gun.code, "enabled": rule.enabled,
            "max_minutes": rule.max_minutes, "minutes": mins, "fee_fen": fee,
            "fee_mode": rule.fee_mode, "fee_tariff_id": fee_tariff_id,
            "tariff_fee": price if rule.fee_mode == "tariff" else None,
            "refund_on_start": rule.refund_on_start, "refund_on_cancel": rule.refund_on_cancel,
            "keep_on_no_show": rule.keep_on_no_show,
            "suspended_until": suspended_until(rule, no_show_times(s, str(driver_id), gun.sid, since), t),
            "held_until": (r.until if (r := live_on_gun(s, gun.sid, gun.gun_id, t)) is not None else None)}
