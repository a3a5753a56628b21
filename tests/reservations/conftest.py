"""Fixtures of the reservation tests: a migrated database on SQLite and, marked `postgres`,
on PostgreSQL; the charging tests' app, broker and fake station for the API tests."""

from __future__ import annotations

from tests.charging.conftest import app, client, live, mqtt, wechat  # noqa: F401  (fixtures)
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)
