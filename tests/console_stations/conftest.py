"""Fixtures of the stations, guns and archives pages: the seeded database is migrated and
filled once per run (tests/console_stations/support.py), and every test gets its own copy of
that SQLite file and its own app, so a test's changes never reach another."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.db import db
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console_stations.support import midday_zone, seed
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)

DB = "console.sqlite"


@pytest.fixture(scope="session")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    from argon2 import PasswordHasher

    from cloud.operators import service

    where = tmp_path_factory.mktemp("stations-seed")
    saved = service.HASHER
    service.HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # as cheap_argon2
    try:
        seed_app = make_app(where, CONSOLE_TIMEZONE=midday_zone())
        facts = seed(seed_app)
        with seed_app.app_context():
            db.engine.dispose()  # the last connection closes: SQLite folds its WAL into the file
    finally:
        service.HASHER = saved
    return where / DB, facts


@pytest.fixture
def seeded(seeded_file: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return seeded_file[1]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeded_file: tuple[Path, dict[str, Any]]) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{seeded_file[0]}{suffix}").exists():
            shutil.copy(f"{seeded_file[0]}{suffix}", tmp_path / f"{DB}{suffix}")
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / DB}", "CA_DIR": str(tmp_path / "ca"),
                       "CONSOLE_TIMEZONE": midday_zone()})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
