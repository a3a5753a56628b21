"""Settlement with station owners: plain functions on a Session (no Flask request objects);
the caller commits. docs/settlement.md has the rules.

- The ledger is the source of truth: every ledger transaction that moved revenue
  (revenue_electricity / _service / _idle entries) and names an order becomes one item of
  that order's station (`take_in`).
- An item lands in the period (local day) it was booked in; if that day has closed, in the
  next open day after it. A closed day's items and lines never change.
- A day's statement per station and fee type: the items' revenue split by the share in force
  that day (split.py); an owner's statement is the lines of the stations it sees (`sids`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.models import Station, now_ms
from cloud.orders.models import Order
from cloud.settlement.models import (
    SettlementItem,
    SettlementLine,
    SettlementPeriod,
    SettlementShare,
)
from cloud.settlement.split import FEES, Part, check_bp, split
from cloud.sharing.models import SharingSplit

DEFAULT_TZ = "Asia/Shanghai"
Sids = set[str] | None


class SettlementError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


MESSAGES = {
    "bad_day": ("日期无效（YYYY-MM-DD）", "Not a date (YYYY-MM-DD)"),
    "bad_share": ("比例为 0 到 10000 的整数（基点）", "A share is a whole number of basis points, 0 to 10000"),
    "station_not_found": ("站点不存在", "No such station"),
    "period_closed": ("该账期已关闭", "That period is closed"),
    "period_not_ended": ("账期结束后才能关闭", "A period closes only after it has ended"),
}


@dataclass(frozen=True)
class Share:
    electricity_bp: int
    service_bp: int
    idle_bp: int
    commission_bp: int
    effective_day: str | None = None

    def bp(self, fee: str) -> int:
        return int(getattr(self, f"{fee}_bp"))


NO_SHARE = Share(0, 0, 0, 0)  # a station without shares: all its revenue stays with the platform


def parse_day(raw: Any) -> date:
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise SettlementError("bad_day", f"not a date: {raw!r}") from None


def local_day(ms: int, tz: str) -> date:
    from datetime import datetime

    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).date()


def day_end_ms(d: date, tz: str) -> int:
    from datetime import datetime, time

    return int(datetime.combine(d + timedelta(days=1), time(0), ZoneInfo(tz)).timestamp() * 1000)


# --- shares ---------------------------------------------------------------------------------------
def set_share(s: Session, sid: str, *, electricity_bp: Any, service_bp: Any, idle_bp: Any, commission_bp: Any,
              effective_day: Any, actor: str, ip: str | None = None) -> Share:
    """The station's shares from `effective_day` on (a day not closed); the same day again
    replaces that day's version. Audited."""
    from cloud.audit import service as audit

    d = parse_day(effective_day).isoformat()
    try:
        bps = {k: check_bp(int(v)) for k, v in (("electricity_bp", electricity_bp), ("service_bp", service_bp),
                                                 ("idle_bp", idle_bp), ("commission_bp", commission_bp))}
    except (TypeError, ValueError):
        raise SettlementError("bad_share", "basis points are whole numbers 0..10000") from None
    if s.get(Station, sid) is None:
        raise SettlementError("station_not_found", f"no station {sid!r}")
    if s.get(SettlementPeriod, d) is not None:
        raise SettlementError("period_closed", f"{d} is closed")
    row = s.scalars(select(SettlementShare).where(SettlementShare.sid == sid, SettlementShare.effective_day == d)).first()
    before = None if row is None else {k: getattr(row, k) for k in bps}
    if row is None:
        row = SettlementShare(sid=sid, effective_day=d, created_by=actor, created_at=now_ms(), **bps)
        s.add(row)
    else:
        for k, v in bps.items():
            setattr(row, k, v)
        row.created_by, row.created_at = actor, now_ms()
    s.flush()
    audit.record(s, actor, "settlement.share", f"station:{sid}", {"effective_day": d, **bps, "before": before}, ip)
    return Share(effective_day=d, **bps)


def share_on(s: Session, sid: str, day: date) -> Share:
    row = s.scalars(select(SettlementShare).where(SettlementShare.sid == sid,
                                                  SettlementShare.effective_day <= day.isoformat())
                    .order_by(SettlementShare.effective_day.desc()).limit(1)).first()
    if row is None:
        return NO_SHARE
    return Share(row.electricity_bp, row.service_bp, row.idle_bp, row.commission_bp, row.effective_day)


