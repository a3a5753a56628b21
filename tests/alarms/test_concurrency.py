"""Two ingest processes applying the same station's events at once (PostgreSQL): one open
alarm per key, each record applied once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.alarms import service
from cloud.alarms.models import Alarm, AlarmEvidence
from cloud.alarms.service import EventIn
from cloud.models import Station
from tests.cloud.support import migrated_engine

T0 = 1_780_000_000_000


@pytest.mark.postgres
def test_two_sessions_open_one_alarm(pg_url: str) -> None:
    engine = migrated_engine(pg_url)
    try:
        with Session(engine) as s:
            s.add(Station(sid="S1"))
            s.commit()
        raise1 = EventIn("S1", 1, T0 + 1, "fault_raised", "P1-1", {"faults": ["a"]})
        raise2 = EventIn("S1", 2, T0 + 2, "fault_raised", "P1-1", {"faults": ["b"]})
        a = Session(engine)
        assert service.apply_events(a, [raise1]) == 1  # holds its uncommitted alarm row
        done: list[int] = []

        def other() -> None:
            with Session(engine) as b:
                done.append(service.apply_events(b, [raise1, raise2]))  # waits on a's row
                b.commit()

        t = threading.Thread(target=other)
        t.start()
        t.join(0.5)
        assert t.is_alive()  # blocked by the unique open-alarm index
        a.commit()
        a.close()
        t.join(10)
        assert done == [1]  # seq 1 was a's; seq 2 repeated a's alarm
        with Session(engine) as s:
            assert s.scalar(select(func.count()).select_from(Alarm)) == 1
            assert s.scalars(select(Alarm)).one().detail["faults"] == ["a", "b"]
            assert sorted(s.scalars(select(AlarmEvidence.role))) == ["raise", "repeat"]
    finally:
        engine.dispose()
