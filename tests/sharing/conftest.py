"""Fixtures of the sharing tests: a migrated database on SQLite and, marked `postgres`, on
PostgreSQL."""

from __future__ import annotations

from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)
