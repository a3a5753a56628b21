"""Order service: plain functions over an SQLAlchemy Session (no Flask objects).

Each function moves one order by the state machine (cloud.orders.machine) and posts what the
transition does to the money to the ledger in the caller's database transaction, so the
order's state and its postings commit together or not at all. The caller commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import lock_stations, take_write_lock
from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES, Kind, driver_code
from cloud.ledger.errors import InvalidInput
from cloud.models.base import now_ms
from cloud.orders.machine import DEFAULT_REASONS, NEEDS_REASON, Event, Money, State, step
from cloud.orders.models import Order, OrderLine
from cloud.sharing import service as sharing

LIMIT_MODES = ("amount", "energy", "time", "full")


class OrderError(Exception):
    code = "order_error"


class UnknownOrder(OrderError):
    code = "unknown_order"


class OrderConflict(OrderError):
    """The order id exists with other terms."""

    code = "order_conflict"


class BadOrderInput(OrderError, ValueError):
    code = "bad_order_input"


@dataclass(frozen=True)
class Line:
    """One bill line: an electricity or service fee of one time-of-use period, or the idle fee."""

    kind: str
    fen: int
    period: str | None = None
    energy_wh: int | None = None


# SQLite's write lock before a read that leads to a write (cloud/db.py take_write_lock).
_sqlite_write_lock = take_write_lock


def _lock_order(s: Session, order_id: str) -> Order | None:
    _sqlite_write_lock(s)
    q = select(Order).where(Order.order_id == order_id).execution_options(populate_existing=True)
    if s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return s.execute(q).scalar_one_or_none()


def create(
    s: Session,
    *,
    order_id: str,
    driver_id: str,
    sid: str,
    gun: str,
    limit_mode: str,
    limit_value: int,
    hold_fen: int,
    tariff_id: str | None = None,
    tariff_version: int | None = None,
    now: int | None = None,
    cash_only: bool = False,
) -> Order:
    """A new order in `created`, its hold placed (what the driver owes is collected from the
    balance first). Idempotent on order_id: the same terms return the existing order, other
    terms raise OrderConflict. InsufficientFunds (cloud.ledger.errors) if the balance is short.
    `cash_only`: the hold from cash alone (an order paid by its own WeChat payment)."""
    if limit_mode not in LIMIT_MODES:
        raise BadOrderInput(f"limit_mode must be one of {', '.join(LIMIT_MODES)}: {limit_mode!r}")
    if isinstance(limit_value, bool) or not isinstance(limit_value, int) or limit_value < 0:
        raise BadOrderInput(f"limit_value must be an integer >= 0: {limit_value!r}")
    terms = (driver_id, sid, gun, limit_mode, limit_value, hold_fen, tariff_id, tariff_version)

    def same(o: Order) -> Order:
        if (o.driver_id, o.sid, o.gun, o.limit_mode, o.limit_value, o.hold_fen, o.tariff_id,
                o.tariff_version) != terms:
            raise OrderConflict(f"order {order_id!r} exists with other terms")
        return o

    # Lock order as apply() does (order row, then the driver's accounts): no deadlock.
    existing = _lock_order(s, order_id)
    if existing is not None:
        return same(existing)
    ledger.lock_driver(s, driver_id)  # a concurrent create of the same order waits here
    existing = s.execute(
        select(Order).where(Order.order_id == order_id).execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if existing is not None:  # created by the one we waited for
        return same(existing)
    ledger.collect_debt(s, driver_id, key=f"collect:{order_id}")
    ledger.hold(s, driver_id, order_id, hold_fen, cash_only=cash_only)
    t = now_ms() if now is None else now
    order = Order(order_id=order_id, driver_id=driver_id, sid=sid, gun=gun, limit_mode=limit_mode,
                  limit_value=limit_value, hold_fen=hold_fen, tariff_id=tariff_id,
                  tariff_version=tariff_version, state=State.CREATED.value, created_at=t,
                  updated_at=t)
    s.add(order)
    s.flush()
    _changed(s, order_id)
    return order


def _check_lines(lines: Iterable[Line]) -> list[Line]:
    out = list(lines)
    for ln in out:
        if ln.kind not in FEE_LINES:
            raise BadOrderInput(f"bill line kind must be one of {', '.join(FEE_LINES)}: {ln.kind!r}")
        if isinstance(ln.fen, bool) or not isinstance(ln.fen, int) or ln.fen < 0:
            raise BadOrderInput(f"bill line fen must be an integer >= 0: {ln.fen!r}")
        if ln.energy_wh is not None and (not isinstance(ln.energy_wh, int) or ln.energy_wh < 0):
            raise BadOrderInput(f"bill line energy_wh must be an integer >= 0: {ln.energy_wh!r}")
    return out


def apply(
    s: Session,
    order_id: str,
    event: Event | str,
    *,
    reason: str | None = None,
    lines: Sequence[Line] | None = None,
    session_id: str | None = None,
    now: int | None = None,
) -> Order:
    """Move the order by `event` (IllegalTransition from cloud.orders.machine if it may not
    take it) and post the money the transition moves: `release` gives the hold back, `settle`
    books `lines` (required then) against it."""
    order = _lock_order(s, order_id)
    if order is None:
        raise UnknownOrder(f"no order {order_id!r}")
    t = step(order.state, event)
    if (t.source, t.event) in NEEDS_REASON and not reason:
        raise BadOrderInput(f"{t.event.value} makes the order abnormal: a reason is required")
    bill: list[Line] = []
    if t.money is Money.SETTLE:
        if lines is None:
            raise BadOrderInput(f"{t.event.value} settles the order: its bill lines are required")
        bill = _check_lines(lines)
    elif lines:
        raise BadOrderInput(f"{t.event.value} books no bill: lines are not taken")
    stamp = now_ms() if now is None else now
    if t.money is Money.RELEASE:
        ledger.release(s, order_id)
    elif t.money is Money.SETTLE:
        totals = {k: sum(ln.fen for ln in bill if ln.kind == k) for k in FEE_LINES}
        try:
            posting = ledger.settle(s, order_id, totals)
        except InvalidInput as exc:
            raise BadOrderInput(str(exc)) from exc
        s.add_all(OrderLine(order_id=order_id, n=i, kind=ln.kind, period=ln.period,
                            energy_wh=ln.energy_wh, fen=ln.fen) for i, ln in enumerate(bill, 1))
        order.total_fen = sum(totals.values())
        # a shared gun's order: the owner's part of the revenue to the owner (docs/sharing.md)
        sharing.split_order(s, order_id, order.sid, order.gun, totals, now=stamp)
        order.debt_fen = -posting.amount_on(driver_code(order.driver_id, Kind.DEBT))
        order.settled_at = stamp
    if t.target is State.ABNORMAL and t.source is not State.ABNORMAL:
        why = reason or DEFAULT_REASONS[(t.source, t.event)]
        order.abnormal_reason = why[:200]
    if session_id is not None and order.session_id is None:
        order.session_id = session_id
    order.state = t.target.value
    order.updated_at = stamp
    s.flush()
    _changed(s, order_id)
    return order


def _changed(s: Session, order_id: str) -> None:
    """The driver's progress poll reads a snapshot of the order, rebuilt when this commits."""
    from cloud.charging import progress

    progress.mark(s, [order_id])


