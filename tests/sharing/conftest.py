"""Fixtures of the sharing tests: a migrated database on SQLite and, marked `postgres`, on
PostgreSQL; the charging tests' app, client and fake WeChat for the API test."""

from __future__ import annotations

from tests.charging.conftest import app, client, wechat  # noqa: F401  (fixtures)
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)
