"""Fixtures of the driver API's robustness tests: the real cloud app (Flask, WSGI) on a
temporary SQLite file, the fake WeChat login on a free port (real HTTP), as
tests/drivers_api does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from tests.drivers_api.conftest import make_app
from tests.drivers_api.support import APPID, SECRET


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


@pytest.fixture
def sqlite_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wechat: FakeServer) -> Iterator[Flask]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'cloud.sqlite'}", wechat)
    yield app
    with app.app_context():
        db.engine.dispose()
