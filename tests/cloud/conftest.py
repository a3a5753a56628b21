"""Fixtures of the cloud tests: app/client/runner (Flask's tutorial), databases, broker, ingest."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine

from cloud import create_app
from cloud.db import db
from cloud.migrate import upgrade
from tests.cloud.support import ThreadedIngest
from tests.support.broker import Broker, broker  # noqa: F401  (fixture)
from tests.support.databases import db_url, engine  # noqa: F401  (fixtures)


@pytest.fixture
def ingest(broker: Broker, engine: Engine) -> Iterator[ThreadedIngest]:  # noqa: F811
    worker = ThreadedIngest(broker, engine).start()
    yield worker
    worker.stop()


def _app(tmp_path: Path, **extra: object) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
            "CA_DIR": str(tmp_path / "ca"),
            **extra,
        }
    )
    with app.app_context():
        upgrade(db.engine)
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    return _app(tmp_path)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
