"""The occupancy forecast from the sessions table, on SQLite and PostgreSQL (migrated): the
hourly job stores every station's profile and the network's, and `profiles` reads them back
in one query."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, event, select
from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext
from cloud.jobs.registry import JOBS
from cloud.jobs.runner import run_once
from cloud.models import ChargingSession, Station
from cloud.occupancy import service
from cloud.occupancy.forecast import WEEK_MS, Shape
from cloud.occupancy.jobs import run as occupancy_job
from cloud.occupancy.models import NETWORK, OccupancyProfile
from cloud.stations import service as stations
from tests.support.databases import db_url, engine  # noqa: F401  (fixtures)

SH = ZoneInfo("Asia/Shanghai")
H = 3_600_000
NOW = int(datetime(2026, 12, 2, 12, 0, tzinfo=SH).timestamp() * 1000)  # a Wednesday
LONG_AGO = NOW - 40 * WEEK_MS


def ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def add_station(s: Session, sid: str, guns: int, created_at: int) -> None:
    stations.set_station(s, sid, name=sid, lat=31.2, lng=121.4)
    for g in range(1, guns + 1):
        stations.set_gun(s, sid, f"P1-{g}", rated_power_w=60_000, kind="dc")
    s.flush()
    s.get_one(Station, sid).created_at = created_at


def add_session(s: Session, sid: str, gun: str, start: int, end: int | None) -> None:
    s.add(ChargingSession(session_id=str(uuid.uuid4()), sid=sid, gun=gun, status="ended" if end else "running",
                          started_at=start, ended_at=end))


def seed(s: Session) -> None:
    # EVE: both guns busy every weekday 18:00-20:00 for ten weeks (two beyond the window)
    add_station(s, "EVE", 2, LONG_AGO)
    day = datetime(2026, 12, 2, tzinfo=SH)
    for back in range(1, 71):
        d = day - timedelta(days=back)
        if d.weekday() < 5:
            for gun in ("P1-1", "P1-2"):
                add_session(s, "EVE", gun, ms(d.replace(hour=18)), ms(d.replace(hour=20)))
    # CALM: one gun, an hour at 09:00 every third day
    add_station(s, "CALM", 1, LONG_AGO)
    for back in range(1, 56, 3):
        d = day - timedelta(days=back)
        add_session(s, "CALM", "P1-1", ms(d.replace(hour=9)), ms(d.replace(hour=10)))
    # NEW: created two days ago, one session yesterday evening still not ended (a lost end)
    add_station(s, "NEW", 1, NOW - 2 * 86_400_000)
    add_session(s, "NEW", "P1-1", NOW - 17 * H, None)
    s.flush()


def test_the_job_stores_every_station_and_the_network(engine: Engine) -> None:  # noqa: F811
    assert ("occupancy", occupancy_job) in JOBS
    with Session(engine) as s, s.begin():
        seed(s)
        assert service.profiles(s, ["EVE"]) == {}  # never computed: callers fall back
    ctx = JobContext(engine=engine, holder="t", clock=lambda: NOW)
    assert run_once(ctx, [("occupancy", occupancy_job)]) == {"occupancy": 3}
    assert run_once(ctx, [("occupancy", occupancy_job)]) == {"occupancy": 0}  # same hour: not again

    tuesday = datetime(2026, 12, 8, tzinfo=SH)
    with Session(engine) as s:
        rows = {r.sid: r for r in s.scalars(select(OccupancyProfile))}
        assert set(rows) == {NETWORK, "EVE", "CALM", "NEW"}
        assert (rows["EVE"].guns, rows["CALM"].guns, rows["NEW"].guns) == (2, 1, 1)
        # sessions read: those that touch the window (eight weeks), not the two weeks before it
        assert rows["EVE"].sessions == 2 * 40 and rows["NEW"].sessions == 1
        assert len(rows["EVE"].share) == Shape().slots == 168

        profs = service.profiles(s, ["EVE", "CALM", "NEW", "GONE"], evidence=True)
        eve, calm, new, gone = profs["EVE"], profs["CALM"], profs["NEW"], profs["GONE"]
        assert eve.at(ms(tuesday.replace(hour=19))) > 0.7
        assert eve.at(ms(tuesday.replace(hour=3))) < 0.05
        assert calm.at(ms(tuesday.replace(hour=9))) > calm.at(ms(tuesday.replace(hour=19)))
        assert eve.evidence_at(ms(tuesday.replace(hour=19))) > 4
        # NEW: two days of history, its one session yesterday 19:00 never ended: counted twelve
        # hours (to 07:00 today), not until now; where it has no data (Thursday), its
        # forecast is the network's shape
        assert new.evidence_at(ms(tuesday.replace(hour=19))) == 1.0
        assert new.at(ms(tuesday.replace(hour=23))) > 0.3
        wednesday_08 = ms(datetime(2026, 12, 2, 8, tzinfo=SH))
        assert service.profiles(s, ["NEW"])["NEW"].at(wednesday_08) < new.at(ms(tuesday.replace(hour=23)))
        thursday = datetime(2026, 12, 3, tzinfo=SH)
        assert new.evidence_at(ms(thursday.replace(hour=19))) == 0.0
        assert new.at(ms(thursday.replace(hour=19))) > new.at(ms(thursday.replace(hour=3)))  # EVE's habit, pooled
        # a station without a row (added since the refresh): the network's forecast
        assert gone.share == tuple(rows[NETWORK].share) and set(gone.evidence) == {0.0}


def test_profiles_is_one_query_and_the_next_hour_refreshes(engine: Engine) -> None:  # noqa: F811
    with Session(engine) as s, s.begin():
        seed(s)
        assert service.refresh_if_due(s, NOW) == 3
    n = 0

    def seen(_conn: object, _cursor: object, statement: str, *_a: object) -> None:
        nonlocal n
        n += "occupancy_profiles" in statement

    with Session(engine) as s:
        event.listen(engine, "before_cursor_execute", seen)
        try:
            got = service.profiles(s, [f"S{i}" for i in range(200)] + ["EVE"])
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert n == 1 and len(got) == 201
    with Session(engine) as s, s.begin():
        assert service.refresh_if_due(s, NOW + 59 * 60_000) == 0
        add_session(s, "CALM", "P1-1", NOW + 30 * 60_000, NOW + 50 * 60_000)
        assert service.refresh_if_due(s, NOW + H) == 3
        assert service.computed_at(s) == NOW + H
