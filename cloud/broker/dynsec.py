"""Access control on the broker: Mosquitto's dynamic-security plugin, driven by the cloud.

Why this plugin and not `acl_file`: Mosquitto 2.0's acl_file allows every SUBSCRIBE (its check
returns success for subscriptions), so a station could join `$share/<group>/...` and take
records meant for ingest. The plugin checks subscriptions, but knows no `%u` pattern: every
station gets a client (user name = its certificate's CN) and a role naming its own topics.
Users it does not know get nothing: with no acl_file, Mosquitto denies what no plugin allows.

The file is rendered once (`jc-cloud broker-config`); afterwards the cloud changes it over
MQTT (`$CONTROL/dynamic-security/v1`, as the cloud identity) and the plugin saves it.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from typing import Any

import paho.mqtt.client as mqtt

from jcproto import is_valid_sid

CONTROL = "$CONTROL/dynamic-security/v1"
RESPONSE = CONTROL + "/response"
CLOUD_ROLE = "jc-cloud"
STATION_UP = ("state", "telemetry", "up", "reply")
STATION_DOWN = ("ack", "cmd")


def station_role_name(sid: str) -> str:
    return f"st-{sid}"


def _acl(acltype: str, topic: str, allow: bool = True, priority: int = 0) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": priority, "allow": allow}


def station_acls(sid: str) -> list[dict[str, Any]]:
    """A station may publish its uplinks and subscribe to (and receive) its own downlinks: exact
    topics only, so no wildcard and no `$share` filter matches."""
    if not is_valid_sid(sid):
        raise ValueError(f"invalid station id {sid!r}")
    base = f"jc/v1/st/{sid}/"
    acls = [_acl("publishClientSend", base + k) for k in STATION_UP]
    for k in STATION_DOWN:
        acls += [
            _acl("publishClientReceive", base + k),
            _acl("subscribeLiteral", base + k),
            _acl("unsubscribeLiteral", base + k),
        ]
    return acls


def cloud_acls() -> list[dict[str, Any]]:
    acls = []
    for prefix in ("jc/v1/st/#", "$share/+/jc/v1/st/#", CONTROL + "/#"):
        acls.append(_acl("subscribePattern", prefix))
        acls.append(_acl("unsubscribePattern", prefix))
    for topic in ("jc/v1/st/#", CONTROL + "/#"):
        acls.append(_acl("publishClientSend", topic))
        acls.append(_acl("publishClientReceive", topic))
    return acls


def render_dynsec(cloud_identities: Iterable[str], stations: Iterable[str] = ()) -> dict[str, Any]:
    """The plugin's JSON file: defaults deny everything, cloud identities, known stations."""
    stations = sorted(set(stations))
    clients = [{"username": c, "textname": "Juchong cloud", "roles": [{"rolename": CLOUD_ROLE}]}
               for c in cloud_identities]
    clients += [{"username": s, "textname": "station", "roles": [{"rolename": station_role_name(s)}]}
                for s in stations]
    roles = [{"rolename": CLOUD_ROLE, "acls": cloud_acls()}]
    roles += [{"rolename": station_role_name(s), "acls": station_acls(s)} for s in stations]
    return {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": False,
        },
        "clients": clients,
        "groups": [],
        "roles": roles,
    }


class BrokerAdminError(RuntimeError):
    pass


