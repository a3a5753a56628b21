"""Closed months rolled up per station (table report_months), so that an all-time figure is
a sum over a few thousand rollup rows plus one month of rows, not a scan of every order.

A closed month is a local month before the current one. Orders (settled_at), accounts
(created_at) and recharges (the ledger's created_at) are stamped with the cloud's clock, so
a closed month never gains rows. Sessions are stamped with the station's end time and can
arrive late (a gateway's outbox after an outage): a month is therefore computed again, at
most once an hour, until it has been computed GRACE_MS after its end; a session that arrives
after that counts in every window that reads rows (today, this month, the daily
series) but not in the all-time figures until `refresh(s, tz, rebuild=True)` recomputes.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.models.base import now_ms
from cloud.reports.models import PLATFORM, ReportMonth
from cloud.reports.periods import local, to_ms, zone
from cloud.reports.sources import Sids, scoped, sources

GRACE_MS = 7 * 86_400_000
RECHECK_MS = 3_600_000
METRICS = ("charging_fen", "energy_wh", "sessions", "charging_ms", "new_accounts", "recharge_fen")


def month_key(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def month_start(key: str, z: ZoneInfo) -> int:
    y, m = int(key[:4]), int(key[5:])
    return to_ms(datetime.combine(date(y, m, 1), time(0), z))


def next_month(key: str) -> str:
    y, m = int(key[:4]), int(key[5:])
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def _earliest(s: Session) -> int | None:
    firsts = [s.execute(select(func.min(src.ts)).select_from(src.froms).where(*src.where)).scalar()
              for src in sources()]
    firsts = [int(f) for f in firsts if f is not None]
    return min(firsts) if firsts else None


def compute(s: Session, key: str, z: ZoneInfo, *, now: int) -> None:
    """(Re)write one month's rows: per station, and the platform row."""
    a, b = month_start(key, z), month_start(next_month(key), z)
    rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(METRICS, 0))
    rows[PLATFORM]  # the month's marker, even when nothing happened in it
    for src in sources():
        sums = [func.coalesce(func.sum(v), 0) for v in src.values.values()]
        q = select(*([src.sid] if src.sid is not None else []), *sums).select_from(src.froms).where(
            src.ts >= a, src.ts < b, *src.where)
        if src.sid is not None:
            q = q.group_by(src.sid)
        for r in s.execute(q).all():
            sid = r[0] if src.sid is not None else PLATFORM
            vals = r[1:] if src.sid is not None else r
            for metric, v in zip(src.values, vals, strict=True):
                rows[sid][metric] += int(v or 0)
    with s.begin_nested():
        s.execute(delete(ReportMonth).where(ReportMonth.tz == z.key, ReportMonth.month == key))
        s.add_all(ReportMonth(tz=z.key, month=key, sid=sid, computed_at=now, **vals)
                  for sid, vals in rows.items())
        s.flush()


def refresh(s: Session, tz: str | ZoneInfo, *, now: int | None = None, rebuild: bool = False) -> list[str]:
    """Compute the closed months that are missing or still inside their grace period (all of
    them with `rebuild`); returns the months computed. Writes in the caller's transaction:
    commit it to keep them (a concurrent refresh of the same month loses quietly)."""
    t = now_ms() if now is None else now
    z = zone(tz)
    current = month_key(local(t, z).date())
    first = _earliest(s)
    if first is None:
        return []
    have = dict(s.execute(
        select(ReportMonth.month, ReportMonth.computed_at)
        .where(ReportMonth.tz == z.key, ReportMonth.sid == PLATFORM)).all())
    done = []
    key = month_key(local(first, z).date())
    while key < current:
        end = month_start(next_month(key), z)
        at = have.get(key)
        stale = at is None or (at < end + GRACE_MS and t - at >= RECHECK_MS)
        if rebuild or stale:
            try:
                compute(s, key, z, now=t)
                done.append(key)
            except IntegrityError:
                pass  # another process wrote this month meanwhile: its rows stand
        key = next_month(key)
    return done


def totals_before(s: Session, sids: Sids, tz: str | ZoneInfo, starts: dict[str, int | None], *,
                  now: int | None = None) -> dict[str, dict[str, int]]:
    """name → metric → the rollup's sum over the closed months before each start (a local
    month start), refreshing the rollup first."""
    z = zone(tz)
    refresh(s, z, now=now)
    keys = {name: month_key(local(st, z).date()) for name, st in starts.items() if st is not None}
    cols, names = [], []
    for name, key in keys.items():
        for metric in METRICS:
            col = getattr(ReportMonth, metric)
            cols.append(func.coalesce(func.sum(col).filter(ReportMonth.month < key), 0))
            names.append((name, metric))
    cond = scoped(ReportMonth.sid, sids)
    q = select(*cols).where(ReportMonth.tz == z.key, *([] if cond is None else [cond]))
    row = s.execute(q).one()
    out: dict[str, dict[str, Any]] = {name: dict.fromkeys(METRICS, 0) for name in starts}
    for (name, metric), v in zip(names, row, strict=True):
        out[name][metric] = int(v)
    return out
