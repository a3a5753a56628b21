"""Helpers for the cloud tests: databases, a fake station (paho), ingest in a thread or a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives import serialization
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine

from cloud.db import make_engine
from cloud.ingest.worker import IngestSettings, IngestWorker
from cloud.migrate import upgrade
from cloud.mqtt import MqttSettings
from jcproto import Ack, Reply, State, topic, with_signature
from tests.support.broker import Broker, ClientCert
from tests.support.services import missing, require_module

PG_DSNS = (
    "host=127.0.0.1 port=5432 dbname=test user=postgres",
    "host=127.0.0.1 port=5432 dbname=test user=root",
)


def wait_for(
    cond: Callable[[], Any], timeout: float = 10.0, what: str = "condition", interval: float = 0.02
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --- databases ----------------------------------------------------------------------------------------
@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in database `test`, as an SQLAlchemy URL; dropped afterwards."""
    psycopg = require_module("psycopg", "psycopg is not installed (cloud extra): run scripts/setup.sh")
    conn = None
    user = ""
    for dsn in PG_DSNS:
        try:
            conn = psycopg.connect(dsn, connect_timeout=2, autocommit=True)
            user = dsn.rsplit("=", 1)[1]
            break
        except psycopg.OperationalError:
            continue
    if conn is None:
        missing("no PostgreSQL server reachable at 127.0.0.1:5432 (database test, trust auth): "
                "run scripts/setup.sh")
    schema = f"jc_test_{uuid.uuid4().hex[:12]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND query ILIKE %s",
            (f"%{schema}%",),
        )
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


@contextmanager
def writer_and_web(backend: str, sqlite_dir: Path) -> Iterator[tuple[Engine, Engine]]:
    """A migrated database ("sqlite": a file in `sqlite_dir`; "postgres": a fresh schema) as
    (writer engine for seeding and checks, web engine the operations run on, as the API's)."""
    def engines(url: str) -> Iterator[tuple[Engine, Engine]]:
        migrated_engine(url).dispose()
        writer, web = make_engine(url, purpose="writer"), make_engine(url, purpose="web")
        try:
            yield writer, web
        finally:
            writer.dispose(), web.dispose()

    if backend == "sqlite":
        yield from engines(f"sqlite:///{sqlite_dir / 'cloud.sqlite'}")
    else:
        with postgres_schema() as url:
            yield from engines(url)


def migrated_engine(url: str) -> Engine:
    engine = make_engine(url, purpose="writer")
    upgrade(engine)
    return engine


# --- records ------------------------------------------------------------------------------------------
NOW = 1_767_225_600_000


def session_records(
    start_seq: int, key_pem: bytes | None = None, gun: str = "P1-1", cost_fen: int = 150
) -> list[dict[str, Any]]:
    """started, two progress, ended (signed with key_pem if given) of one session: 4 records."""
    sid_ = str(uuid.uuid4())
    s = start_seq
    recs: list[dict[str, Any]] = [
        {"seq": s, "type": "session_started", "ts": NOW, "session_id": sid_, "gun": gun, "order_id": f"o-{s}",
         "auth": "remote", "energy_start_wh": 1000, "limit": {"mode": "full", "value": 0}, "power_cap_w": 60000},
        {"seq": s + 1, "type": "session_progress", "ts": NOW + 60_000, "session_id": sid_, "energy_wh": 1500,
         "power_w": 30000, "voltage_v": 400.0, "current_a": 75.0, "soc": 40, "cost_fen": 75},
        {"seq": s + 2, "type": "session_progress", "ts": NOW + 120_000, "session_id": sid_, "energy_wh": 1900,
         "power_w": 20000, "voltage_v": 401.0, "current_a": 50.0, "soc": 60, "cost_fen": 135},
    ]  # fmt: skip
    ended = {"seq": s + 3, "type": "session_ended", "ts": NOW + 150_000, "session_id": sid_, "gun": gun,
             "energy_start_wh": 1000, "energy_stop_wh": 2000, "started_at": NOW, "ended_at": NOW + 150_000,
             "stop_reason": "ev_full", "cost_fen": cost_fen, "signature": "AAAAAAAAAAAA"}  # fmt: skip
    if key_pem is not None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        ended = with_signature(ended, key)  # type: ignore[arg-type]
    recs.append(ended)
    return recs


