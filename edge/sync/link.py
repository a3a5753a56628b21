"""The station's MQTT connection: paho-mqtt 2.x, MQTT 5, mutual TLS, persistent session.

paho runs its network loop in its own thread; everything it reports is handed to the
asyncio loop. paho's in-memory queue is never relied on (it loses messages on restart, paho
issues #223 and #634): the gateway publishes only while connected, and its SQLite outbox is
the one durable queue. The will marks the station offline; it carries the same `ts` as the
"online" state of the same connection, so the cloud can order them (docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from jcproto import State, topic

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 24 * 3600  # the broker keeps our subscriptions and queued commands a week


@dataclass(frozen=True)
class LinkSettings:
    sid: str
    host: str
    port: int
    ca_file: str
    cert_file: str
    key_file: str
    fw: str = ""
    keepalive_s: int = 30
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0


class MqttLink:
    """Connects, keeps reconnecting with jittered exponential backoff, and delivers incoming
    messages and connection changes to an asyncio queue as ("message", topic, payload),
    ("connected", None, None) or ("disconnected", reason, None)."""

    def __init__(self, settings: LinkSettings, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[tuple]) -> None:
        self.s = settings
        self.loop = loop
        self.inbox = inbox
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self.conn_ts = 0
        self.cfg_rev: int | str | None = None  # reported in `state`; set_config moves it
        self._attempt = 0
        self._rng = random.Random()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"jc-gw-{settings.sid}",
                        protocol=mqtt.MQTTv5)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=settings.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(settings.cert_file, settings.key_file)
        c.tls_set_context(ctx)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.max_inflight_messages_set(100)
        self.client = c
        self._set_will()
        self._set_backoff()

    # ---- paho thread -----------------------------------------------------------------

    def _post(self, item: tuple) -> None:
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, item)

    def _set_will(self) -> None:
        # A new connection gets a new ts: its will must carry it too.
        self.conn_ts = int(time.time() * 1000)
        will = State(online=False, ts=self.conn_ts, fw=self.s.fw or None, sid=self.s.sid).to_json()
        self.client.will_set(topic(self.s.sid, "state"), will, qos=1, retain=True)

    def _set_backoff(self) -> None:
        base = min(self.s.backoff_max_s, self.s.backoff_min_s * (2 ** min(self._attempt, 16)))
        # Jitter: a thousand stations that lost the cloud together must not return together.
        delay = max(0.1, self._rng.uniform(0.5, 1.0) * base)
        self.client.reconnect_delay_set(min_delay=max(1, int(delay)), max_delay=max(1, int(delay)))

    def _on_connect(self, client: mqtt.Client, _ud: Any, _flags: Any, rc: Any, _props: Any = None) -> None:
        if getattr(rc, "is_failure", False):
            self.last_error = f"connect refused: {rc}"
            log.warning("broker refused the connection: %s", rc)
            return
        self.connected = True
        self.connections += 1
        self._attempt = 0
        self._set_backoff()
        sid = self.s.sid
        client.subscribe([(topic(sid, "cmd"), 1), (topic(sid, "ack"), 1)])
        self.publish_state()
        log.info("connected to %s:%d", self.s.host, self.s.port)
        self._post(("connected", None, None))

    def _on_disconnect(self, _client: mqtt.Client, _ud: Any, _flags: Any, rc: Any, _props: Any = None) -> None:
        was = self.connected
        self.connected = False
        self._attempt += 1
        self._set_backoff()
        self._set_will()
        self.last_error = f"disconnected: {rc}"
        if was:
            log.warning("disconnected from the broker: %s", rc)
        self._post(("disconnected", str(rc), None))

    def _on_message(self, _client: mqtt.Client, _ud: Any, msg: mqtt.MQTTMessage) -> None:
        self._post(("message", msg.topic, bytes(msg.payload)))

    def publish_state(self) -> None:
        """The retained "online" state of this connection (again after cfg_rev changed)."""
        state = State(online=True, ts=self.conn_ts, fw=self.s.fw or None, cfg_rev=self.cfg_rev,
                      sid=self.s.sid).to_json()
        self.client.publish(topic(self.s.sid, "state"), state, qos=1, retain=True)

    # ---- asyncio side ----------------------------------------------------------------

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.s.host, self.s.port, keepalive=self.s.keepalive_s,
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self) -> None:
        """A clean stop: say offline ourselves (a clean disconnect suppresses the will)."""
        if self.connected:
            state = State(online=False, ts=self.conn_ts, fw=self.s.fw or None, sid=self.s.sid).to_json()
            info = self.client.publish(topic(self.s.sid, "state"), state, qos=1, retain=True)
            try:
                info.wait_for_publish(2.0)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()

    def publish(self, kind: str, payload: str | bytes, qos: int = 1, retain: bool = False) -> bool:
        if not self.connected:
            return False
        info = self.client.publish(topic(self.s.sid, kind), payload, qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS
