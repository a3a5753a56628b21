"""Fixtures of the console tests: a cloud app on a fresh SQLite file (or PostgreSQL schema)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.db import db
from cloud.migrate import upgrade
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)


def make_app(tmp_path: Path, url: str | None = None, **extra: object) -> Flask:
    app = create_app({"TESTING": True, "DATABASE_URL": url or f"sqlite:///{tmp_path / 'console.sqlite'}",
                      "CA_DIR": str(tmp_path / "ca"), **extra})
    with app.app_context():
        upgrade(db.engine)
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    return make_app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, at a cost that lets a test log in dozens of times: the rules are
    tested here, not argon2 (test_operators.py checks the stored hash's default cost)."""
    from argon2 import PasswordHasher

    from cloud.operators import service

    monkeypatch.setattr(service, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
