"""The closed-day rollup: figures equal the rows; a late session inside the grace period is
picked up by the next refresh an hour on; after it, by a rebuild."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cloud.reports import rollup
from cloud.reports.models import ALL, ReportDay
from cloud.reports.periods import day_start
from cloud.reports.service import home_figures
from tests.reports.factories import SH, SessionFactory, StationFactory, bind

HOUR = 3_600_000


def ms(*a: int) -> int:
    return int(datetime(*a, tzinfo=SH).timestamp() * 1000)


def sessions_before(s: Session, end: int) -> int:
    return s.execute(text("SELECT COUNT(*) FROM sessions WHERE ended_at < :b"), {"b": end}).scalar_one()


def test_rollup_months_and_late_sessions(engine: Engine) -> None:
    with Session(engine) as s:
        bind(s)
        StationFactory(sid="ST000")
        StationFactory(sid="ST001")
        for i, (y, m, d) in enumerate([(2025, 11, 3), (2026, 1, 31), (2026, 2, 10), (2026, 3, 2)]):
            SessionFactory(sid=f"ST00{i % 2}", started_at=ms(y, m, d, 8), ended_at=ms(y, m, d, 9))
        now = ms(2026, 3, 3, 12)
        f = home_figures(s, None, now=now)["figures"]["sessions"]["total"]
        assert (f["value"], f["mom"]) == (4, sessions_before(s, ms(2026, 2, 3, 12)))
        days = s.execute(select(ReportDay.day).where(ReportDay.sid == ALL)
                         .order_by(ReportDay.day)).scalars().all()
        assert (days[0], days[-1], len(days)) == ("2025-11-03", "2026-03-02", 120)
        assert home_figures(s, {"ST001"}, now=now)["figures"]["sessions"]["total"]["value"] == 2

        # a session of 1 March arrives late, inside the grace period: an hour on, it counts
        SessionFactory(sid="ST000", started_at=ms(2026, 3, 1, 8), ended_at=ms(2026, 3, 1, 9))
        assert home_figures(s, None, now=now + HOUR // 2)["figures"]["sessions"]["total"]["value"] == 4
        assert home_figures(s, None, now=now + HOUR)["figures"]["sessions"]["total"]["value"] == 5

        # after the grace period a late one waits for a rebuild (docs/reports.md says so)
        after = ms(2026, 3, 20, 12)
        assert home_figures(s, None, now=after)["figures"]["sessions"]["total"]["value"] == 5
        SessionFactory(sid="ST001", started_at=ms(2025, 12, 5, 8), ended_at=ms(2025, 12, 5, 9))
        assert home_figures(s, None, now=after + 2 * HOUR)["figures"]["sessions"]["total"]["value"] == 5
        assert "2025-12-05" in rollup.refresh(s, "Asia/Shanghai", now=after, rebuild=True)
        assert home_figures(s, None, now=after)["figures"]["sessions"]["total"]["value"] == 6
        assert home_figures(s, None, now=after)["figures"]["sessions"]["total"]["value"] == sessions_before(s, after)
        # each time zone keeps its own months
        home_figures(s, None, "UTC", now=after)
        zones = s.execute(select(ReportDay.tz, func.count()).group_by(ReportDay.tz)).all()
        assert {z for z, _ in zones} == {"Asia/Shanghai", "UTC"}


def test_an_empty_database(engine: Engine) -> None:
    with Session(engine) as s:
        h = home_figures(s, None, now=ms(2026, 3, 3, 12))
        assert h["figures"]["charging_fen"]["total"] == {"value": 0, "mom": 0, "mom_change": None,
                                                         "yoy": 0, "yoy_change": None}
        assert h["map"]["stations"] == [] and len(h["by_day"]) == 3


def _due_by_the_calendar(have: dict[str, int], start: date, today: date, z: ZoneInfo, t: int) -> list[date]:
    """The rule as docs/reports.md states it, day by day: missing, or computed before its
    end + GRACE_MS and at least RECHECK_MS ago."""
    out, d = [], start
    while d < today:
        at = have.get(d.isoformat())
        end = day_start(d + timedelta(days=1), z)
        if at is None or (at < end + rollup.GRACE_MS and t - at >= rollup.RECHECK_MS):
            out.append(d)
        d += timedelta(days=1)
    return out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["Asia/Shanghai", "America/New_York", "Europe/London"]), st.integers(0, 60),
       st.integers(1, 40), st.lists(st.tuples(st.integers(0, 59), st.integers(-3, 20 * 24)), max_size=40),
       st.integers(0, 23 * 60))
def test_days_due_equal_the_calendar_rule(tz: str, offset: int, n: int, computed: list[tuple[int, int]],
                                          minute: int) -> None:
    """rollup._due (one string comparison per computed day) picks exactly the days that the
    day-by-day rule picks, in any zone (daylight saving included), with gaps, rows outside
    the range, fresh and stale rows."""
    z = ZoneInfo(tz)
    start = date(2026, 3, 1) + timedelta(days=offset)
    today = start + timedelta(days=n)
    t = day_start(today, z) + minute * 60_000
    have = {}
    for i, hours_after_end in computed:
        d = start + timedelta(days=i - 5)  # some before the range, some after it
        have[d.isoformat()] = min(t, day_start(d + timedelta(days=1), z) + hours_after_end * HOUR)
    assert rollup._due(have, start, today, z, t) == _due_by_the_calendar(have, start, today, z, t)
