"""The ingest process: MQTT in, batches to the database, acks out.

The paho network thread only queues messages; the main thread drains the queue into batches
(up to INGEST_BATCH_MAX records or INGEST_BATCH_WAIT_MS), stores each batch in one
transaction, then publishes an ack to every station that sent records. QoS 1 deliveries are
acknowledged to the broker on receipt: the end-to-end guarantee is the gateway's outbox,
which resends anything not covered by an `ack` (spec/mqtt-v1.md), so a crash between receipt
and commit loses nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from cloud.ingest.decode import Batch, Refusal, add_message
from cloud.ingest.ratelog import RateLimitedLog
from cloud.ingest.store import Store, StoreResult, sweep_liveness
from cloud.mqtt import MqttSettings, make_client
from jcproto import Ack, RefusedRecord, shared_subscription, subscription, topic
from jcproto.messages import MAX_REFUSED

log = logging.getLogger("jc.ingest")


@dataclass
class IngestStats:
    messages: int = 0
    records_stored: int = 0
    duplicates: int = 0
    batches: int = 0
    acks_sent: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    db_retries: int = 0
    deadlocks: int = 0  # retries PostgreSQL asked for by finding a deadlock (the lock order keeps this 0)
    store_errors: int = 0  # records/messages the database refused (kept flagged or dropped)
    conflicts: int = 0
    refused: int = 0  # records held but refused (a gateway's pairing codes), told in acks
    timed_out: int = 0  # stations set offline by the liveness sweep

    def summary(self) -> str:
        return (
            f"messages={self.messages} stored={self.records_stored} duplicates={self.duplicates} "
            f"batches={self.batches} acks={self.acks_sent} dropped={dict(self.dropped)} flagged={dict(self.flagged)} "
            f"conflicts={self.conflicts} refused={self.refused} store_errors={self.store_errors} timed_out={self.timed_out} "
            f"db_retries={self.db_retries} deadlocks={self.deadlocks}"
        )


@dataclass(frozen=True)
class IngestSettings:
    mqtt: MqttSettings
    group: str = "ingest"
    batch_max: int = 5000
    batch_wait_s: float = 0.05
    client_id: str = ""
    offline_after_s: float = 90.0  # liveness: nothing from a station this long -> offline
    sweep_every_s: float = 5.0

    @classmethod
    def from_config(cls, config: Any) -> IngestSettings:
        return cls(
            mqtt=MqttSettings.from_config(config),
            group=str(config["INGEST_GROUP"]),
            batch_max=int(config["INGEST_BATCH_MAX"]),
            batch_wait_s=int(config["INGEST_BATCH_WAIT_MS"]) / 1000,
            offline_after_s=float(config.get("STATION_OFFLINE_AFTER_S", 90)),
        )


class IngestWorker:
    def __init__(
        self, settings: IngestSettings, engine: Engine, *, store: Store | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.store = store or Store(engine, offline_after_s=settings.offline_after_s)
        self.stats = IngestStats()
        self.refusals = RateLimitedLog(log)
        self._inbox: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()  # set once the broker granted every subscription
        client_id = (
            settings.client_id
            or f"jc-ingest-{socket.gethostname()}-{os.getpid()}-{id(self) & 0xFFFF:x}"
        )
        self.client = make_client(settings.mqtt, client_id)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe

    # --- MQTT callbacks (network thread) -----------------------------------------------------------
    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        if rc.is_failure:
            log.error("broker refused the connection: %s", rc)
            return
        g = self.settings.group
        client.subscribe(
            [
                (shared_subscription(g, "up"), SubscribeOptions(qos=1)),
                (shared_subscription(g, "reply"), SubscribeOptions(qos=1)),
                (shared_subscription(g, "telemetry"), SubscribeOptions(qos=0)),
                # Not shared: a shared subscription gets no retained messages, and every
                # process may apply state (the update is ordered by the message, not by arrival).
                (subscription("state"), SubscribeOptions(qos=1)),
            ]
        )
        log.info(
            "connected to %s:%s, subscribed (group %s)",
            self.settings.mqtt.host,
            self.settings.mqtt.port,
            g,
        )
        self.connected.set()

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, codes: list[Any], _p: Any = None
    ) -> None:
        refused = [str(c) for c in codes if c.is_failure]
        if refused:
            log.error(
                "the broker refused subscriptions: %s (check the ACL's cloud identity)", refused
            )
            return
        log.info("ready: subscriptions granted")
        self.subscribed.set()

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._stop.is_set():
            log.warning("disconnected from the broker (%s); reconnecting", rc)

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._inbox.put((msg.topic, msg.payload, bool(msg.retain)))

    # --- main loop --------------------------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying until the broker is there)."""
        self.client.connect_async(self.settings.mqtt.host, self.settings.mqtt.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        """Process batches until `stop()`; then flush what was received and disconnect."""
        self.start()
        last_report = last_sweep = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = self._collect(self._stop)
                if batch.messages:
                    self._process(batch)
                if time.monotonic() - last_sweep > self.settings.sweep_every_s:
                    self.sweep()
                    last_sweep = time.monotonic()
                if time.monotonic() - last_report > 60:
                    log.info("ingest: %s", self.stats.summary())
                    last_report = time.monotonic()
            self._drain_remaining()
        finally:
            self.client.disconnect()
            self.client.loop_stop()

    def sweep(self) -> None:
        """Liveness: stations shown online that sent nothing within the timeout go offline."""
        try:
            gone = sweep_liveness(self.engine, int(time.time() * 1000), self.settings.offline_after_s)
        except Exception as e:  # noqa: BLE001 - the database may be away; next sweep retries
            self.refusals.warning("db", "liveness sweep failed: %s", e)
            return
        if gone:
            self.stats.timed_out += len(gone)
            log.info("offline (nothing heard for %ss): %s", self.settings.offline_after_s, ", ".join(gone[:20]))

    def _drain_remaining(self) -> None:
        while not self._inbox.empty():
            self._process(self._collect(None))

    def _collect(self, stop: threading.Event | None) -> Batch:
        batch = Batch(received_at=int(time.time() * 1000))
        try:
            first = self._inbox.get(timeout=0.2 if stop is not None else 0)
        except queue.Empty:
            return batch
        self._add(batch, *first)
        deadline = time.monotonic() + self.settings.batch_wait_s
        while len(batch.records) < self.settings.batch_max:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self._inbox.get(timeout=left)
                except queue.Empty:
                    break
            self._add(batch, *item)
        return batch

    def _add(self, batch: Batch, topic_name: str, payload: bytes, retained: bool = False) -> None:
        try:
            add_message(batch, topic_name, payload, retained)
        except Refusal as e:
            batch.dropped[e.kind] += 1
            self.refusals.warning(e.kind, "dropped a message on %s: %s", topic_name, e.message)
        except Exception as e:  # noqa: BLE001 - a decoder bug must not stop ingest
            batch.dropped["error"] += 1
            self.refusals.warning(
                "error", "dropped a message on %s: %s: %s", topic_name[:200], type(e).__name__, str(e)[:200]
            )

    def _process(self, batch: Batch) -> None:
        self.stats.messages += batch.messages
        self.stats.dropped.update(batch.dropped)
        result: StoreResult | None = None
        for attempt in range(10):
            try:
                result = self.store.write(batch)
                break
            except OperationalError as e:  # database away or locked: wait, the broker holds nothing for us
                self.stats.db_retries += 1
                if is_deadlock(e):
                    self.stats.deadlocks += 1
                self.refusals.warning(
                    "db", "storing a batch failed (attempt %d): %s", attempt + 1, e
                )
                time.sleep(min(5.0, 0.2 * 2**attempt))
            except Exception as e:  # noqa: BLE001 - never die on input: the gateways resend
                self.refusals.warning("store", "storing a batch failed: %s: %s", type(e).__name__, str(e)[:300])
                break
        if result is None:
            log.error(
                "giving up on a batch of %d records: the gateways will resend them",
                len(batch.records),
            )
            return
        self.stats.batches += 1
        self.stats.records_stored += result.inserted
        self.stats.duplicates += result.duplicates
        self.stats.flagged.update(result.flagged)
        self.stats.store_errors += result.errors
        for sid, seq in sorted(result.acks.items()):
            conflicts = result.conflicts.get(sid)
            refused = sorted((result.refused.get(sid) or {}).items())
            if len(refused) > MAX_REFUSED:  # those the list cannot name are resent, and told then
                seq = min(seq, refused[MAX_REFUSED][0] - 1)
                refused = refused[:MAX_REFUSED]
            told = [RefusedRecord(seq=q, kind=kind, reason=reason) for q, (kind, reason) in refused] or None
            if told:
                self.stats.refused += len(told)
            if conflicts:
                self.stats.conflicts += len(conflicts)
                if len(conflicts) > 1000:  # what the list cannot name must not look held
                    seq = min(seq, conflicts[0] - 1)
                ack = Ack(seq=seq, conflicts=conflicts[:1000], high=result.highs.get(sid, seq), refused=told)
            else:
                ack = Ack(seq=seq, refused=told)
            self.client.publish(topic(sid, "ack"), ack.to_json(), qos=1)
            self.stats.acks_sent += 1


DEADLOCK_SQLSTATE = "40P01"  # PostgreSQL's deadlock_detected


def is_deadlock(exc: BaseException) -> bool:
    """A database error that is PostgreSQL's deadlock detector breaking a wait cycle."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) == DEADLOCK_SQLSTATE
