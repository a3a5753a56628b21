"""The closed-day rollup: figures equal the rows; a late session inside the grace period is
picked up by the next refresh an hour on; after it, by a rebuild."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from cloud.reports import rollup
from cloud.reports.models import ALL, ReportDay
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