def filler_records(start_seq: int, n: int) -> list[dict[str, Any]]:
    """n records alternating meter_minute and event."""
    out = []
    for i in range(n):
        s = start_seq + i
        if i % 2:
            out.append({"seq": s, "type": "event", "ts": NOW + s, "kind": "load_level", "gun": None,
                        "detail": {"level": "normal", "load_pct": 12.5}})  # fmt: skip
        else:
            out.append({"seq": s, "type": "meter_minute", "ts": NOW + s, "p_avg_w": 1000 + i, "p_max_w": 2000 + i,
                        "load_pct_max": 33.3, "energy_import_wh": 10**6 + s})  # fmt: skip
    return out


# --- a station ---------------------------------------------------------------------------------------
class FakeStation:
    """A minimal gateway: state with a will, records with resend until acked, command answers."""

    def __init__(
        self, broker: Broker, sid: str, ident: ClientCert | None = None, fw: str = "1.0.0"
    ) -> None:
        self.broker = broker
        self.sid = sid
        self.ident = ident or broker.station(sid)
        self.fw = fw
        self.acked = 0
        self.ack_seen = threading.Condition()
        self.outbox: dict[int, dict[str, Any]] = {}
        self.commands: list[dict[str, Any]] = []
        self.answer: Callable[[dict[str, Any]], Reply | None] | None = None
        self.client: mqtt.Client | None = None
        self.conn_ts = 0

    def connect(self) -> FakeStation:
        self.conn_ts = int(time.time() * 1000)
        will = State(online=False, ts=self.conn_ts, fw=self.fw).to_json()
        c = self.broker.connect(
            self.ident,
            f"gw-{self.sid}-{uuid.uuid4().hex[:6]}",
            will=(topic(self.sid, "state"), will, 1, True),
        )
        c.on_message = self._on_message
        c.subscribe(
            [
                (topic(self.sid, "ack"), SubscribeOptions(qos=1)),
                (topic(self.sid, "cmd"), SubscribeOptions(qos=1)),
            ]
        )
        time.sleep(0.05)
        c.publish(
            topic(self.sid, "state"),
            State(online=True, ts=self.conn_ts, fw=self.fw, cfg_rev=1).to_json(),
            qos=1,
            retain=True,
        )
        self.client = c
        return self

    def _on_message(self, c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/ack"):
            seq = Ack.from_json(msg.payload).seq
            with self.ack_seen:
                self.acked = max(self.acked, seq)  # acks from several ingest processes may cross
                self.ack_seen.notify_all()
        elif msg.topic.endswith("/cmd"):
            cmd = json.loads(msg.payload)
            self.commands.append(cmd)
            reply = self.answer(cmd) if self.answer else None
            if reply is not None:
                c.publish(topic(self.sid, "reply"), reply.to_json(), qos=1)

    def publish_raw(self, kind: str, payload: bytes | str, qos: int = 1) -> mqtt.MQTTMessageInfo:
        assert self.client is not None
        return self.client.publish(topic(self.sid, kind), payload, qos=qos)  # type: ignore[arg-type]

    def send(self, records: list[dict[str, Any]], batch: int = 100, remember: bool = True) -> None:
        """Publish records in `up` batches of `batch`, in the order given."""
        if remember:
            for r in records:
                self.outbox[r["seq"]] = r
        for i in range(0, len(records), batch):
            self.publish_raw("up", json.dumps({"v": 1, "records": records[i : i + batch]}))

    def resend_unacked(self, batch: int = 100) -> None:
        self.send(
            [self.outbox[s] for s in sorted(self.outbox) if s > self.acked], batch, remember=False
        )

    def wait_acked(self, seq: int, timeout: float = 10.0) -> int:
        with self.ack_seen:
            self.ack_seen.wait_for(lambda: self.acked >= seq, timeout)
            return self.acked

    def drain(self, timeout: float = 30.0, resend_every: float = 1.0) -> None:
        """Like a gateway: resend what is unacknowledged until everything is acknowledged."""
        want = max(self.outbox)
        deadline = time.monotonic() + timeout
        while self.wait_acked(want, resend_every) < want:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.sid}: acked {self.acked} of {want} after {timeout}s")
            self.resend_unacked()

    def crash(self) -> None:
        """Vanish without DISCONNECT: the broker publishes the will."""
        assert self.client is not None
        c, self.client = self.client, None
        c.loop_stop()
        sock = c.socket()
        if sock is not None:
            sock.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
            self.client = None


