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

import functools
from collections import defaultdict
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, case, cast, false, func, or_, select, true
from sqlalchemy.orm import Session

from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.models import Station, StationGunCount, StationState, now_ms
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
    local,
    month_days,
    zone,
)
from cloud.reports.sources import Sids, Source, hour_bucket, in_window, scoped, sources, where_all
from cloud.stations.monitor import state_bucket

FEES = tuple(FEE_LINES)  # electricity, service, idle
# The home figures, in the order the page shows them.
METRICS = ("new_accounts", "recharge_fen", "charging_fen", "energy_wh", "sessions", "charging_ms")
PLATFORM_ONLY = frozenset({"new_accounts", "recharge_fen"})


def _window_query(
    src: Source, scope: str, windows: tuple[tuple[str, bool], ...]
) -> tuple[Any, list[tuple[str, str]]]:
    """One source's single-row query: SUM(value) per metric and window; it reads only the rows
    in some window (one index range each). The windows' bounds and the stations in scope are
    bound parameters (`<window>_start`, `<window>_end`, `sids`): the statement is built once
    per shape (_window_statement), not once per view."""
    bounds = {
        name: Window(
            None if not has_start else bindparam(f"{name}_start"), bindparam(f"{name}_end")
        )
        for name, has_start in windows
    }
    cols, keys = [], []
    for metric, value in src.values.items():
        for name, w in bounds.items():
            cols.append(func.coalesce(func.sum(case((in_window(src.ts, w), value), else_=0)), 0))
            keys.append((metric, name))
    ranges = or_(*(in_window(src.ts, w) for w in bounds.values()))
    cond = []
    if src.sid is not None and scope != "all":
        cond = [false()] if scope == "none" else [src.sid.in_(bindparam("sids", expanding=True))]
    return select(*cols).select_from(src.froms).where(ranges, *src.where, *cond), keys


@functools.lru_cache(maxsize=64)
def _window_statement(
    platform: bool, scope: str, windows: tuple[tuple[str, bool], ...]
) -> tuple[Any, list[tuple[str, str]]]:
    """Every source's one-row aggregate, cross-joined into one statement (one round trip);
    `platform` False leaves out the figures that belong to no station."""
    subs, keys = [], []
    for src in sources():
        if src.sid is None and not platform:
            continue
        q, k = _window_query(src, scope, windows)
        subs.append(q.subquery())
        keys += k
    joined = subs[0]
    for sub in subs[1:]:
        joined = joined.join(sub, true())  # one row each: the cross join is one row
    return select(*(c for sub in subs for c in sub.c)).select_from(joined), keys


def _window_sums(
    s: Session, platform: bool, sids: Sids, windows: dict[str, Window]
) -> dict[str, dict[str, int]]:
    """metric → window name → SUM(value), for every source (the platform's figures too when
    `platform`) in one round trip."""
    scope = "all" if sids is None else ("some" if sids else "none")
    stmt, keys = _window_statement(
        platform, scope, tuple((n, w.start is not None) for n, w in windows.items())
    )
    params: dict[str, Any] = {"sids": sorted(sids)} if scope == "some" else {}
    for name, w in windows.items():
        params[f"{name}_end"] = w.end
        if w.start is not None:
            params[f"{name}_start"] = w.start
    conn = s.connection()
    if conn.dialect.name == "postgresql":
        # A few thousand rows: a parallel worker's start costs more than it saves (25 ms of a
        # 49 ms query under load, EXPLAIN ANALYZE at 1,000,000 orders); this transaction only.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    row = conn.execute(stmt, params).one()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (metric, name), v in zip(keys, row, strict=True):
        out[metric][name] = int(v)
    return out