class BrokerAdmin:
    """Sends dynamic-security commands over a connected paho client (the cloud identity)."""

    def __init__(self, client: mqtt.Client, timeout: float = 5.0) -> None:
        self.client = client
        self.timeout = timeout
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[Any]]] = {}
        client.message_callback_add(RESPONSE, self._on_response)

    def _ensure_subscribed(self) -> None:
        # Subscribed before every command: a reconnect (clean session) loses the subscription,
        # and admin commands are rare (provisioning, revocation).
        done = threading.Event()
        state: dict[str, Any] = {}
        gate = threading.Lock()

        def on_subscribe(_c: Any, _u: Any, mid: int, reason_codes: Any, _p: Any = None) -> None:
            with gate:  # the SUBACK may come before subscribe() has returned its mid
                if mid != state.get("mid"):
                    return
            codes = reason_codes if isinstance(reason_codes, list) else [reason_codes]
            state["ok"] = all(not getattr(rc, "is_failure", False) for rc in codes)
            done.set()

        previous = self.client.on_subscribe
        self.client.on_subscribe = on_subscribe
        try:
            with gate:
                rc, mid = self.client.subscribe(RESPONSE, qos=1)
                state["mid"] = mid
            if rc != mqtt.MQTT_ERR_SUCCESS or not done.wait(self.timeout) or not state.get("ok"):
                raise BrokerAdminError("the broker refused the dynamic-security response topic")
        finally:
            self.client.on_subscribe = previous

    def _on_response(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        responses = body.get("responses") if isinstance(body, dict) else None
        if not isinstance(responses, list) or not responses:
            return
        # Every admin connection receives every response: the correlation data says whose.
        cid = str(responses[0].get("correlationData", "")).split(":")[0]
        with self._lock:
            waiter = self._waiting.get(cid)
        if waiter is not None:
            waiter[1].append(responses)
            waiter[0].set()

    def run(self, commands: list[dict[str, Any]], ok_errors: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Send the commands in one message; BrokerAdminError unless each succeeded (or failed
        with one of `ok_errors`, e.g. "Client already exists")."""
        self._ensure_subscribed()
        cid = uuid.uuid4().hex
        commands = [{**c, "correlationData": f"{cid}:{i}"} for i, c in enumerate(commands)]
        event, box = threading.Event(), []
        with self._lock:
            self._waiting[cid] = (event, box)
        try:
            info = self.client.publish(CONTROL, json.dumps({"commands": commands}), qos=1)
            if info.rc != mqtt.MQTT_ERR_SUCCESS or not event.wait(self.timeout):
                raise BrokerAdminError(
                    f"no answer from the broker's dynamic-security plugin within {self.timeout}s"
                )
        finally:
            with self._lock:
                self._waiting.pop(cid, None)
        responses: list[dict[str, Any]] = box[0]
        allowed = set(ok_errors)
        bad = [r for r in responses if r.get("error") and r["error"] not in allowed]
        if bad:
            raise BrokerAdminError("; ".join(f"{r.get('command')}: {r['error']}" for r in bad))
        return responses

    # --- what the cloud does ----------------------------------------------------------------------
    def ensure_station(self, sid: str) -> None:
        """The station's role and client exist (idempotent)."""
        role = station_role_name(sid)
        self.run(
            [{"command": "createRole", "rolename": role, "acls": station_acls(sid)},
             {"command": "createClient", "username": sid, "textname": "station",
              "roles": [{"rolename": role}]}],
            ok_errors=("Role already exists", "Client already exists"),
        )

    def remove_station(self, sid: str) -> None:
        """Delete the station's client (the plugin disconnects it) and role: it can do nothing."""
        self.run(
            [{"command": "deleteClient", "username": sid},
             {"command": "deleteRole", "rolename": station_role_name(sid)}],
            ok_errors=("Client not found", "Role not found"),
        )

    def kick(self, sid: str) -> None:
        """Disconnect every connection of user `sid` (disable, then enable: the plugin kicks on
        disable; with certificate log-in the flag itself decides nothing)."""
        self.run([{"command": "disableClient", "username": sid},
                  {"command": "enableClient", "username": sid}],
                 ok_errors=("Client not found",))

    def list_clients(self) -> list[str]:
        out = self.run([{"command": "listClients", "verbose": False, "count": -1, "offset": 0}])
        data = out[0].get("data", {}) if out else {}
        return [c if isinstance(c, str) else c.get("username") for c in data.get("clients", [])]
