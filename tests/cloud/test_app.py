"""The Flask app: factory and config, JSON API errors, the stations page, CLI, migrations."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import Engine

from cloud import create_app
from cloud.config import ConfigError
from cloud.db import db
from cloud.migrate import current_revision, head_revision
from cloud.models import Base, Station, StationState


def test_config_defaults_live_in_the_instance_folder(app: Flask) -> None:
    assert app.testing
    assert app.config["DATABASE_URL"].startswith("sqlite:///")
    assert app.config["BROKER_CA_FILE"].endswith("ca/ca.crt")


def test_environment_overrides_and_postgres_url_is_normalised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("JC_DATABASE_URL", "postgresql://u@db/jc")
    monkeypatch.setenv("JC_BROKER_PORT", "1883")
    app = create_app({"TESTING": True})
    assert (
        app.config["DATABASE_URL"] == "postgresql+psycopg://u@db/jc"
        and app.config["BROKER_PORT"] == 1883
    )


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("BROKER_PORT", "eighty", "BROKER_PORT: expected an integer"),
        ("BROKER_PORT", 0, "BROKER_PORT: 0 is outside"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("CLOUD_IDENTITY", "cloud", "must contain a dot"),
        ("INGEST_GROUP", "a/b", "INGEST_GROUP"),
        ("COMMAND_TIMEOUT_S", "soon", "COMMAND_TIMEOUT_S"),
        ("RESERVATION_REMIND_CHOICES", "5,0,15", "RESERVATION_REMIND_CHOICES: expected up to 8"),
    ],
)
def test_bad_config_names_key_and_fix(tmp_path: Path, key: str, value: object, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", key: value})
    assert needle in str(info.value) and "JC_" + key in str(info.value)


def _auth(app: Flask) -> dict[str, str]:
    from cloud.api.auth import create_api_token

    with app.app_context(), db.transaction() as s:
        return {"Authorization": f"Bearer {create_api_token(s, 'test').token}"}


def test_api_errors_are_json(app: Flask, client: FlaskClient) -> None:
    r = client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    r = client.get("/api/v1/stations/S404", headers=_auth(app))
    assert r.status_code == 404 and r.json["error"]["code"] == "unknown_station"
    r = client.post("/api/v1/provision", data="x", content_type="text/plain")
    assert r.status_code == 400 and r.json["error"]["code"] == "invalid_request"
    assert client.get("/api/v1/health").json == {"ok": True}


def test_stations_page_and_api_list_stations(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        db.session.add_all(
            [Station(sid="S1", name="东门站"), StationState(sid="S1", online=True, fw="1.2")]
        )
        db.session.commit()
    auth = _auth(app)
    from tests.console.support import login, make_operator

    make_operator(app, "root", "admin")
    login(client, "root")
    page = client.get("/")
    assert (
        page.status_code == 200
        and "S1" in page.text
        and "东门站" in page.text
        and "在线" in page.text
    )
    assert client.get("/api/v1/stations", headers=auth).json["stations"][0]["online"] is True
    assert client.get("/api/v1/stations/S1", headers=auth).json["fw"] == "1.2"


def test_cli_ca_init_cloud_cert_token_broker_config(
    app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(args=["init-db"]).exit_code == 0
    r = runner.invoke(args=["ca", "init"])
    assert r.exit_code == 0 and "sha256" in r.output
    assert runner.invoke(args=["ca", "init"]).exit_code != 0  # never replaces a CA
    assert runner.invoke(args=["cloud-cert"]).exit_code == 0
    assert Path(app.config["CLOUD_CERT_FILE"]).exists()
    r = runner.invoke(args=["token", "S1", "--ttl", "600"])
    assert r.exit_code == 0 and "token" in r.output
    assert runner.invoke(args=["token", "bad/sid"]).exit_code != 0
    r = runner.invoke(args=["broker-config", "--out", str(tmp_path / "mq"), "--port", "18883"])
    assert r.exit_code == 0
    conf = (tmp_path / "mq" / "mosquitto.conf").read_text()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "allow_anonymous false",
        "listener 18883",
        "listener 8884 127.0.0.1",
        "crlfile ",
        "plugin_opt_config_file ",
    ):
        assert line in conf
    assert not [ln for ln in conf.splitlines() if ln.startswith("acl_file")]
    import json

    dynsec = json.loads((tmp_path / "mq" / "dynamic-security.json").read_text())
    assert dynsec["defaultACLAccess"]["subscribe"] is False
    assert [c["username"] for c in dynsec["clients"]] == ["jc.cloud"]


def test_migrations_build_exactly_the_model(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_a_transaction_on_sqlite_holds_the_write_lock_from_its_start(app: Flask) -> None:
    """A service reads, then writes; on SQLite a deferred transaction that read first fails at
    once ("database is locked") at its first write when another process committed meanwhile.
    `db.transaction()` therefore begins IMMEDIATE: from its first statement no other writer
    gets in (it waits for the commit), and its own write after a read cannot be refused."""
    import sqlite3

    from sqlalchemy import text

    from cloud.db import db

    path = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    try:
        with app.app_context():
            with db.transaction() as s:
                s.execute(text("SELECT count(*) FROM stations")).scalar()  # a read only, so far
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")  # another writer waits: the lock is held
            other.execute("BEGIN IMMEDIATE")  # committed: free again
            other.execute("ROLLBACK")
            with db.session.begin():  # a plain read session stays deferred (readers never wait)
                db.session.execute(text("SELECT count(*) FROM stations")).scalar()
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
    finally:
        other.close()