# --- ingest --------------------------------------------------------------------------------------------
def mqtt_settings(broker: Broker) -> MqttSettings:
    return MqttSettings(
        broker.host, broker.cloud_port, broker.ca_file, broker.cloud.cert_file, broker.cloud.key_file
    )


class ThreadedIngest:
    """An IngestWorker in a thread of the test process (quick to start; same code as the process)."""

    def __init__(
        self,
        broker: Broker,
        engine: Engine,
        group: str = "ingest",
        batch_max: int = 5000,
        *,
        offline_after_s: float = 90.0,
        sweep_every_s: float = 5.0,
    ) -> None:
        self.worker = IngestWorker(
            IngestSettings(
                mqtt_settings(broker), group, batch_max, 0.02,
                offline_after_s=offline_after_s, sweep_every_s=sweep_every_s,
            ),
            engine,
        )  # fmt: skip
        self.thread = threading.Thread(target=self.worker.run, name="ingest", daemon=True)

    def start(self) -> ThreadedIngest:
        self.thread.start()
        if not self.worker.subscribed.wait(10):
            raise AssertionError("ingest did not subscribe within 10 s")
        return self

    def stop(self) -> None:
        self.worker.stop()
        self.thread.join(10)


class IngestProcess:
    """`jc-cloud ingest` as its own process, configured through JC_* variables."""

    def __init__(
        self, broker: Broker, db_url: str, workdir: Path, name: str = "ingest", batch_max: int = 500
    ) -> None:
        self.workdir = workdir
        self.log_file = workdir / f"{name}.log"
        self.env = {
            **os.environ,
            "JC_INSTANCE_PATH": str(workdir / "instance"),
            "JC_DATABASE_URL": db_url,
            "JC_BROKER_HOST": broker.host,
            "JC_BROKER_PORT": str(broker.port),
            "JC_BROKER_CLOUD_PORT": str(broker.cloud_port),
            "JC_SECRET_KEY": "ingest-test-process-secret",
            "JC_BROKER_CA_FILE": str(broker.ca_file),
            "JC_CLOUD_CERT_FILE": str(broker.cloud.cert_file),
            "JC_CLOUD_KEY_FILE": str(broker.cloud.key_file),
            "JC_INGEST_BATCH_MAX": str(batch_max),
            "JC_INGEST_BATCH_WAIT_MS": "20",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_pos = 0

    def start(self, timeout: float = 20.0) -> IngestProcess:
        exe = Path(sys.executable).with_name("jc-cloud")
        self._log_pos = self.log_file.stat().st_size if self.log_file.exists() else 0
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "ingest"], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_for(
            lambda: (
                "ready: subscriptions granted" in self.log()[self._log_pos :]
                or self.proc.poll() is not None
            ),
            timeout,
            "ingest ready",
        )
        if self.proc.poll() is not None:
            raise AssertionError(f"ingest exited {self.proc.returncode}:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
