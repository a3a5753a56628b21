"""A station's certificate is its identity on the real broker (Debian's Mosquitto 2.0 with the
shipped config): its client id, its topics, its subscriptions, and revocation.

Each attack uses a second station's real certificate (issued by the same station CA)."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.cloud.support import wait_for
from tests.support.broker import Broker, ConnectRefused


def _subscribe(client: mqtt.Client, filters: list[str], timeout: float = 5.0) -> list[Any]:
    """Subscribe and return the broker's reason code for each filter."""
    done = threading.Event()
    got: list[Any] = []
    gate = threading.Lock()
    mids: dict[str, int] = {}

    def on_subscribe(_c: Any, _u: Any, mid: int, codes: Any, _p: Any = None) -> None:
        with gate:
            if mid == mids.get("mid"):
                got.extend(codes)
                done.set()

    client.on_subscribe = on_subscribe
    with gate:
        v5 = client.protocol == mqtt.MQTTv5
        _rc, mids["mid"] = client.subscribe([(f, SubscribeOptions(qos=1) if v5 else 1) for f in filters])
    assert done.wait(timeout), "no SUBACK"
    return got


def _collect(client: mqtt.Client) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    client.on_message = lambda _c, _u, m: got.append((m.topic, m.payload))
    return got


def _watch_disconnect(client: mqtt.Client) -> threading.Event:
    gone = threading.Event()
    client.on_disconnect = lambda *_a: gone.set()
    return gone


def test_a_station_cannot_take_another_stations_client_id(broker: Broker) -> None:
    b = broker.connect(broker.station("B"), "B")
    b_gone = _watch_disconnect(b)
    b_got = _collect(b)
    assert all(not c.is_failure for c in _subscribe(b, ["jc/v1/st/B/cmd"]))
    # A asks for B's client id, again and again (with and without a clean start).
    for i in range(5):
        a = broker.client(broker.station("A"), client_id="B")
        a.connect(broker.host, broker.port, keepalive=30, clean_start=bool(i % 2))
        a.loop_start()
        time.sleep(0.2)
        a.disconnect()
        a.loop_stop()
    assert not b_gone.wait(1.0), "B was pushed off the broker"
    cloud = broker.connect(broker.cloud, "cloud-test")
    cloud.publish("jc/v1/st/B/cmd", b'{"for":"B"}', qos=1).wait_for_publish(5)
    wait_for(lambda: b_got, what="B still receives its commands")
    # The broker logs A under its own id: the CN replaced the id it asked for.
    assert "as A (" in broker.log() and "as B (" in broker.log()


@pytest.mark.parametrize("protocol", [mqtt.MQTTv5, mqtt.MQTTv311])
def test_a_station_cannot_subscribe_outside_its_topics_nor_join_a_share_group(
    broker: Broker, protocol: int
) -> None:
    cloud = broker.connect(broker.cloud, "ingest-1")
    cloud_got = _collect(cloud)
    codes = _subscribe(cloud, ["$share/ingest/jc/v1/st/+/up"])
    assert not codes[0].is_failure
    a = broker.client(broker.station("A"), "A", protocol=protocol)
    a.connect(broker.host, broker.port)
    a.loop_start()
    wait_for(a.is_connected, what="A connected")
    a_got = _collect(a)
    attacks = ["$share/ingest/jc/v1/st/+/up", "$share/other/jc/v1/st/+/up", "$share/ingest/#",
               "$share/x/jc/v1/st/A/cmd", "jc/v1/st/+/up", "jc/v1/st/+/cmd", "jc/v1/st/B/cmd",
               "jc/v1/st/#", "#", "$SYS/#", "$CONTROL/dynamic-security/v1/response", "jc/v1/st/A/#"]
    codes = _subscribe(a, attacks)
    assert [c.is_failure for c in codes] == [True] * len(attacks), list(zip(attacks, codes, strict=False))
    # its own downlinks are granted
    assert [c.is_failure for c in _subscribe(a, ["jc/v1/st/A/cmd", "jc/v1/st/A/ack"])] == [False, False]
    # every record of station B reaches the cloud's share group: none is handed to A
    b = broker.connect(broker.station("B"), "B")
    for i in range(30):
        b.publish("jc/v1/st/B/up", f'{{"n":{i}}}'.encode(), qos=1).wait_for_publish(5)
    wait_for(lambda: len(cloud_got) == 30, what="all of B's records at the cloud")
    cloud.publish("jc/v1/st/B/cmd", b"{}", qos=1).wait_for_publish(5)
    cloud.publish("jc/v1/st/A/cmd", b'{"mine":1}', qos=1).wait_for_publish(5)
    wait_for(lambda: a_got, what="A's own command")
    time.sleep(0.3)
    assert a_got == [("jc/v1/st/A/cmd", b'{"mine":1}')]
    a.disconnect()
    a.loop_stop()


