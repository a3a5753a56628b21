"""Fixtures of the billing tests: migrated databases (SQLite and, marked `postgres`,
PostgreSQL), the real broker and ingest for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.cloud.support import ThreadedIngest
from tests.support.broker import Broker, broker  # noqa: F401  (fixture)
from tests.support.databases import db_url, engine  # noqa: F401  (fixtures)


@pytest.fixture
def ingest(broker: Broker, engine: Engine) -> Iterator[ThreadedIngest]:  # noqa: F811
    worker = ThreadedIngest(broker, engine).start()
    yield worker
    worker.stop()