def shares(s: Session, sids: Sids = None) -> list[dict[str, Any]]:
    """Every station in scope with its share versions, newest first."""
    q = select(Station.sid, Station.name).order_by(Station.sid)
    if sids is not None:
        q = q.where(Station.sid.in_(sorted(sids)))
    out = {sid: {"sid": sid, "name": name, "versions": []} for sid, name in s.execute(q).all()}
    if out:
        for r in s.scalars(select(SettlementShare).where(SettlementShare.sid.in_(list(out)))
                           .order_by(SettlementShare.sid, SettlementShare.effective_day.desc())):
            out[r.sid]["versions"].append(Share(r.electricity_bp, r.service_bp, r.idle_bp, r.commission_bp,
                                                r.effective_day))
    return list(out.values())


# --- taking in the ledger's revenue ---------------------------------------------------------------
def is_closed(s: Session, d: date) -> bool:
    return s.get(SettlementPeriod, d.isoformat()) is not None


def landing_day(s: Session, booked: date) -> date:
    """The booked day if open, else the first open day after it."""
    closed = set(s.scalars(select(SettlementPeriod.day).where(SettlementPeriod.day >= booked.isoformat())))
    d = booked
    while d.isoformat() in closed:
        d += timedelta(days=1)
    return d


LOCK_KEY = 0x6A63_5345_544C  # "jcSETL": one advisory lock for taking in and closing


