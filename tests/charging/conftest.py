"""Fixtures of the charging tests: the cloud app (SQLite and, marked `postgres`, PostgreSQL)
with the fake WeChat login, and for the start and stop commands a real Mosquitto (one per
module), ingest in a thread and a fake station answering the commands."""

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
from tests.cloud.support import FakeStation, ThreadedIngest
from tests.drivers_api.support import APPID, SECRET
from tests.support.broker import Broker
from tests.support.databases import db_url, pg_url  # noqa: F401  (fixtures)


@pytest.fixture
def wechat() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        yield server


@pytest.fixture(scope="module")
def mqtt(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    with Broker(tmp_path_factory.mktemp("mqtt")) as b:
        yield b


def make_app(tmp_path: Path, url: str, wechat: FakeServer, broker: Broker | None = None, **extra: object) -> Flask:
    conf: dict[str, object] = {"TESTING": True, "DATABASE_URL": url, "CA_DIR": str(tmp_path / "ca"),
                               "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET, "WECHAT_API_BASE_URL": wechat.url,
                               "WECHAT_TIMEOUT_S": 2.0, "CHARGING_START_TIMEOUT_S": 3.0}
    if broker is not None:
        conf.update({"CA_DIR": str(broker.ca_dir), "BROKER_HOST": broker.host, "BROKER_PORT": broker.port,
                     "BROKER_CLOUD_PORT": broker.cloud_port, "BROKER_PID_FILE": str(broker.pid_file),
                     "BROKER_CA_FILE": str(broker.ca_file), "CLOUD_CERT_FILE": str(broker.cloud.cert_file),
                     "CLOUD_KEY_FILE": str(broker.cloud.key_file)})
    conf.update(extra)
    app = create_app(conf)
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


class Live:
    """The app wired to the module's broker, ingest running, and station S1 online as a fake
    gateway that answers commands with `answer`."""

    def __init__(self, app: Flask, broker: Broker, wechat: FakeServer) -> None:
        self.app, self.broker, self.wechat = app, broker, wechat
        with app.app_context():
            self.ingest = ThreadedIngest(broker, db.engine).start()
        self.stations: dict[str, FakeStation] = {}

    def station(self, sid: str) -> FakeStation:
        if sid not in self.stations:
            self.stations[sid] = FakeStation(self.broker, sid).connect()
        return self.stations[sid]

    def close(self) -> None:
        for st in self.stations.values():
            st.close()
        self.ingest.stop()
        self.app.extensions["jc_publisher"].close()


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, wechat: FakeServer,  # noqa: F811
         mqtt: Broker) -> Iterator[Live]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, db_url, wechat, mqtt)
    lv = Live(app, mqtt, wechat)
    yield lv
    lv.close()
    with app.app_context():
        db.engine.dispose()