# --- the home page ------------------------------------------------------------------------------
def home_figures(
    s: Session, sids: Sids = None, tz: str | ZoneInfo = DEFAULT_TZ, *, now: int | None = None
) -> dict[str, Any]:
    """Everything the home page shows, in seven round trips: the six figures for today, this
    month to date and all time, each with its month-on-month and year-on-year comparison;
    this month's charging by day; stations and guns by state.

    figures[metric][scope] = {"value", "mom", "mom_change", "yoy", "yoy_change"} (changes are
    ratios, None when the earlier window is zero; the whole entry None for a platform-only
    figure under an owner's scope)."""
    t = now_ms() if now is None else now
    z = zone(tz)
    sums, today = _figure_sums(s, sids, t, z)
    figures: dict[str, Any] = {}
    for metric in METRICS:
        if metric not in sums:
            figures[metric] = None
            continue
        figures[metric] = {}
        for scope in SCOPES:
            v = sums[metric][scope]
            figures[metric][scope] = {
                "value": v["cur"],
                "mom": v["mom"],
                "mom_change": change(v["cur"], v["mom"]),
                "yoy": v["yoy"],
                "yoy_change": change(v["cur"], v["yoy"]),
            }
    return {
        "at": t,
        "tz": z.key,
        "figures": figures,
        "by_day": _by_day(s, sids, z, t, today),
        "map": station_map(s, sids),
    }


def _split(w: Window, z: ZoneInfo) -> tuple[tuple[date | None, date], Window]:
    """A window as its whole days (read from the rollup) and the partial day at its end (read
    from the rows): [start, end) = days [start's date, end's date) + [end's midnight, end)."""
    last = local(w.end, z).date()
    first = None if w.start is None else local(w.start, z).date()
    return (first, last), Window(day_start(last, z), w.end)


def _figure_sums(
    s: Session, sids: Sids, t: int, z: ZoneInfo
) -> tuple[dict[str, Any], dict[str, int]]:
    """(metric → scope → comparison → value, this month's whole days); every window is its
    whole days from the rollup plus its partial last day from the rows (rollup.py)."""
    rollup.refresh(s, z, now=t)
    w = home_windows(t, z)
    days, partial = {}, {}
    for scope in SCOPES:
        for cmp in COMPARE:
            days[f"{scope}.{cmp}"], partial[cmp] = _split(w[scope][cmp], z)
    # figures that belong to no station: an owner never sees them
    live = _window_sums(s, sids is None, sids, partial)
    whole = rollup.sums(s, sids, z, days)
    sums = {
        metric: {
            scope: {cmp: whole[f"{scope}.{cmp}"][metric] + by_cmp[cmp] for cmp in COMPARE}
            for scope in SCOPES
        }
        for metric, by_cmp in live.items()
    }
    return sums, {
        m: live.get(m, {}).get("cur", 0) for m in ("charging_fen", "energy_wh", "sessions")
    }


def charging_by_day(
    s: Session, sids: Sids = None, tz: str | ZoneInfo = DEFAULT_TZ, *, now: int | None = None
) -> list[dict[str, Any]]:
    """This month's charging, one entry per local day up to today (days without charging
    included, as zeros): {"date", "charging_fen", "energy_wh", "sessions"}."""
    t = now_ms() if now is None else now
    z = zone(tz)
    rollup.refresh(s, z, now=t)
    today_w = {"cur": Window(day_start(local(t, z).date(), z), t)}
    today = {m: v["cur"] for m, v in _window_sums(s, False, sids, today_w).items()}
    return _by_day(s, sids, z, t, today)


def _by_day(
    s: Session, sids: Sids, z: ZoneInfo, t: int, today: dict[str, int]
) -> list[dict[str, Any]]:
    days = month_days(t, z)
    whole = rollup.by_day(s, sids, z, days[0], days[-1])
    out = []
    for d in days:
        v = today if d == days[-1] else whole.get(d.isoformat(), {})
        out.append(
            {
                "date": d.isoformat(),
                **{m: int(v.get(m, 0)) for m in ("charging_fen", "energy_wh", "sessions")},
            }
        )
    return out