def _lock(s: Session) -> None:
    """Serialise take_in and close on PostgreSQL (a transaction-scoped advisory lock): a day
    being closed never receives an item between its lines being computed and its closing, and
    two take_ins never insert the same transaction. SQLite has one writer at a time anyway."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))


def take_in(s: Session, tz: str = DEFAULT_TZ) -> int:
    """Make an item of every revenue posting of the ledger not taken in yet. Returns how many."""
    _lock(s)
    revenue_kinds = {acct.value: fee for fee, acct in FEE_LINES.items()}
    taken = select(SettlementItem.txn_id)
    rows = s.execute(
        select(LedgerTransaction.id, LedgerTransaction.created_at, LedgerTransaction.order_id, Order.sid,
               LedgerAccount.kind, func.sum(LedgerEntry.amount))
        .join(LedgerEntry, LedgerEntry.txn_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(Order, Order.order_id == LedgerTransaction.order_id)
        .where(LedgerAccount.kind.in_(list(revenue_kinds)), LedgerTransaction.id.not_in(taken),
               # a shared private pile's order: its owner is paid by the split (cloud.sharing), so
               # its station's owner gets no share of it, nor is the order counted twice
               LedgerTransaction.order_id.not_in(select(SharingSplit.order_id)))
        .group_by(LedgerTransaction.id, LedgerTransaction.created_at, LedgerTransaction.order_id, Order.sid,
                  LedgerAccount.kind)
        .order_by(LedgerTransaction.id)).all()
    items: dict[int, dict[str, Any]] = {}
    for txn_id, created_at, order_id, sid, kind, amount in rows:
        it = items.setdefault(txn_id, {"txn_id": txn_id, "sid": sid, "order_id": order_id, "booked_at": created_at,
                                       **{f"{f}_fen": 0 for f in FEES}})
        it[f"{revenue_kinds[kind]}_fen"] += int(amount or 0)
    landing: dict[date, date] = {}
    for it in items.values():
        booked = local_day(it["booked_at"], tz)
        if booked not in landing:
            landing[booked] = landing_day(s, booked)
        s.add(SettlementItem(day=landing[booked].isoformat(), **it))
    s.flush()
    return len(items)


# --- statements ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    sid: str
    fee: str
    share_bp: int
    commission_bp: int
    part: Part


@dataclass(frozen=True)
class Statement:
    day: str
    closed: bool
    lines: list[Line]

    def total(self, field: str) -> int:
        return sum(getattr(ln.part, field) for ln in self.lines)

    def by_station(self) -> dict[str, list[Line]]:
        out: dict[str, list[Line]] = {}
        for ln in self.lines:
            out.setdefault(ln.sid, []).append(ln)
        return out


def _scoped(col: Any, sids: Sids) -> list[Any]:
    return [] if sids is None else [col.in_(sorted(sids))]


def _revenue(s: Session, d: date, sids: Sids) -> dict[str, dict[str, int]]:
    rows = s.execute(
        select(SettlementItem.sid, *(func.sum(getattr(SettlementItem, f"{f}_fen")) for f in FEES))
        .where(SettlementItem.day == d.isoformat(), *_scoped(SettlementItem.sid, sids))
        .group_by(SettlementItem.sid).order_by(SettlementItem.sid)).all()
    return {r[0]: {f: int(v or 0) for f, v in zip(FEES, r[1:], strict=True)} for r in rows}


def _compute(s: Session, d: date, sids: Sids) -> list[Line]:
    lines = []
    for sid, by_fee in _revenue(s, d, sids).items():
        share = share_on(s, sid, d)
        for fee in FEES:
            lines.append(Line(sid, fee, share.bp(fee), share.commission_bp,
                              split(by_fee[fee], share.bp(fee), share.commission_bp)))
    return lines


def statement(s: Session, day: Any, sids: Sids = None, tz: str = DEFAULT_TZ) -> Statement:
    """One day's statement for the stations in `sids`: frozen lines when the day is closed,
    else computed from the items taken in so far (call take_in first to be current)."""
    d = parse_day(day)
    if is_closed(s, d):
        rows = s.scalars(select(SettlementLine).where(SettlementLine.day == d.isoformat(),
                                                      *_scoped(SettlementLine.sid, sids))
                         .order_by(SettlementLine.sid, SettlementLine.fee)).all()
        order = {f: i for i, f in enumerate(FEES)}
        lines = sorted((Line(r.sid, r.fee, r.share_bp, r.commission_bp,
                             Part(r.revenue_fen, r.owner_fen, r.commission_fen, r.platform_fen)) for r in rows),
                       key=lambda ln: (ln.sid, order[ln.fee]))
        return Statement(d.isoformat(), True, lines)
    return Statement(d.isoformat(), False, _compute(s, d, sids))


def close(s: Session, day: Any, *, actor: str, tz: str = DEFAULT_TZ, now: int | None = None,
          ip: str | None = None) -> Statement:
    """Close a day that has ended: take in what the ledger holds, freeze the day's lines.
    Whatever revenue is booked for it afterwards lands in the next open day. Audited."""
    from cloud.audit import service as audit

    d = parse_day(day)
    t = now_ms() if now is None else now
    _lock(s)
    if day_end_ms(d, tz) > t:
        raise SettlementError("period_not_ended", f"{d} has not ended")
    if is_closed(s, d):
        raise SettlementError("period_closed", f"{d} is closed")
    take_in(s, tz)
    lines = _compute(s, d, None)
    for ln in lines:
        p = ln.part
        s.add(SettlementLine(day=d.isoformat(), sid=ln.sid, fee=ln.fee, revenue_fen=p.revenue, owner_fen=p.owner,
                             commission_fen=p.commission, platform_fen=p.platform, share_bp=ln.share_bp,
                             commission_bp=ln.commission_bp))
    s.add(SettlementPeriod(day=d.isoformat(), closed_at=t, closed_by=actor))
    s.flush()
    st = Statement(d.isoformat(), True, lines)
    audit.record(s, actor, "settlement.close", f"period:{d}",
                 {"revenue_fen": st.total("revenue"), "owner_fen": st.total("owner"),
                  "commission_fen": st.total("commission")}, ip)
    return st


def periods(s: Session, start: date, end: date, sids: Sids = None) -> list[dict[str, Any]]:
    """Days start..end (inclusive), newest first: closed or open, and their revenue and owner
    totals for the stations in scope (closed: the frozen lines; open: the items so far, split)."""
    closed = {r.day: r for r in s.scalars(select(SettlementPeriod).where(
        SettlementPeriod.day >= start.isoformat(), SettlementPeriod.day <= end.isoformat()))}
    out = []
    d = end
    while d >= start:
        st = statement(s, d, sids)
        row = closed.get(d.isoformat())
        out.append({"day": d.isoformat(), "closed": row is not None, "closed_at": row.closed_at if row else None,
                    "closed_by": row.closed_by if row else None, "revenue_fen": st.total("revenue"),
                    "owner_fen": st.total("owner"), "commission_fen": st.total("commission"),
                    "platform_fen": st.total("platform")})
        d -= timedelta(days=1)
    return out


def owners(s: Session) -> list[dict[str, Any]]:
    """The station owners (operators of role owner) and their stations, to pick a statement."""
    from cloud.operators.models import Operator, OperatorStation

    rows = s.execute(select(Operator.id, Operator.login, Operator.display_name, OperatorStation.sid)
                     .outerjoin(OperatorStation, OperatorStation.operator_id == Operator.id)
                     .where(Operator.role == "owner").order_by(Operator.login, OperatorStation.sid)).all()
    out: dict[int, dict[str, Any]] = {}
    for oid, login, name, sid in rows:
        o = out.setdefault(oid, {"id": oid, "login": login, "name": name, "sids": set()})
        if sid:
            o["sids"].add(sid)
    return list(out.values())
