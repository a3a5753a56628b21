"""Billing service: charging orders moved by the gateway's records and billed from them.

    on_record(s, sid, record)     # ingest, for session_started / session_ended / gun_released
    sessions_with_orders(s, ids)  # ingest: which of a batch's sessions may move an order
    bill_order(s, order_id)       # judge and book one ended order (the jobs too)
    bill_unreleased(s, wait_ms)   # the job: ended orders whose car never reported leaving
    assess_session(s, session_id) # the judge's verdict on any ended session, booked or not

Plain functions over the caller's SQLAlchemy session, inside the caller's transaction (ingest
stores the record and moves the order in one commit). The decision is cloud.billing.judge's
(pure); this module only gathers the facts (the session's stored records, the tariff in force
at its start, the gun's rated power) and moves the order by cloud.orders.service, which posts
the money to the ledger. Sessions without an order (local cards, pile-started) are not
driver money and are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cloud.billing.judge import Bill, Ended, Rejection, Released, Started, judge
from cloud.db import lock_stations
from cloud.ingest.signatures import SIGNATURE_FLAGS
from cloud.models import ChargingSession, RawRecord, StationState, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event, State
from cloud.orders.models import Order
from cloud.tariffs import service as tariffs
from jcproto.tariff import Tariff

log = logging.getLogger("jc.billing")

RatedPower = Callable[[Session, str, str], "int | None"]
RECORD_TYPES = ("session_started", "session_ended", "gun_released")
# An order the stale job closed as `timeout` whose records come after all: still billed.
LATE = "timeout"


def telemetry_rated_power(s: Session, sid: str, gun: str) -> int | None:
    """The gun's rated power from the station's latest telemetry (`guns[i].rated_power_w`)."""
    state = s.get(StationState, sid)
    guns = (state.telemetry or {}).get("guns") if state is not None else None
    for g in guns if isinstance(guns, list) else []:
        if isinstance(g, Mapping) and g.get("id") == gun:
            value = g.get("rated_power_w")
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def default_rated_power(s: Session, sid: str, gun: str) -> int | None:
    """The station archive's rating when cloud.stations provides it, else the telemetry's."""
    try:
        from cloud.stations.service import rated_power_w  # type: ignore[import-not-found]
    except ImportError:
        return telemetry_rated_power(s, sid, gun)
    value = rated_power_w(s, sid, gun)
    return value if value is not None else telemetry_rated_power(s, sid, gun)


# --- facts ------------------------------------------------------------------------------------


def _session(s: Session, session_id: str) -> ChargingSession | None:
    return s.execute(
        select(ChargingSession).where(ChargingSession.session_id == session_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _records(s: Session, sess: ChargingSession, types: tuple[str, ...]) -> list[RawRecord]:
    """The session's stored records of `types`, in seq order: trusted (unflagged) ones, and
    session_ended records whose only fault is their signature."""
    # A station's records of one session lie after its session_started (seqs only grow).
    q = (select(RawRecord)
         .where(RawRecord.sid == sess.sid, RawRecord.type.in_(types),
                RawRecord.seq >= (sess.started_seq or 0))
         .order_by(RawRecord.seq))
    out = []
    for r in s.scalars(q):
        if not isinstance(r.payload, dict) or r.payload.get("session_id") != sess.session_id:
            continue
        if r.flag_reason is None or (r.type == "session_ended" and r.flag_reason in SIGNATURE_FLAGS):
            out.append(r)
    return out


def _has_end(sess: ChargingSession) -> bool:
    return sess.ended_seq is not None or (sess.status == "abnormal" and sess.signature_ok is False)


def _facts(s: Session, sess: ChargingSession) -> tuple[Started | None, Ended, list[Ended], Released | None]:
    recs = _records(s, sess, ("session_progress", "session_ended", "gun_released"))
    ends = {r.seq: r for r in recs if r.type == "session_ended"}
    main = ends.get(sess.ended_seq) if sess.ended_seq is not None else None
    if main is not None and sess.signature_ok:
        ended = Ended.from_record(main.payload)
    elif main is not None:
        ended = Ended.from_record(main.payload, signature_ok=False, problem=sess.end_problem)
    else:  # an end that failed its schema: only the session row's word remains
        ended = Ended(started_at=sess.started_at or 0, ended_at=sess.ended_at or 0,
                      energy_start_wh=sess.energy_start_wh or 0, energy_stop_wh=sess.energy_stop_wh or 0,
                      cost_fen=sess.cost_fen or 0, signature_ok=False,
                      problem=sess.end_problem or "no valid session_ended")
    others = [Ended.from_record(r.payload, signature_ok=r.flag_reason is None)
              for seq, r in ends.items() if seq != sess.ended_seq]
    readings = tuple((r.ts, int(r.payload["energy_wh"])) for r in recs if r.type == "session_progress")
    started = None
    if sess.started_seq is not None and sess.energy_start_wh is not None:
        started = Started(sess.started_at or ended.started_at, sess.energy_start_wh, readings)
    elif readings:
        started = Started(ended.started_at, ended.energy_start_wh, readings)
    rel = next((r for r in recs if r.type == "gun_released"), None)
    released = None if rel is None else Released(int(rel.payload["released_at"]), int(rel.payload["idle_fen"]))
    return started, ended, others, released


def tariff_for(s: Session, sess: ChargingSession, ended: Ended) -> Tariff | None:
    """The tariff version the session is billed whole with (docs/money.md): the one its
    signed end names, when that version is (or was) assigned to the station and not
    cancelled — the gateway priced with it, e.g. a start just before a scheduled change whose
    command carried the old tariff; otherwise the version in force at the station when the
    session started."""
    named = tariffs.named_version(s, sess.sid, ended.tariff_id if ended.signature_ok else None)
    if named is not None:
        return named
    at = ended.started_at or sess.started_at
    return None if at is None else tariffs.in_force(s, sess.sid, at)


# --- orders -----------------------------------------------------------------------------------


def _lock(s: Session, order_id: str) -> Order | None:
    if s.get_bind().dialect.name == "sqlite":
        s.execute(text("UPDATE orders SET state = state WHERE 0"))  # the write lock first
    q = select(Order).where(Order.order_id == order_id).execution_options(populate_existing=True)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return s.execute(q).scalar_one_or_none()


def _order_of(s: Session, sess: ChargingSession) -> Order | None:
    """The order the session charges for, locked; None for sessions that are not a driver's
    order, or that claim an order of another station or another session."""
    order_id = sess.order_id
    if not order_id:
        order_id = s.scalar(select(Order.order_id).where(Order.session_id == sess.session_id))
        if not order_id:
            return None
    order = _lock(s, order_id)
    if order is None:
        log.warning("session %s/%s names order %s, which does not exist", sess.sid, sess.session_id, order_id)
        return None
    if order.sid != sess.sid or (order.session_id not in (None, sess.session_id)):
        log.warning("session %s/%s names order %s of %s/%s: left alone", sess.sid, sess.session_id,
                    order_id, order.sid, order.session_id)
        return None
    return order


def sessions_with_orders(s: Session, session_ids: set[str]) -> set[str]:
    """Of `session_ids`, those whose stored session may move an order: its `order_id` names
    an order that exists, or an order names the session. A superset of what `advance` acts
    on (it checks station and session again, under the order's lock), so ingest looks up a
    whole batch at once and opens no savepoint for a card's or a pile's session. A session
    naming an order that does not exist is logged here, as `advance` would."""
    found: set[str] = set()
    ids = sorted(session_ids)
    for i in range(0, len(ids), 500):  # IN lists of a bounded size (SQLite's variable limit)
        chunk = ids[i : i + 500]
        named = dict(s.execute(select(ChargingSession.session_id, ChargingSession.order_id)
                               .where(ChargingSession.session_id.in_(chunk))).all())
        wanted = {o for o in named.values() if o}
        existing = set(s.scalars(select(Order.order_id).where(Order.order_id.in_(sorted(wanted))))) if wanted else set()
        by_session = set(s.scalars(select(Order.session_id).where(Order.session_id.in_(chunk))))
        for session_id, order_id in named.items():
            if order_id in existing or (not order_id and session_id in by_session):
                found.add(session_id)
            elif order_id:
                log.warning("session %s names order %s, which does not exist", session_id, order_id)
    return found


def on_record(s: Session, sid: str, record: Mapping[str, Any], *,
              rated_power: RatedPower | None = None, now: int | None = None) -> Order | None:
    """Move the order of the record's session as far as the session's stored records allow.

    Idempotent and order-free: it looks at what is stored (the record itself included), not
    at the record alone, so records that come late, twice or out of order end the same way."""
    kind = record.get("type")
    if kind not in RECORD_TYPES:
        return None
    if kind == "session_started" and not record.get("order_id"):
        return None  # a local card or the pile: not driver money
    session_id = record.get("session_id")
    if not isinstance(session_id, str):
        return None
    return advance(s, session_id, rated_power=rated_power, now=now)


def advance(s: Session, session_id: str, *, force: bool = False,
            rated_power: RatedPower | None = None, now: int | None = None) -> Order | None:
    sess = _session(s, session_id)
    if sess is None:
        return None
    order = _order_of(s, sess)
    if order is None:
        return None
    oid = order.order_id
    if order.state in (State.FAILED.value, State.CANCELLED.value):
        # The hold went back already: a person decides what the session is owed.
        log.warning("session %s/%s ran for order %s, which is %s", sess.sid, session_id, oid, order.state)
        return order
    if order.state == State.CREATED.value:  # the record proves the start was sent
        order = orders.apply(s, oid, Event.START_SENT, now=now)
    if order.state == State.STARTING.value:
        order = orders.apply(s, oid, Event.SESSION_STARTED, session_id=session_id, now=now)
    if order.state == State.CHARGING.value and order.session_id is None:
        order.session_id = session_id
    if not _has_end(sess):
        return order
    if order.state == State.CHARGING.value:
        order = orders.apply(s, oid, Event.SESSION_ENDED, session_id=session_id, now=now)
    late = order.state == State.ABNORMAL.value and (order.abnormal_reason or "").startswith(LATE)
    if order.state == State.ENDED.value or late:
        return _bill(s, order, sess, force=force or late, rated_power=rated_power, now=now)
    return order


@dataclass(frozen=True)
class Assessment:
    """The judge's verdict on a session's stored records, with the tariff version it used."""

    tariff: Tariff | None
    verdict: Bill | Rejection
    released: Released | None


def assess(s: Session, sess: ChargingSession, *, rated_power: RatedPower | None = None) -> Assessment:
    """Judge an ended session from its stored records, order or not (a local card's session
    is judged the same way, it is only not booked)."""
    started, ended, others, released = _facts(s, sess)
    tariff = tariff_for(s, sess, ended)
    rated = (rated_power or default_rated_power)(s, sess.sid, sess.gun) if sess.gun else None
    return Assessment(tariff, judge(started, ended, released, tariff, rated, other_ends=others), released)


def assess_session(s: Session, session_id: str) -> Assessment | None:
    sess = _session(s, session_id)
    return None if sess is None or not _has_end(sess) else assess(s, sess)


def _bill(s: Session, order: Order, sess: ChargingSession, *, force: bool,
          rated_power: RatedPower | None, now: int | None) -> Order:
    a = assess(s, sess, rated_power=rated_power)
    tariff, verdict, released = a.tariff, a.verdict, a.released
    waiting = (isinstance(verdict, Bill) and released is None and not force
               and tariff is not None and tariff.idle is not None)
    if waiting:
        return order  # the idle fee runs until the car leaves (gun_released), or the job's grace
    late = order.state == State.ABNORMAL.value
    if isinstance(verdict, Rejection):
        if late:
            log.warning("order %s: late records do not bill: %s", order.order_id, verdict.reason)
            return order
        log.warning("order %s: bill rejected: %s", order.order_id, verdict.reason)
        return orders.apply(s, order.order_id, Event.BILL_REJECTED, reason=verdict.reason, now=now)
    lines = [orders.Line(kind=ln.kind, fen=ln.fen, period=ln.period, energy_wh=ln.energy_wh)
             for ln in verdict.lines]
    event = Event.RESOLVE_BILL if late else Event.BILLED
    order = orders.apply(s, order.order_id, event, lines=lines, now=now)
    log.info("order %s settled: %d Wh, %d fen (idle %d)", order.order_id, verdict.energy_wh,
             verdict.total_fen, verdict.idle_fen)
    _refund_prepay_rest(s, order)
    # the driver's receipt goes out after the commit, never in the way of money
    from cloud.community import notices

    notices.order_settled(s, order.order_id)
    return order


def _refund_prepay_rest(s: Session, order: Order) -> None:
    """A WeChat-prepaid order gives back what it did not spend (the wallet's helper)."""
    if order.funding != "prepay":
        return
    try:
        from cloud.wallet.service import refund_prepay_rest  # type: ignore[import-not-found]
    except ImportError:
        return
    refund_prepay_rest(s, order.order_id)


def bill_order(s: Session, order_id: str, *, force: bool = False,
               rated_power: RatedPower | None = None, now: int | None = None) -> Order | None:
    """Judge and book one order whose session has ended (no-op in any other state)."""
    order = _lock(s, order_id)
    if order is None or order.session_id is None:
        return order
    return advance(s, order.session_id, force=force, rated_power=rated_power, now=now)


def bill_unreleased(s: Session, *, wait_ms: int, now: int | None = None, limit: int = 200,
                    rated_power: RatedPower | None = None) -> list[str]:
    """The job: orders `ended` for `wait_ms` with no `gun_released` are billed without an idle
    fee. Safe in two processes at once (each order is re-read under its lock)."""
    stamp = now_ms() if now is None else now
    rows = list(s.execute(select(Order.order_id, Order.sid)
                          .where(Order.state == State.ENDED.value, Order.updated_at < stamp - wait_ms)
                          .order_by(Order.updated_at).limit(limit)))
    lock_stations(s, {sid for _, sid in rows})  # several orders: their stations first (cloud/db.py)
    ids = [oid for oid, _ in rows]
    done = []
    for oid in ids:
        order = _lock(s, oid)
        if order is None or order.state != State.ENDED.value or order.updated_at >= stamp - wait_ms:
            continue
        after = bill_order(s, oid, force=True, rated_power=rated_power, now=stamp)
        if after is not None and after.state != State.ENDED.value:
            done.append(oid)
    return done


def catch_up(s: Session, *, quiet_ms: int, now: int | None = None, limit: int = 200,
             rated_power: RatedPower | None = None) -> list[str]:
    """The job: orders still starting or charging, untouched for `quiet_ms`, whose session
    has ended after all are moved on. Two ingest processes storing a session's start and its
    end at the same instant may each miss the other's record; this finds such orders."""
    stamp = now_ms() if now is None else now
    open_states = [State.CREATED.value, State.STARTING.value, State.CHARGING.value]
    ended = (ChargingSession.ended_seq.is_not(None)) | (ChargingSession.status == "abnormal")
    rows = list(s.execute(
        select(Order.order_id, ChargingSession.session_id, Order.sid)
        .join(ChargingSession, ChargingSession.order_id == Order.order_id)
        .where(Order.state.in_(open_states), Order.updated_at < stamp - quiet_ms, ended)
        .order_by(Order.updated_at).limit(limit)
    ))
    lock_stations(s, {sid for *_, sid in rows})  # several orders: their stations first (cloud/db.py)
    moved = []
    for oid, session_id, _sid in rows:
        before = _lock(s, oid)
        if before is None or before.state not in open_states:
            continue
        after = advance(s, session_id, rated_power=rated_power, now=stamp)
        if after is not None and after.state not in open_states:
            moved.append(oid)
    return moved


def fail_safe(s: Session, sid: str, record: Mapping[str, Any], why: str) -> None:
    """Billing raised on a record: its order (if any) goes abnormal with the error, the hold
    kept, so that a person looks at it; nothing else changes."""
    session_id = record.get("session_id")
    sess = _session(s, session_id) if isinstance(session_id, str) else None
    order = _order_of(s, sess) if sess is not None else None
    if order is None:
        return
    reason = f"billing_error: {why}"[:200]
    if order.state == State.ENDED.value:
        orders.apply(s, order.order_id, Event.BILL_REJECTED, reason=reason)
    elif order.state in (State.STARTING.value, State.CHARGING.value):
        orders.apply(s, order.order_id, Event.TIMEOUT, reason=reason)