def station_map(s: Session, sids: Sids = None) -> dict[str, Any]:
    """Stations and their guns by state, for the map: every station with its online flag, its
    archive coordinates as stored (GCJ-02, cloud/stations; None when not entered) and
    its guns counted by state (a gun of an offline station counts as `offline`, whatever its
    last telemetry said), and the totals. The counts come from `station_gun_counts`, which
    the database keeps equal to the guns (migration 0028_console10): a few rows per station,
    not every gun."""
    # one row per station: its counts aggregated to "state=n,…" in the database (a few
    # thousand count rows fetched one by one cost more than the query itself)
    c = StationGunCount
    counts = (
        select(c.sid, func.aggregate_strings(c.state + "=" + cast(c.n, String), ",").label("guns"))
        .where(c.n > 0, c.state != "", *where_all(scoped(c.sid, sids)))
        .group_by(c.sid)
        .subquery()
    )
    st_rows = (
        s.connection()
        .execute(
            select(
                Station.sid,
                Station.name,
                func.coalesce(StationState.online, False),
                Station.lat,
                Station.lng,
                Station.address,
                counts.c.guns,
            )
            .outerjoin(StationState, StationState.sid == Station.sid)
            .outerjoin(counts, counts.c.sid == Station.sid)
            .where(*where_all(scoped(Station.sid, sids)))
            .order_by(Station.sid)
        )
        .all()
    )
    stations, gun_totals = [], defaultdict(int)
    online_n = 0
    for sid, name, online, lat, lng, address, packed in st_rows:
        by_state = _unpack_counts(packed)
        if not online and by_state:
            by_state = {"offline": sum(by_state.values())}
        online_n += bool(online)
        for k, v in by_state.items():
            gun_totals[k] += v
        stations.append(
            {
                "sid": sid,
                "name": name,
                "online": bool(online),
                "guns": by_state,
                "lat": lat,
                "lng": lng,
                "address": address,
            }
        )
    return {
        "stations": stations,
        "totals": {
            "stations": {"online": online_n, "offline": len(st_rows) - online_n},
            "guns": dict(sorted(gun_totals.items())),
        },
    }


def _unpack_counts(packed: str | None) -> dict[str, int]:
    """ "charging=2,available=1,finishing=1" → {"charging": 2, "idle": 1, "plugged": 1}
    (states sorted: the order of an aggregate is not defined)."""
    if not packed:
        return {}
    # the gateways' own words (available, finishing, …) folded into the console's states
    out: dict[str, int] = defaultdict(int)
    for state, _, n in (item.rpartition("=") for item in packed.split(",")):
        out[state_bucket(state)] += int(n)
    return dict(sorted(out.items()))


# --- revenue ------------------------------------------------------------------------------------
def revenue(
    s: Session,
    sids: Sids,
    start: int,
    end: int,
    *,
    by: str = "day",
    tz: str | ZoneInfo = DEFAULT_TZ,
) -> list[dict[str, Any]]:
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
    fee_rows = (
        s.connection()
        .execute(
            select(key_col, OrderLine.kind, func.sum(OrderLine.fen))
            .join(OrderLine, OrderLine.order_id == Order.order_id)
            .where(*where)
            .group_by(key_col, OrderLine.kind)
        )
        .all()
    )
    n_rows = (
        s.connection().execute(select(key_col, func.count()).where(*where).group_by(key_col)).all()
    )

    def key_of(raw: Any) -> str:
        if by == "station":
            return str(raw)
        d = local(anchor + int(raw) * 3_600_000, z).date()
        return d.isoformat() if by == "day" else d.isoformat()[:7]

    out: dict[str, dict[str, Any]] = {}

    def row(k: str) -> dict[str, Any]:
        return out.setdefault(
            k, {"key": k, "orders": 0, **{f"{f}_fen": 0 for f in FEES}, "total_fen": 0}
        )

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
    rows = (
        s.connection()
        .execute(
            select(LedgerAccount.kind, func.sum(LedgerEntry.amount))
            .select_from(tx)
            .join(LedgerEntry, LedgerEntry.txn_id == tx.id)
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .join(Order, Order.order_id == tx.order_id)
            .where(
                tx.kind == "settle",
                LedgerAccount.kind.in_([k.value for k in FEE_LINES.values()]),
                Order.settled_at >= start,
                Order.settled_at < end,
                *where_all(scoped(Order.sid, sids)),
            )
            .group_by(LedgerAccount.kind)
        )
        .all()
    )
    by_kind = {k: int(v or 0) for k, v in rows}
    return {fee: by_kind.get(acct.value, 0) for fee, acct in FEE_LINES.items()}
