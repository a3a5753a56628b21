"""paho-mqtt 2.x clients for cloud processes: MQTT 5, TLS with the cloud identity."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass(frozen=True)
class MqttSettings:
    host: str
    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> MqttSettings:
        return cls(
            host=str(config["BROKER_HOST"]),
            port=int(config["BROKER_CLOUD_PORT"]),
            ca_file=Path(config["BROKER_CA_FILE"]),
            cert_file=Path(config["CLOUD_CERT_FILE"]),
            key_file=Path(config["CLOUD_KEY_FILE"]),
        )

    def check_files(self) -> None:
        for key, path in (
            ("BROKER_CA_FILE", self.ca_file),
            ("CLOUD_CERT_FILE", self.cert_file),
            ("CLOUD_KEY_FILE", self.key_file),
        ):
            if not path.is_file():
                fix = (
                    "run `jc-cloud ca init`"
                    if key == "BROKER_CA_FILE"
                    else "run `jc-cloud cloud-cert`"
                )
                raise FileNotFoundError(
                    f"{key}: {path} does not exist; {fix} or point {key} at the file"
                )


def tls_context(settings: MqttSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(settings.ca_file))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(settings.cert_file), str(settings.key_file))
    return ctx


def make_client(settings: MqttSettings, client_id: str) -> mqtt.Client:
    settings.check_files()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.tls_set_context(tls_context(settings))
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    # Queue outgoing QoS 1 messages (acks, commands) while reconnecting rather than failing.
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(100)
    return client