def test_a_station_publishes_only_its_uplinks(broker: Broker) -> None:
    cloud = broker.connect(broker.cloud, "cloud-test")
    got = _collect(cloud)
    _subscribe(cloud, ["jc/v1/st/#"])
    a = broker.connect(broker.station("A"), "A")
    for t in ("jc/v1/st/B/up", "jc/v1/st/A/cmd", "jc/v1/st/A/ack", "$CONTROL/dynamic-security/v1",
              "jc/v1/st/A/up/extra"):
        a.publish(t, b'{"bad":1}', qos=1).wait_for_publish(5)
    a.publish("jc/v1/st/A/up", b'{"ok":1}', qos=1).wait_for_publish(5)
    wait_for(lambda: got, what="A's uplink")
    time.sleep(0.3)
    assert got == [("jc/v1/st/A/up", b'{"ok":1}')]
    assert broker.admin().list_clients().count("A") == 1  # the admin command above did nothing


def test_a_station_the_broker_does_not_know_gets_nothing(broker: Broker) -> None:
    cloud = broker.connect(broker.cloud, "cloud-test")
    got = _collect(cloud)
    _subscribe(cloud, ["jc/v1/st/#"])
    stranger = broker.connect(broker.identity("X9"), "X9")  # a valid certificate, never registered
    assert [c.is_failure for c in _subscribe(stranger, ["jc/v1/st/X9/cmd"])] == [True]
    stranger.publish("jc/v1/st/X9/up", b"{}", qos=1).wait_for_publish(5)
    time.sleep(0.3)
    assert got == []


def test_each_listener_takes_only_its_own_kind_of_certificate(broker: Broker) -> None:
    # a station's certificate on the cloud listener (where client ids are free): refused
    with pytest.raises(ConnectRefused):
        broker.connect(broker.station("A"), "B", port=broker.cloud_port)
    # the cloud identity on the stations' listener: refused too (another CA)
    with pytest.raises(ConnectRefused):
        broker.connect(broker.cloud, "cloud", port=broker.port)
    # a server certificate (same root, server CA) is no client certificate
    server = broker.pki.issuer("server").new_server_identity()
    server.write(broker.workdir / "srv.crt", broker.workdir / "srv.key")
    from tests.support.broker import ClientCert

    with pytest.raises(ConnectRefused):
        broker.connect(ClientCert("localhost", broker.workdir / "srv.crt", broker.workdir / "srv.key", server), "s")


def test_crl_is_read_at_start_and_on_sighup_and_connected_clients_must_be_kicked(broker: Broker) -> None:
    """What Mosquitto 2.0.11 does with `crlfile`, measured (docs/cloud.md relies on it)."""
    old = broker.station("A")
    serial = format(old.identity.cert.serial_number, "x")
    broker.pki.write_crl([(serial, int(time.time() * 1000))])
    # 1. a new CRL file alone changes nothing: the broker read the file at start
    a = broker.connect(old, "A")
    a_gone = _watch_disconnect(a)
    # 2. SIGHUP: a connection made before stays up ...
    broker.reload()
    assert not a_gone.wait(1.5) and a.is_connected()
    # 3. ... while new connections with the revoked certificate are refused
    assert _refused(broker, old)
    assert a.is_connected()
    broker.admin().kick("A")
    assert a_gone.wait(5)
    time.sleep(1.5)  # paho's automatic reconnects: each one is refused
    assert not a.is_connected()
    # 4. the same station with a new certificate (re-provisioned) works
    new = broker.new_station_cert("A", "A-new")
    fresh = broker.connect(new, "A")
    fresh.publish("jc/v1/st/A/up", b"{}", qos=1).wait_for_publish(5)
    # 5. and a restart keeps refusing the old one
    broker.restart()
    assert _refused(broker, old)
    broker.connect(new, "A")


def _refused(broker: Broker, cert: Any) -> bool:
    try:
        c = broker.connect(cert, cert.cn, timeout=3)
    except ConnectRefused:
        return True
    c.disconnect()
    return False
