"""The command API: send a command to a station and wait for its reply.

    reply = send_command("S1", "stop", {"gun": "P1-1"}, timeout=10)   # in a Flask app context

How: the command is logged in the `commands` table, published on `jc/v1/st/{sid}/cmd`
(QoS 1) with a fresh id and `expires_at = now + timeout`, and the sender polls the row until
ingest (which subscribes to every `reply`) has stored the matching reply, or the timeout
passes. So any web worker can send, no process needs a reply subscription of its own, and
every command with its outcome stays on record. Costs: replies take an ingest batch
(~50 ms) plus a poll interval, and ingest must run.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import insert_or_ignore
from cloud.models import CommandLog, Station, now_ms
from cloud.mqtt import MqttSettings, make_client
from jcproto import ErrorCode, Reply, build_command, is_valid_sid, topic


class CommandTimeout(TimeoutError):
    """No reply within the timeout (the station may be offline); the command expires by itself."""


class CommandPublishError(RuntimeError):
    """The broker did not take the command."""


class MqttPublisher:
    """One lazily connected MQTT client per process, shared by threads (paho is thread-safe)."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self.settings = settings
        self.client_id = client_id
        self._client: mqtt.Client | None = None
        self._lock = threading.Lock()
        self._connected = threading.Event()

    def _ensure(self, timeout: float) -> mqtt.Client:
        with self._lock:
            if self._client is None:
                c = make_client(self.settings, self.client_id)
                c.on_connect = lambda *_a: self._connected.set()
                c.on_disconnect = lambda *_a: self._connected.clear()
                c.connect_async(self.settings.host, self.settings.port, keepalive=30)
                c.loop_start()
                self._client = c
        if not self._connected.wait(timeout):
            raise CommandPublishError(
                f"not connected to the broker at {self.settings.host}:{self.settings.port}"
            )
        return self._client

    def client(self, timeout: float) -> mqtt.Client:
        """The connected client (for other uses of the same connection, e.g. broker admin)."""
        return self._ensure(timeout)

    def publish(self, topic_name: str, payload: str, timeout: float) -> None:
        info = self._ensure(timeout).publish(topic_name, payload, qos=1)
        info.wait_for_publish(timeout)
        if not info.is_published():
            raise CommandPublishError(f"the broker did not acknowledge the command on {topic_name}")

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.disconnect()
                self._client.loop_stop()
                self._client = None


class CommandService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        publish: Callable[[str, str, float], None],
        *,
        poll_s: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions = sessions
        self.publish = publish
        self.poll_s = poll_s
        self.clock = clock
        self.sleep = sleep

    def send(self, sid: str, type_: str, payload: Mapping[str, Any], timeout: float) -> Reply:
        """Send a command and return the station's reply (ok or not); CommandTimeout if none came."""
        if not is_valid_sid(sid):
            raise ValueError(f"invalid station id {sid!r}")
        cmd = build_command(
            type_, payload, expires_at=now_ms() + int(timeout * 1000)
        )  # ProtocolError if invalid
        body = cmd.to_dict()
        with self.sessions.begin() as s:
            insert_or_ignore(s, Station.__table__, [{"sid": sid, "created_at": now_ms()}])
            s.add(
                CommandLog(
                    id=cmd.id, sid=sid, type=cmd.TYPE, payload=body, expires_at=cmd.expires_at
                )
            )
        deadline = self.clock() + timeout
        try:
            self.publish(topic(sid, "cmd"), cmd.to_json(), timeout)
        except Exception:
            with self.sessions.begin() as s:
                s.execute(update(CommandLog).where(CommandLog.id == cmd.id).values(status="unsent"))
            raise
        interval = self.poll_s
        while True:
            with self.sessions() as s:
                row = s.scalar(select(CommandLog).where(CommandLog.id == cmd.id))
                if row is not None and row.replied_at is not None:
                    return Reply(
                        id=row.id,
                        ok=bool(row.ok),
                        error=None if row.error is None else ErrorCode(row.error),
                        detail=row.detail,
                    )
            left = deadline - self.clock()
            if left <= 0:
                break
            self.sleep(min(interval, left))
            interval = min(interval * 1.5, 0.5)  # fast first answers, little load when slow
        with self.sessions.begin() as s:
            s.execute(
                update(CommandLog)
                .where(CommandLog.id == cmd.id, CommandLog.replied_at.is_(None))
                .values(status="timeout")
            )
        raise CommandTimeout(f"no reply from {sid} to {type_} {cmd.id} within {timeout:g}s")


class Commands:
    """Flask extension holding the process's CommandService (created unbound, bound in create_app)."""

    def init_app(self, app: Any) -> None:
        from cloud.db import db

        publisher = MqttPublisher(
            MqttSettings.from_config(app.config),
            f"jc-web-{os.getpid()}-{secrets.token_hex(3)}",
        )
        with app.app_context():
            sessions = db.sessionmaker()
        app.extensions["jc_commands"] = CommandService(sessions, publisher.publish)
        app.extensions["jc_publisher"] = publisher


commands = Commands()


def send_command(
    sid: str, type_: str, payload: Mapping[str, Any], timeout: float | None = None
) -> Reply:
    """`CommandService.send` of the current Flask app (timeout defaults to COMMAND_TIMEOUT_S)."""
    from flask import current_app

    service: CommandService = current_app.extensions["jc_commands"]
    return service.send(
        sid, type_, payload, current_app.config["COMMAND_TIMEOUT_S"] if timeout is None else timeout
    )
