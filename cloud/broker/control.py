"""Telling the running broker about identity changes: a new CRL (SIGHUP), stations added or
taken away, connections dropped (dynamic-security commands over the cloud's MQTT link).

What Mosquitto 2.0.11 does, measured in tests/cloud/test_broker_identity.py: the station
listener reads `crlfile` when it starts and again on SIGHUP (it then builds a new TLS context);
connections made before the reload keep going, so a revoked station is also disconnected.
"""

from __future__ import annotations

import logging
import os
import signal
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloud.broker.dynsec import BrokerAdmin, BrokerAdminError

log = logging.getLogger(__name__)
RELOAD_SETTLE_S = 0.5  # SIGHUP is handled in the broker's next loop turn: give it that
# Without a pid file the broker is reloaded by its own watcher (deploy/systemd/
# jc-broker-crl.path): kicking before that reload would let the station straight back in.
EXTERNAL_RELOAD_WAIT_S = 5.0


def reload_broker(pid_file: str | Path | None) -> str | None:
    """SIGHUP to the broker in `pid_file`; None when sent, else why not (for the operator)."""
    if not pid_file:
        return "BROKER_PID_FILE is not set"
    try:
        pid = int(Path(pid_file).read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as e:
        return f"cannot signal the broker via {pid_file}: {e}"
    return None


@contextmanager
def admin_connection(config: Mapping[str, Any], timeout: float = 5.0) -> Iterator[BrokerAdmin]:
    """A short-lived admin connection as the cloud identity (CLI commands)."""
    import threading

    from cloud.mqtt import MqttSettings, make_client

    settings = MqttSettings.from_config(config)
    client = make_client(settings, f"jc-admin-{uuid.uuid4().hex[:8]}")
    up = threading.Event()
    client.on_connect = lambda *_a: up.set()
    client.connect_async(settings.host, settings.port, keepalive=30)
    client.loop_start()
    try:
        if not up.wait(timeout):
            raise BrokerAdminError(f"cannot reach the broker at {settings.host}:{settings.port}")
        yield BrokerAdmin(client, timeout)
    finally:
        client.disconnect()
        client.loop_stop()


def app_admin(app: Any, timeout: float = 5.0) -> BrokerAdmin:
    """The web process's admin, on the connection it already holds for commands."""
    from cloud.commands import CommandPublishError

    admin = app.extensions.get("jc_broker_admin")
    if admin is None:
        try:
            client = app.extensions["jc_publisher"].client(timeout)
        except (CommandPublishError, FileNotFoundError, OSError) as e:
            raise BrokerAdminError(str(e)) from None
        admin = app.extensions["jc_broker_admin"] = BrokerAdmin(client, timeout)
    return admin  # type: ignore[no-any-return]


def apply_revocation(
    config: Mapping[str, Any],
    admin: BrokerAdmin | None,
    *,
    kick: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> list[str]:
    """After the CRL file was rewritten: reload the broker, then drop the stations' connections.

    `remove`: stations with no valid certificate left (their client and role are deleted, so
    even a connection that slipped in can do nothing). `kick`: stations that keep another,
    valid certificate (disconnected; they come back with it). Returns warnings for the
    operator (what could not be done and what it means).
    """
    warnings = []
    why = reload_broker(config.get("BROKER_PID_FILE"))
    if why:
        warnings.append(
            f"the broker was not reloaded by the cloud ({why}): it accepts the revoked "
            "certificate for new connections until it gets SIGHUP (deploy/systemd/"
            "jc-broker-crl.path does it when the CRL file changes; or systemctl reload mosquitto)"
        )
        time.sleep(EXTERNAL_RELOAD_WAIT_S if admin is not None else 0)
    else:
        time.sleep(RELOAD_SETTLE_S)
    if admin is None:
        return warnings
    for sid in sorted(set(remove)):
        try:
            admin.remove_station(sid)
        except BrokerAdminError as e:
            warnings.append(f"station {sid} could not be removed from the broker: {e}")
    for sid in sorted(set(kick) - set(remove)):
        try:
            admin.kick(sid)
        except BrokerAdminError as e:
            warnings.append(f"station {sid} could not be disconnected: {e}")
    for w in warnings:
        log.warning("%s", w)
    return warnings


def apply_revocation_later(config: Mapping[str, Any], admin: BrokerAdmin | None, **kw: Any) -> None:
    """apply_revocation in a thread: a web request does not wait for the broker's reload."""
    import threading

    cfg = dict(config)
    threading.Thread(target=apply_revocation, args=(cfg, admin), kwargs=kw,
                     name="jc-revocation", daemon=True).start()
