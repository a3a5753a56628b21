"""A seeded database per backend (SQLite, and PostgreSQL marked `postgres`), built once per
module: the reports only read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.cloud.support import migrated_engine, postgres_schema
from tests.reports.factories import Seeded, patch_ledger_clock, seed


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[Session, Seeded]]:
    if request.param == "sqlite":
        urls = iter([f"sqlite:///{Path(tmp_path_factory.mktemp('reports')) / 'cloud.sqlite'}"])
        ctx = None
    else:
        ctx = postgres_schema()
        urls = iter([ctx.__enter__()])
    engine = migrated_engine(next(urls))
    try:
        with pytest.MonkeyPatch.context() as mp, Session(engine) as s:
            data = seed(s, patch_ledger_clock(mp))
            s.commit()
        with Session(engine) as s:
            yield s, data
    finally:
        engine.dispose()
        if ctx is not None:
            ctx.__exit__(None, None, None)


from tests.support.databases import db_url, engine  # noqa: E402, F401  (fixtures)