def get(s: Session, order_id: str) -> Order | None:
    return s.get(Order, order_id)


def lines_of(s: Session, order_id: str) -> list[OrderLine]:
    return list(s.execute(
        select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.n)
    ).scalars())


def close_stale(s: Session, *, older_than_ms: int, now: int | None = None,
                limit: int = 500) -> list[str]:
    """The periodic job: orders untouched for `older_than_ms` never stay open. A `created`
    order (its start never sent) is cancelled and its hold returned; one starting, charging or
    ended is marked abnormal and keeps its hold for review (its records may still come).
    Returns the order ids moved. Safe in two processes at once: each order is re-read under
    its lock and moved only if still stale."""
    stamp = now_ms() if now is None else now
    cutoff = stamp - older_than_ms
    _sqlite_write_lock(s)
    open_states = (State.CREATED, State.STARTING, State.CHARGING, State.ENDED)
    rows = list(s.execute(
        select(Order.order_id, Order.sid)
        .where(Order.state.in_([st.value for st in open_states]), Order.updated_at < cutoff)
        .order_by(Order.updated_at).limit(limit)
    ))
    lock_stations(s, {sid for _, sid in rows})  # several orders: their stations first (cloud/db.py)
    ids = [oid for oid, _ in rows]
    moved = []
    for oid in ids:
        order = _lock_order(s, oid)
        if order is None or order.updated_at >= cutoff or State(order.state) not in open_states:
            continue
        if order.state == State.CREATED.value:
            apply(s, oid, Event.CANCEL, now=stamp)
        else:
            apply(s, oid, Event.TIMEOUT, now=stamp)
        moved.append(oid)
    return moved


def for_driver(s: Session, driver_id: str, *, limit: int = 20) -> list[Order]:
    """A driver's latest orders, newest first."""
    return list(s.scalars(select(Order).where(Order.driver_id == driver_id)
                          .order_by(Order.created_at.desc()).limit(limit)))


# -- the console's views (paginated, owner-scoped: `sids` None means every station) ----------

@dataclass(frozen=True)
class Page:
    rows: list[Order]
    page: int
    pages: int


