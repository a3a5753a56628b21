"""Fixtures of the driver API's robustness tests: the real cloud app (Flask, WSGI) on a
temporary SQLite file, WeChat login and WeChat Pay both the local fake on a free port (real
HTTP), as tests/drivers_api and tests/wallet do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from tests.apiqa.support import build_app, start_fake


@pytest.fixture(scope="session")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def wechat(keys: FakeKeys) -> Iterator[FakeServer]:
    fake = start_fake(keys)
    yield fake
    fake.close()


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, keys: FakeKeys, wechat: FakeServer) -> Iterator[Flask]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, f"sqlite:///{tmp_path / 'cloud.sqlite'}", keys, wechat)
    yield app
    with app.app_context():
        db.engine.dispose()
