"""Fixtures of the alarm tests: a migrated database on SQLite and PostgreSQL, a station."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.models import Station, StationState
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def s(engine: Engine) -> Iterator[Session]:  # noqa: F811
    with Session(engine) as session:
        for sid in ("S1", "S2"):
            session.add(Station(sid=sid, name=f"{sid}站", created_at=1))
            session.add(StationState(sid=sid, online=True, claimed_online=True))
        session.commit()
        yield session