def _scoped(q, sids: set[str] | None):  # noqa: ANN001, ANN202
    return q if sids is None else q.where(Order.sid.in_(sids))


def listing(s: Session, *, sids: set[str] | None, state: str | None = None, sid: str | None = None,
            page: int = 1, per: int = 50) -> Page:
    """Orders newest first; the abnormal queue is `state="abnormal"`."""
    from sqlalchemy import func

    q = _scoped(select(Order), sids).order_by(Order.created_at.desc(), Order.order_id.desc())
    c = _scoped(select(func.count()).select_from(Order), sids)
    if state:
        q, c = q.where(Order.state == state), c.where(Order.state == state)
    if sid:
        q, c = q.where(Order.sid == sid), c.where(Order.sid == sid)
    total = s.scalar(c) or 0
    pages = max(1, -(-total // per))
    page = min(max(1, page), pages)
    return Page(list(s.scalars(q.limit(per).offset((page - 1) * per))), page, pages)


def get_scoped(s: Session, order_id: str, sids: set[str] | None) -> Order | None:
    """The order if it is at a station the caller may see (else None, as if it did not exist)."""
    o = s.get(Order, order_id)
    return o if o is not None and (sids is None or o.sid in sids) else None


@dataclass(frozen=True)
class Evidence:
    """What an operator judges an abnormal order by: its session, the session's records as
    received, and the station's records that arrived under an already used sequence number."""

    session: object | None
    records: list[object]
    conflicts: list[object]


def evidence(s: Session, order: Order, *, limit: int = 200) -> Evidence:
    from cloud.models.records import ChargingSession, RawRecord, SeqConflict

    sess = None
    if order.session_id:
        sess = s.get(ChargingSession, order.session_id)
    if sess is None:
        sess = s.scalar(select(ChargingSession).where(ChargingSession.order_id == order.order_id).limit(1))
    records: list[object] = []
    if sess is not None:
        # The session's records: those of its sid whose payload names it, in the session's time span.
        lo = (sess.started_at or order.created_at) - 3_600_000
        hi = (sess.ended_at or order.updated_at) + 3_600_000
        cand = s.scalars(select(RawRecord).where(RawRecord.sid == order.sid, RawRecord.ts >= lo, RawRecord.ts <= hi)
                         .order_by(RawRecord.seq).limit(limit * 5))
        records = [r for r in cand if isinstance(r.payload, dict)
                   and r.payload.get("session_id") == sess.session_id][:limit]
    conflicts = list(s.scalars(select(SeqConflict).where(SeqConflict.sid == order.sid)
                               .order_by(SeqConflict.id.desc()).limit(limit)))
    return Evidence(sess, records, conflicts)


@dataclass(frozen=True)
class RevenueRow:
    key: str  # the day (YYYY-MM-DD), month (YYYY-MM) or station id
    orders: int
    electricity_fen: int
    service_fen: int
    idle_fen: int

    @property
    def total_fen(self) -> int:
        return self.electricity_fen + self.service_fen + self.idle_fen


REVENUE_BY = ("day", "month", "station")


def revenue(s: Session, *, sids: set[str] | None, by: str, since_ms: int, until_ms: int,
            tz: str = "Asia/Shanghai") -> list[RevenueRow]:
    """Settled orders' bill lines (settled in [since, until)) summed per day, month (in `tz`)
    or station, split by fee type; the source of truth is order_lines, as the ledger booked them."""
    from collections import defaultdict
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from sqlalchemy import func

    if by not in REVENUE_BY:
        raise BadOrderInput(f"by must be one of {', '.join(REVENUE_BY)}")
    q = _scoped(select(Order.order_id, Order.sid, Order.settled_at, OrderLine.kind, func.sum(OrderLine.fen))
                .join(OrderLine, OrderLine.order_id == Order.order_id)
                .where(Order.state == State.SETTLED.value, Order.settled_at >= since_ms, Order.settled_at < until_ms)
                .group_by(Order.order_id, Order.sid, Order.settled_at, OrderLine.kind), sids)
    zone = ZoneInfo(tz)
    acc: dict[str, dict[str, int]] = defaultdict(lambda: {"electricity": 0, "service": 0, "idle": 0})
    seen: dict[str, set[str]] = defaultdict(set)
    for oid, sid, settled, kind, fen in s.execute(q):
        if by == "station":
            key = sid
        else:
            d = datetime.fromtimestamp(settled / 1000, zone)
            key = d.strftime("%Y-%m-%d" if by == "day" else "%Y-%m")
        acc[key][kind] += int(fen or 0)
        seen[key].add(oid)
    return [RevenueRow(k, len(seen[k]), v["electricity"], v["service"], v["idle"]) for k, v in sorted(acc.items())]
