"""Fixtures of the driver API tests: the fake WeChat login on a free port (real HTTP), and the
cloud app pointed at it, on SQLite and (marked `postgres`) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.migrate import upgrade
from tests.drivers_api.support import APPID, SECRET
from tests.support.databases import db_url  # noqa: F401  (fixture)


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


def make_app(tmp_path: Path, db_url: str, wechat: FakeServer, **extra: object) -> Flask:  # noqa: F811
    app = create_app({"TESTING": True, "DATABASE_URL": db_url, "CA_DIR": str(tmp_path / "ca"),
                      "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE_URL": wechat.url,
                      "WECHAT_TIMEOUT_S": 2.0, **extra})
    with app.app_context():
        upgrade(db.engine)
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, wechat: FakeServer) -> Iterator[Flask]:  # noqa: F811
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, db_url, wechat)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
