"""Fixtures of the money tests: a migrated database on SQLite and, marked `postgres`, on
PostgreSQL (a fresh schema of database `test`), and sessions on it."""

from __future__ import annotations

from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)
