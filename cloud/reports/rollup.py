"""Closed days rolled up (table report_days): per station, and for all stations together
(sid "*", which also holds the platform's figures), so that a window of whole days is a sum
over rollup rows and only the partial days at the windows' ends are read from the rows.

A closed day is a local day before today. Orders (settled_at), accounts (created_at) and
recharges (the ledger's created_at) are stamped with the cloud's clock, so a closed day never
gains rows. Sessions are stamped with the station's end time and can arrive late (a
gateway's outbox after an outage): a day is therefore computed again, at most once an hour,
until it has been computed GRACE_MS after its end; a session that arrives after that counts
in the windows' partial days and in revenue, but in the whole days only once
`refresh(s, tz, rebuild=True)` recomputes them.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.models.base import now_ms
from cloud.reports.models import ALL, ReportDay
from cloud.reports.periods import day_start, hour_buckets_to_dates, local, zone
from cloud.reports.sources import Sids, hour_bucket, scoped, sources

GRACE_MS = 7 * 86_400_000
RECHECK_MS = 3_600_000
RUN_DAYS = 31  # days computed by one query per source
METRICS = ("charging_fen", "energy_wh", "sessions", "charging_ms", "new_accounts", "recharge_fen")
STATION_METRICS = ("charging_fen", "energy_wh", "sessions", "charging_ms")


def _earliest(s: Session) -> int | None:
    firsts = s.connection().execute(select(*(
        select(func.min(src.ts)).where(src.ts.is_not(None), *src.own).scalar_subquery()
        for src in sources()))).one()
    firsts = [int(f) for f in firsts if f is not None]
    return min(firsts) if firsts else None


def compute(s: Session, days: list[date], z: ZoneInfo, *, now: int) -> None:
    """(Re)write the rows of consecutive `days`: per station and for all ("*")."""
    a, b = day_start(days[0], z), day_start(days[-1] + timedelta(days=1), z)
    rows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    for d in days:
        rows[(d.isoformat(), ALL)]  # the day's marker, even when nothing happened on it
    for src in sources():
        bucket = hour_bucket(src.ts, a)
        keys = [bucket] + ([src.sid] if src.sid is not None else [])
        sums = [func.coalesce(func.sum(v), 0) for v in src.values.values()]
        q = (select(*keys, *sums).select_from(src.froms)
             .where(src.ts >= a, src.ts < b, *src.where).group_by(*keys))
        result = s.connection().execute(q).all()
        dates = hour_buckets_to_dates(a, sorted({int(r[0]) for r in result}), z)
        for r in result:
            d = dates[int(r[0])].isoformat()
            vals = r[len(keys):]
            for metric, v in zip(src.values, vals, strict=True):
                rows[(d, ALL)][metric] += int(v or 0)
                if src.sid is not None:
                    rows[(d, r[1])][metric] += int(v or 0)
    with s.begin_nested():
        s.execute(delete(ReportDay).where(ReportDay.tz == z.key, ReportDay.day >= days[0].isoformat(),
                                          ReportDay.day <= days[-1].isoformat()))
        # Core executemany: a first refresh writes a row per station and day of the history
        s.execute(insert(ReportDay), [{"tz": z.key, "day": d, "sid": sid, "computed_at": now, **vals}
                                      for (d, sid), vals in rows.items()])


def _due(have: dict[str, int], start: date, today: date, z: ZoneInfo, t: int) -> list[date]:
    """The days in [start, today) that are missing from `have` (day → computed_at) or still
    inside their grace period and last computed RECHECK_MS ago or more, in order.

    Called on every home page view: it looks at each computed day with one string
    comparison (no date arithmetic per day) and walks the calendar only when days are
    missing. A day D computed at `at` is inside its grace period when at < end(D) + GRACE_MS,
    i.e. when D is on or after the local date of at - GRACE_MS (then end(D) = midnight after
    D > at - GRACE_MS); the rows of one refresh share `at`, so that date is worked out once
    per refresh, not once per day."""
    first_open: dict[int, str] = {}
    due: set[str] = set()
    lo, hi = start.isoformat(), today.isoformat()
    present = 0
    for day, at in have.items():
        if not lo <= day < hi:
            continue
        present += 1
        if t - at < RECHECK_MS:
            continue
        threshold = first_open.get(at)
        if threshold is None:
            threshold = first_open[at] = local(at - GRACE_MS, z).date().isoformat()
        if day >= threshold:
            due.add(day)
    n_days = (today - start).days
    if present < n_days:  # some days never computed: walk the calendar for them
        due.update(d.isoformat() for d in (start + timedelta(days=i) for i in range(n_days))
                   if d.isoformat() not in have)
    return [date.fromisoformat(d) for d in sorted(due)]


def refresh(s: Session, tz: str | ZoneInfo, *, now: int | None = None, rebuild: bool = False) -> list[str]:
    """Compute the closed days that are missing or still inside their grace period (all of
    them with `rebuild`); returns the days computed. Writes in the caller's transaction:
    commit it to keep them (a concurrent refresh of the same day loses quietly)."""
    t = now_ms() if now is None else now
    z = zone(tz)
    today = local(t, z).date()
    first = _earliest(s)
    if first is None:
        return []
    have = dict(s.connection().execute(select(ReportDay.day, ReportDay.computed_at)
                          .where(ReportDay.tz == z.key, ReportDay.sid == ALL)).all())
    start = local(first, z).date()
    due = _due(have, start, today, z, t) if not rebuild else \
        [start + timedelta(days=i) for i in range((today - start).days)]
    runs: list[list[date]] = []
    for d in due:
        if runs and d - runs[-1][-1] == timedelta(days=1) and len(runs[-1]) < RUN_DAYS:
            runs[-1].append(d)
        else:
            runs.append([d])
    for run in runs:
        try:
            compute(s, run, z, now=t)
        except IntegrityError:
            pass  # another process wrote these days meanwhile: its rows stand
    return [d.isoformat() for d in due]


def _scope(sids: Sids) -> Any:
    return ReportDay.sid == ALL if sids is None else scoped(ReportDay.sid, sids)


def sums(s: Session, sids: Sids, z: ZoneInfo, ranges: dict[str, tuple[date | None, date]]
         ) -> dict[str, dict[str, int]]:
    """name → metric → the rollup's sum over the whole days [first, last) (first None: from
    the beginning). The caller refreshes first."""
    cols, names = [], []
    for name, (first, last) in ranges.items():
        if first is not None and first >= last:
            continue  # no whole day (today's windows): nothing to read
        cond = ReportDay.day < last.isoformat()
        if first is not None:
            cond = and_(ReportDay.day >= first.isoformat(), cond)
        for metric in METRICS:
            cols.append(func.coalesce(func.sum(getattr(ReportDay, metric)).filter(cond), 0))
            names.append((name, metric))
    out: dict[str, dict[str, int]] = {name: dict.fromkeys(METRICS, 0) for name in ranges}
    if not cols:
        return out
    row = s.connection().execute(select(*cols).where(ReportDay.tz == z.key, _scope(sids))).one()
    for (name, metric), v in zip(names, row, strict=True):
        out[name][metric] = int(v)
    return out


def by_day(s: Session, sids: Sids, z: ZoneInfo, first: date, last: date) -> dict[str, dict[str, int]]:
    """day → metric over the whole days [first, last), for the stations in scope."""
    cols = [func.sum(getattr(ReportDay, m)) for m in STATION_METRICS]
    rows = s.connection().execute(select(ReportDay.day, *cols).where(
        ReportDay.tz == z.key, _scope(sids), ReportDay.day >= first.isoformat(),
        ReportDay.day < last.isoformat()).group_by(ReportDay.day)).all()
    return {r[0]: {m: int(v or 0) for m, v in zip(STATION_METRICS, r[1:], strict=True)} for r in rows}
