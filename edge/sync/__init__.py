"""The station's link to the cloud (spec/mqtt-v1.md): state and will, telemetry at QoS 0,
the outbox drained at QoS 1 against the cloud's acks, commands answered on `reply`.

    attach_sync(station)   # if the station is provisioned; `jc-gateway run` does this
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from edge.credentials import CA_FILE, CERT_FILE, CLOUD_FILE, KEY_FILE, credentials_dir
from edge.sync.commands import CommandProcessor
from edge.sync.drain import Drain, DrainSettings
from edge.sync.link import LinkSettings, MqttLink
from jcproto import (
    Ack,
    GatewayAlarm,
    GunTelemetry,
    ProtocolError,
    Telemetry,
    Transformer,
    parse_topic,
    read_refused,
)
from jcproto.codec import loads

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

PUMP_EVERY_S = 0.2


def cloud_settings(station: Station) -> LinkSettings | None:
    """How to reach the cloud, from what `jc-gateway provision` left (and [cloud] broker)."""
    cfg = station.config
    d = credentials_dir(cfg)
    needed = [d / CERT_FILE, d / KEY_FILE, d / CA_FILE, d / CLOUD_FILE]
    if not all(p.exists() for p in needed):
        return None
    info = json.loads((d / CLOUD_FILE).read_text())
    host, port = info["broker"]["host"], int(info["broker"]["port"])
    if cfg.cloud.broker:
        rest = cfg.cloud.broker.split("://", 1)[1]
        h, _, p = rest.partition(":")
        host, port = h, int(p or 8883)
    from edge.station import VERSION

    return LinkSettings(sid=cfg.station.id, host=host, port=port, ca_file=str(d / CA_FILE),
                        cert_file=str(d / CERT_FILE), key_file=str(d / KEY_FILE), fw=VERSION)


def attach_sync(station: Station) -> Sync | None:
    settings = cloud_settings(station)
    if settings is None:
        log.warning("not provisioned (no certificate in %s): running offline; every record is kept "
                    "until `jc-gateway provision` connects the station", credentials_dir(station.config))
        return None
    start_above_cloud(station)
    sync = Sync(station, settings)
    station.sync = sync
    return sync


def start_above_cloud(station: Station) -> bool:
    """A new, empty store continues after the seqs the cloud already holds for this station
    (`high_seq` from provisioning, spec Revision 1.1): a replaced gateway never reuses one."""
    info = json.loads((credentials_dir(station.config) / CLOUD_FILE).read_text())
    high = info.get("high_seq") or 0
    if not isinstance(high, int) or high <= 0:
        return False
    return station.store.outbox.start_above(high)


class Sync:
    def __init__(self, station: Station, settings: LinkSettings, drain: DrainSettings | None = None) -> None:
        self.station = station
        self.settings = settings
        self.inbox: asyncio.Queue[tuple] = asyncio.Queue()
        self.link: MqttLink | None = None
        self.drain = Drain(station.store, station.clock, self._publish_up, settings.sid, drain,
                           signer=station.signer)
        self.commands = CommandProcessor(station, self._publish_reply)
        self.telemetry_s = station.config.cloud.telemetry_s
        self.dropped = 0
        self.bad_refused = 0  # acks whose `refused` field (or some entries) was malformed
        # Commands run one at a time, beside the receive loop: a start that waits for the
        # pile must not hold up acknowledgements.
        self._cmd_lock = asyncio.Lock()
        self._cmd_tasks: set[asyncio.Task[None]] = set()

    def _publish_up(self, payload: str) -> bool:
        return self.link is not None and self.link.publish("up", payload, qos=1)

    def _publish_reply(self, payload: str) -> bool:
        return self.link is not None and self.link.publish("reply", payload, qos=1)

    async def run(self, stop: asyncio.Event) -> None:
        self.link = MqttLink(self.settings, asyncio.get_running_loop(), self.inbox)
        self.link.cfg_rev = self.station.store.settings.get("cfg_rev")
        self.link.start()
        tasks = [asyncio.create_task(self._receive(), name="sync:receive"),
                 asyncio.create_task(self._pump(), name="sync:pump"),
                 asyncio.create_task(self._telemetry(), name="sync:telemetry")]
        try:
            await stop.wait()
        finally:
            for t in [*tasks, *self._cmd_tasks]:
                t.cancel()
            await asyncio.gather(*tasks, *self._cmd_tasks, return_exceptions=True)
            await asyncio.to_thread(self.link.stop)

    async def _receive(self) -> None:
        while True:
            kind, topic_, payload = await self.inbox.get()
            try:
                if kind == "connected":
                    self.drain.rewind("connected")
                    self.drain.pump()
                elif kind == "message":
                    await self._message(topic_, payload)
            except Exception:  # noqa: BLE001 — one bad message must not stop the link
                log.exception("handling %s failed", kind)

    async def _message(self, topic_: str, payload: bytes) -> None:
        try:
            sid, what = parse_topic(topic_)
        except ProtocolError:
            self.dropped += 1
            return
        if sid != self.settings.sid:
            self.dropped += 1
            return
        if what == "ack":
            try:
                data = loads(payload)
                ack = Ack.from_dict(data)
            except ProtocolError as exc:
                self.dropped += 1
                log.warning("bad ack dropped: %s", exc)
                return
            if "refused" in data:  # the project's optional field: a malformed one is ignored, not the ack
                _, problems = read_refused(data["refused"])
                if problems:
                    self.bad_refused += 1
                    log.warning("ack %d: refused entries ignored (%d): %s", ack.seq, len(problems),
                                "; ".join(problems[:3]))
            self.drain.on_ack(ack.seq, ack.conflicts, ack.high, ack.refused)
            self.drain.pump()
        elif what == "cmd":
            task = asyncio.create_task(self._command(payload))
            self._cmd_tasks.add(task)
            task.add_done_callback(self._cmd_tasks.discard)

    async def _command(self, payload: bytes) -> None:
        async with self._cmd_lock:
            try:
                await self.commands.handle(payload)
            except Exception:  # noqa: BLE001
                log.exception("command handling failed")

    async def _pump(self) -> None:
        while True:
            if self.link is not None and self.link.connected:
                try:
                    self.drain.pump()
                except Exception:  # noqa: BLE001
                    log.exception("sending records failed")
            await asyncio.sleep(PUMP_EVERY_S)

    async def _telemetry(self) -> None:
        while True:
            await asyncio.sleep(self.telemetry_s)
            if self.link is None or not self.link.connected:
                continue
            with contextlib.suppress(Exception):
                self.link.publish("telemetry", self.telemetry_payload(), qos=0)

    def telemetry_payload(self) -> str:
        st = self.station.status()
        load = st["load"]
        m = st["meter"]
        transformer = None
        if self.station.meter is not None:
            fresh = not m["lost"] and m["s_total_va"] is not None
            transformer = Transformer(load_pct=load["load_pct"] if fresh else None,
                                      s_total_va=m["s_total_va"] if fresh else None,
                                      p_total_w=m["p_total_w"] if fresh else None, level=load["level"])
        guns = [GunTelemetry(id=g["id"], state=g["state"], power_w=g["power_w"], limit_w=g["limit_w"],
                             energy_wh=g["energy_wh"] or 0,
                             session_id=g["session"]["session_id"] if g["session"] else None,
                             soc=g["soc"], rated_power_w=g["rated_power_w"] or None) for g in st["guns"]]
        alarms = [GatewayAlarm(key=a["key"][:64], message=(a["message"] or "")[:500], since=a["since"])
                  for a in st["alarms"][:100]]
        return Telemetry(ts=self.station.now_ms(), transformer=transformer, guns=guns,
                         sid=self.settings.sid, alarms=alarms).to_json()

    def config_changed(self, cfg_rev: int) -> None:
        if self.link is not None:
            self.link.cfg_rev = cfg_rev
            if self.link.connected:
                self.link.publish_state()

    def status(self) -> dict[str, Any]:
        link = self.link
        return {
            "configured": True, "broker": f"{self.settings.host}:{self.settings.port}",
            "connected": bool(link and link.connected), "connections": link.connections if link else 0,
            "last_error": link.last_error if link else None, "acked_seq": self.drain.acked,
            "sent_seq": self.drain.sent_high, "last_ack_at": self.drain.last_ack_at_ms,
            "resends": self.drain.resends, "seq_conflicts": self.drain.conflicts,
            "commands": self.commands.handled, "dropped": self.dropped,
            "pairing_refused": self.drain.refused,
        }


__all__ = ["Sync", "attach_sync", "cloud_settings"]
