"""The shipped broker config: TLS client certificates required, stations confined to their topics."""

from __future__ import annotations

import threading

import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.cloud.support import wait_for
from tests.support.broker import Broker, ConnectRefused


def _collect(client) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    return got


def test_client_without_certificate_is_refused(broker: Broker) -> None:
    with pytest.raises(ConnectRefused):
        broker.connect(None, "anonymous")


def test_certificate_from_another_ca_is_refused(broker: Broker) -> None:
    with pytest.raises(ConnectRefused):
        broker.connect(broker.rogue_identity("A"), "rogue")


def test_station_cannot_publish_as_another(broker: Broker) -> None:
    cloud = broker.connect(broker.cloud, "cloud")
    got = _collect(cloud)
    subscribed = threading.Event()
    cloud.on_subscribe = lambda *_a: subscribed.set()
    cloud.subscribe([("jc/v1/st/#", SubscribeOptions(qos=1))])
    assert subscribed.wait(5)
    a = broker.connect(broker.station("A"), "gw-A")
    results: dict[int, str] = {}
    a.on_publish = lambda _c, _u, mid, rc, _p: results.__setitem__(mid, str(rc))
    foreign = [
        a.publish(f"jc/v1/st/B/{k}", b"{}", qos=1) for k in ("up", "state", "reply", "telemetry")
    ]
    foreign.append(
        a.publish("jc/v1/st/A/cmd", b"{}", qos=1)
    )  # its own downlink: not for stations to write
    own = a.publish("jc/v1/st/A/up", b"{}", qos=1)
    own.wait_for_publish(5)
    wait_for(lambda: len(results) == 6, what="PUBACKs")
    assert [results[m.mid] for m in foreign[:3]] == ["Not authorized"] * 3
    wait_for(lambda: got, what="A's own message at the cloud")
    assert [t for t, _ in got] == ["jc/v1/st/A/up"]


def test_station_cannot_read_another_stations_commands(broker: Broker) -> None:
    a = broker.connect(broker.station("A"), "gw-A")
    got = _collect(a)
    done = threading.Event()
    a.on_subscribe = lambda *_a: done.set()
    # Mosquitto 2.0 may grant the subscription; the ACL then withholds every message of B.
    a.subscribe([("jc/v1/st/B/cmd", SubscribeOptions(qos=1)), ("jc/v1/st/+/ack", SubscribeOptions(qos=1)),
                 ("jc/v1/st/A/cmd", SubscribeOptions(qos=1))])  # fmt: skip
    assert done.wait(5)
    cloud = broker.connect(broker.cloud, "cloud")
    cloud.publish("jc/v1/st/B/cmd", b'{"for":"B"}', qos=1).wait_for_publish(5)
    cloud.publish("jc/v1/st/B/ack", b'{"for":"B"}', qos=1).wait_for_publish(5)
    cloud.publish("jc/v1/st/A/cmd", b'{"for":"A"}', qos=1).wait_for_publish(5)
    wait_for(lambda: got, what="A's own command")
    import time

    time.sleep(0.3)
    assert [p for _, p in got] == [b'{"for":"A"}']
