"""Database fixtures shared by the cloud's test folders: the same test on SQLite and, marked
`postgres`, on PostgreSQL (a fresh schema of database `test`), and a migrated engine on it.
A conftest imports the ones it uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.cloud.support import migrated_engine, postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloud.sqlite'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = migrated_engine(db_url)
    yield e
    e.dispose()
