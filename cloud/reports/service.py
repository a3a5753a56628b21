"""The console's figures and reports: plain functions over the orders, the ledger, the
sessions and the stations' live state (no Flask request objects).

Every function takes `sids`: the stations the caller may see (None = all; an empty set sees
nothing) and applies it in SQL, so that a station owner's figures never include another
owner's rows. Figures that belong to no station (new accounts, recharges: a driver's wallet
is the platform's, not a station's) are None under an owner's scope. Day and month
boundaries are local to `tz` (stations are in Asia/Shanghai by default). Definitions:
docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, literal_column, or_, select
from sqlalchemy.orm import Session

from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.models import ChargingSession, Gun, Station, StationState, now_ms
from cloud.orders.models import Order, OrderLine
from cloud.reports import rollup
from cloud.reports.periods import (
    COMPARE,
    DEFAULT_TZ,
    SCOPES,
    Window,
    change,
    day_start,
    home_windows,
    hour_buckets_to_dates,
    local,
    month_days,
    zone,
)
from cloud.reports.sources import Sids, Source, in_window, scoped, sources, where_all

FEES = tuple(FEE_LINES)  # electricity, service, idle
# The home figures, in the order the page shows them.
METRICS = ("new_accounts", "recharge_fen", "charging_fen", "energy_wh", "sessions", "charging_ms")
PLATFORM_ONLY = frozenset({"new_accounts", "recharge_fen"})


def hour_bucket(ts: Any, start: int) -> ColumnElement[int]:
    """Whole hours since `start`, as an integer: literal SQL (no bound parameters), so that
    PostgreSQL sees the GROUP BY expression equal to the selected one."""
    return (ts - literal_column(str(int(start)))).self_group().op("/")(literal_column("3600000"))


def _window_sums(s: Session, src: Source, sids: Sids, windows: dict[str, Window]) -> dict[str, dict[str, int]]:
    """One query: metric → window name → SUM(value) over that window; the rows read are those
    in some window (one index range each)."""
    cols, keys = [], []
    for metric, value in src.values.items():
        for name, w in windows.items():
            cols.append(func.coalesce(func.sum(case((in_window(src.ts, w), value), else_=0)), 0))
            keys.append((metric, name))
    ranges = or_(*(in_window(src.ts, w) for w in windows.values()))
    scope = [] if src.sid is None else where_all(scoped(src.sid, sids))
    row = s.execute(select(*cols).select_from(src.froms).where(ranges, *src.where, *scope)).one()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (metric, name), v in zip(keys, row, strict=True):
        out[metric][name] = int(v)
    return out


# --- the home page ------------------------------------------------------------------------------
def home_figures(s: Session, sids: Sids = None, tz: str | ZoneInfo = DEFAULT_TZ, *,
                 now: int | None = None) -> dict[str, Any]:
    """Everything the home page shows, from five queries: the six figures for today, this
    month to date and all time, each with its month-on-month and year-on-year comparison;
    this month's charging by day; stations and guns by state.

    figures[metric][scope] = {"value", "mom", "mom_change", "yoy", "yoy_change"} (changes are
    ratios, None when the earlier window is zero; the whole entry None for a platform-only
    figure under an owner's scope)."""
    t = now_ms() if now is None else now
    z = zone(tz)
    sums = _figure_sums(s, sids, t, z)
    figures: dict[str, Any] = {}
    for metric in METRICS:
        if metric not in sums:
            figures[metric] = None
            continue
        figures[metric] = {}
        for scope in SCOPES:
            v = sums[metric][scope]
            figures[metric][scope] = {
                "value": v["cur"], "mom": v["mom"], "mom_change": change(v["cur"], v["mom"]),
                "yoy": v["yoy"], "yoy_change": change(v["cur"], v["yoy"]),
            }
    return {"at": t, "tz": z.key, "figures": figures, "by_day": charging_by_day(s, sids, z, now=t),
            "map": station_map(s, sids)}


def _figure_sums(s: Session, sids: Sids, t: int, z: ZoneInfo) -> dict[str, Any]:
    """metric → scope → comparison → value. Today and this month (and the months they are
    compared with) are summed from the rows; all time is the closed months' rollup before
    each month window plus that window (rollup.py)."""
    w = home_windows(t, z)
    live = {f"{scope}.{cmp}": w[scope][cmp] for scope in ("today", "month") for cmp in COMPARE}
    sums: dict[str, Any] = {}
    for src in sources():
        if src.sid is None and sids is not None:
            continue  # no station's figure: an owner never sees it
        for metric, by_window in _window_sums(s, src, sids, live).items():
            sums[metric] = {scope: {cmp: by_window[f"{scope}.{cmp}"] for cmp in COMPARE}
                            for scope in ("today", "month")}
    before = rollup.totals_before(s, sids, z, {cmp: w["month"][cmp].start for cmp in COMPARE}, now=t)
    for metric, by_scope in sums.items():
        by_scope["total"] = {cmp: before[cmp][metric] + by_scope["month"][cmp] for cmp in COMPARE}
    return sums


def charging_by_day(s: Session, sids: Sids = None, tz: str | ZoneInfo = DEFAULT_TZ, *,
                    now: int | None = None) -> list[dict[str, Any]]:
    """This month's charging, one entry per local day up to today (days without charging
    included, as zeros): {"date", "charging_fen", "energy_wh", "sessions"}."""
    t = now_ms() if now is None else now
    z = zone(tz)
    days = month_days(t, z)
    m0 = int(local(t, z).replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
    out = {d: {"date": d.isoformat(), "charging_fen": 0, "energy_wh": 0, "sessions": 0} for d in days}
    bucket = hour_bucket(Order.settled_at, m0)
    rows = s.execute(
        select(bucket, func.sum(Order.total_fen)).where(
            Order.settled_at >= m0, Order.settled_at < t, *where_all(scoped(Order.sid, sids)))
        .group_by(bucket)).all()
    _add(out, m0, rows, z, "charging_fen")
    cs = ChargingSession
    bucket = hour_bucket(cs.ended_at, m0)
    energy = case((cs.energy_start_wh.is_(None), 0),
                  else_=func.coalesce(cs.energy_stop_wh, cs.energy_wh, cs.energy_start_wh) - cs.energy_start_wh)
    rows = s.execute(
        select(bucket, func.sum(energy), func.count()).where(
            cs.ended_at >= m0, cs.ended_at < t, *where_all(scoped(cs.sid, sids)))
        .group_by(bucket)).all()
    _add(out, m0, [(b, e) for b, e, _ in rows], z, "energy_wh")
    _add(out, m0, [(b, n) for b, _, n in rows], z, "sessions")
    return list(out.values())


def _add(out: dict[date, dict[str, Any]], start: int, rows: Iterable[tuple[Any, Any]], z: ZoneInfo,
         key: str) -> None:
    rows = [(int(b), int(v or 0)) for b, v in rows]
    dates = hour_buckets_to_dates(start, [b for b, _ in rows], z)
    for b, v in rows:
        out[dates[b]][key] += v


def station_map(s: Session, sids: Sids = None) -> dict[str, Any]:
    """Stations and their guns by state, for the map: every station with its online flag and
    its guns counted by state (a gun of an offline station counts as `offline`, whatever its
    last telemetry said), and the totals."""
    st_rows = s.execute(
        select(Station.sid, Station.name, func.coalesce(StationState.online, False))
        .outerjoin(StationState, StationState.sid == Station.sid)
        .where(*where_all(scoped(Station.sid, sids))).order_by(Station.sid)).all()
    guns: dict[str, dict[str, int]] = defaultdict(dict)
    for sid, state, n in s.execute(
        select(Gun.sid, Gun.state, func.count()).where(*where_all(scoped(Gun.sid, sids)))
        .group_by(Gun.sid, Gun.state)
    ).all():
        guns[sid][state or "unknown"] = guns[sid].get(state or "unknown", 0) + int(n)
    stations, gun_totals = [], defaultdict(int)
    online_n = 0
    for sid, name, online in st_rows:
        by_state = dict(guns.get(sid, {}))
        if not online and by_state:
            by_state = {"offline": sum(by_state.values())}
        online_n += bool(online)
        for k, v in by_state.items():
            gun_totals[k] += v
        stations.append({"sid": sid, "name": name, "online": bool(online), "guns": by_state})
    return {"stations": stations,
            "totals": {"stations": {"online": online_n, "offline": len(st_rows) - online_n},
                       "guns": dict(sorted(gun_totals.items()))}}


# --- revenue ------------------------------------------------------------------------------------
def revenue(s: Session, sids: Sids, start: int, end: int, *, by: str = "day",
            tz: str | ZoneInfo = DEFAULT_TZ) -> list[dict[str, Any]]:
    """Revenue of the orders settled in [start, end), split by fee type, grouped `by` day,
    month (local to tz) or station: [{"key", "orders", "electricity_fen", "service_fen",
    "idle_fen", "total_fen"}] in key order. Read from the settled orders' lines; the ledger's
    revenue accounts hold the same amounts (ledger_revenue; docs/reports.md)."""
    if by not in ("day", "month", "station"):
        raise ValueError(f"by must be day, month or station: {by!r}")
    z = zone(tz)
    anchor = day_start(local(start, z).date(), z)  # hours counted from a local midnight
    key_col = Order.sid if by == "station" else hour_bucket(Order.settled_at, anchor)
    where = [Order.settled_at >= start, Order.settled_at < end, *where_all(scoped(Order.sid, sids))]
    fee_rows = s.execute(
        select(key_col, OrderLine.kind, func.sum(OrderLine.fen))
        .join(OrderLine, OrderLine.order_id == Order.order_id).where(*where)
        .group_by(key_col, OrderLine.kind)).all()
    n_rows = s.execute(select(key_col, func.count()).where(*where).group_by(key_col)).all()

    def key_of(raw: Any) -> str:
        if by == "station":
            return str(raw)
        d = local(anchor + int(raw) * 3_600_000, z).date()
        return d.isoformat() if by == "day" else d.isoformat()[:7]

    out: dict[str, dict[str, Any]] = {}

    def row(k: str) -> dict[str, Any]:
        return out.setdefault(k, {"key": k, "orders": 0, **{f"{f}_fen": 0 for f in FEES}, "total_fen": 0})

    for raw, kind, fen in fee_rows:
        r = row(key_of(raw))
        r[f"{kind}_fen"] += int(fen or 0)
        r["total_fen"] += int(fen or 0)
    for raw, n in n_rows:
        row(key_of(raw))["orders"] += int(n)
    return [out[k] for k in sorted(out)]


def ledger_revenue(s: Session, sids: Sids, start: int, end: int) -> dict[str, int]:
    """What the ledger's revenue accounts received for the orders settled in [start, end):
    fee type → fen. The reconciliation of revenue(): the two must agree."""
    tx = LedgerTransaction
    rows = s.execute(
        select(LedgerAccount.kind, func.sum(LedgerEntry.amount))
        .select_from(tx).join(LedgerEntry, LedgerEntry.txn_id == tx.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .join(Order, Order.order_id == tx.order_id)
        .where(tx.kind == "settle", LedgerAccount.kind.in_([k.value for k in FEE_LINES.values()]),
               Order.settled_at >= start, Order.settled_at < end, *where_all(scoped(Order.sid, sids)))
        .group_by(LedgerAccount.kind)).all()
    by_kind = {k: int(v or 0) for k, v in rows}
    return {fee: by_kind.get(acct.value, 0) for fee, acct in FEE_LINES.items()}
