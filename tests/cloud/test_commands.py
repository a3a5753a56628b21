"""The command API round trip: send_command -> broker -> a fake station (paho) -> reply -> ingest -> sender."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from cloud import create_app
from cloud.commands import CommandTimeout, send_command
from cloud.db import db
from cloud.migrate import upgrade
from cloud.models import CommandLog
from jcproto import ErrorCode, ProtocolError, Reply, parse_command
from tests.cloud.support import FakeStation, ThreadedIngest
from tests.support.broker import Broker


@pytest.fixture
def cloud_app(broker: Broker, tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'cloud.sqlite'}",
            "CA_DIR": str(broker.ca_dir),
            "BROKER_HOST": broker.host,
            "BROKER_PORT": broker.port,
            "BROKER_CLOUD_PORT": broker.cloud_port,
            "BROKER_PID_FILE": str(broker.pid_file),
            "BROKER_CA_FILE": str(broker.ca_file),
            "CLOUD_CERT_FILE": str(broker.cloud.cert_file),
            "CLOUD_KEY_FILE": str(broker.cloud.key_file),
        }
    )
    with app.app_context():
        upgrade(db.engine)
        ingest = ThreadedIngest(broker, db.engine).start()
    yield app
    ingest.stop()
    app.extensions["jc_publisher"].close()


def _answer(cmd: dict) -> Reply:
    parsed = parse_command(cmd)  # the station sees a valid command
    if parsed.TYPE == "start":
        return Reply.success(
            cmd["id"], {"session_id": "0f8b3c2e-1111-4222-8333-444455556666", "power_cap_w": 30000}
        )
    return Reply.failure(cmd["id"], ErrorCode.UNKNOWN_GUN, {"gun": cmd.get("gun")})


def test_command_round_trip(cloud_app: Flask, broker: Broker) -> None:
    st = FakeStation(broker, "S1").connect()
    st.answer = _answer
    tariff = {"id": "t1", "currency": "CNY", "periods": [
        {"start": "00:00", "end": "24:00", "name": "flat", "energy_fen_per_kwh": 80, "service_fen_per_kwh": 40}]}  # fmt: skip
    with cloud_app.app_context():
        reply = send_command(
            "S1",
            "start",
            {
                "gun": "P1-1",
                "order_id": "o-1",
                "limit": {"mode": "full", "value": 0},
                "tariff": tariff,
            },
            timeout=5,
        )
        assert reply.ok and reply.error is None and reply.detail["power_cap_w"] == 30000
        refused = send_command("S1", "stop", {"gun": "P9-1"}, timeout=5)
        assert not refused.ok and refused.error is ErrorCode.UNKNOWN_GUN
        rows = {r.type: r for r in db.session.scalars(select(CommandLog))}
    assert rows["start"].status == "replied" and rows["stop"].error == "unknown_gun"
    sent = st.commands[0]
    assert sent["type"] == "start" and sent["expires_at"] > 0 and len(sent["id"]) == 36


def test_command_times_out_when_nobody_answers(cloud_app: Flask, broker: Broker) -> None:
    st = FakeStation(broker, "S1").connect()  # receives, never answers
    with cloud_app.app_context():
        with pytest.raises(CommandTimeout):
            send_command("S1", "reset_fault", {}, timeout=0.5)
        [row] = db.session.scalars(select(CommandLog)).all()
    assert row.status == "timeout" and len(st.commands) == 1


def test_reply_from_another_station_does_not_count(cloud_app: Flask, broker: Broker) -> None:
    target = FakeStation(broker, "S1").connect()  # silent
    other = FakeStation(broker, "S2").connect()
    target.answer = lambda cmd: (
        other.publish_raw("reply", Reply.success(cmd["id"]).to_json()) and None
    )
    with cloud_app.app_context(), pytest.raises(CommandTimeout):
        send_command("S1", "reset_fault", {}, timeout=1.0)


def test_invalid_commands_are_refused_before_sending(cloud_app: Flask) -> None:
    with cloud_app.app_context():
        with pytest.raises(ProtocolError):
            send_command("S1", "start", {"gun": "P1-1"}, timeout=1)
        with pytest.raises(ValueError):
            send_command("bad sid", "stop", {"gun": "P1-1"}, timeout=1)
        assert db.session.scalars(select(CommandLog)).all() == []


def test_unreachable_broker_is_an_error_and_logged_unsent(cloud_app: Flask, broker: Broker) -> None:
    from cloud.commands import CommandPublishError

    broker.kill()
    with cloud_app.app_context():
        with pytest.raises(CommandPublishError):
            send_command("S1", "reset_fault", {}, timeout=0.5)
        [row] = db.session.scalars(select(CommandLog)).all()
    assert row.status == "unsent"
