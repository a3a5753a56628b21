"""Fixtures of the wallet tests: the cloud app served over HTTP on SQLite and (marked
`postgres`) PostgreSQL, the fake WeChat Pay and login on a free port delivering their
notifications to that app, and the app's real WeChat Pay client against the fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud import create_app
from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.migrate import upgrade
from tests.support.databases import db_url, pg_url  # noqa: F401  (fixtures)
from tests.wallet.support import NOTIFY_URL, REFUND_NOTIFY_URL, AppServer

RETRY_SCALE = 0.002  # WeChat's first retries (15 s, 15 s, 30 s) become 30 ms, 30 ms, 60 ms


@pytest.fixture(scope="session")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def server() -> Iterator[AppServer]:
    s = AppServer().start()
    yield s
    s.close()


@pytest.fixture
def fake(keys: FakeKeys, server: AppServer) -> Iterator[FakeServer]:
    with FakeServer.for_keys(keys, retry_scale=RETRY_SCALE, notify_origin=server.url) as f:
        yield f


def wallet_settings(keys: FakeKeys, tmp_path: Path, fake: FakeServer) -> dict[str, Any]:
    return keys.settings(keys.write(tmp_path / "keys"), fake.url, notify_url=NOTIFY_URL,
                         refund_notify_url=REFUND_NOTIFY_URL)


def build_app(tmp_path: Path, url: str, settings: dict[str, Any], **extra: Any) -> Flask:
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CA_DIR": str(tmp_path / "ca"),
                      "WECHAT_TIMEOUT_S": 2.0, **settings, **extra})
    with app.app_context():
        upgrade(db.engine)
    return app


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, keys: FakeKeys,  # noqa: F811
        fake: FakeServer, server: AppServer) -> Iterator[Flask]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    a = build_app(tmp_path, db_url, wallet_settings(keys, tmp_path, fake))
    server.app = a
    yield a
    with a.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
