"""A real Mosquitto broker with the project's own config, on a free port, for tests.

    from tests.support.broker import Broker, broker   # `broker` is a pytest fixture

    def test_x(broker):
        station = broker.station("S1")                 # key + client cert with CN = S1 (our CA)
        c = broker.connect(station, client_id="gw-S1") # paho 2.x, MQTT 5, TLS, loop started
        c.publish("jc/v1/st/S1/state", ..., qos=1, retain=True)
        cloud = broker.connect(broker.cloud)           # the cloud identity (CN jc.cloud)
        broker.kill(); broker.start()                  # same port, same persistence
        broker.restart()                               # SIGTERM, then start

Everything (CA, certificates, config, persistence, log) lives in one temporary folder; the CA
and certificates are made by `cloud.pki` and the config by `cloud.broker`, the same code the
product runs. Debian's /usr/sbin/mosquitto 2.0 is used (the machine's own broker on 1883 is
never touched).
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from cloud.broker import BrokerSettings, render_broker_config
from cloud.broker.dynsec import BrokerAdmin, render_dynsec
from cloud.pki.ca import CertificateAuthority, Identity
from cloud.pki.hierarchy import Pki
from tests.support.ports import free_port
from tests.support.services import missing

MOSQUITTO = os.environ.get("JC_MOSQUITTO", "/usr/sbin/mosquitto")
CLOUD_IDENTITY = "jc.cloud"



@dataclass(frozen=True)
class ClientCert:
    """A client identity on disk: what a paho client (or a gateway config) needs."""

    cn: str
    cert_file: Path
    key_file: Path
    identity: Identity


class ConnectRefused(RuntimeError):
    pass


class PortTaken(RuntimeError):
    """mosquitto could not bind a port chosen for it (another process took it meanwhile)."""


class Broker:
    """One mosquitto process; a context manager (start on enter, stop on exit)."""

    def __init__(self, workdir: Path, *, port: int | None = None, cloud_port: int | None = None,
                 cloud_identity: str = CLOUD_IDENTITY) -> None:
        if not Path(MOSQUITTO).exists():
            missing(f"{MOSQUITTO} not found: run scripts/setup.sh (apt-get install mosquitto)")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.cloud_port = cloud_port or free_port()
        # ports chosen here may be taken by another test process before mosquitto binds them:
        # the first start then moves to new ones (a restart keeps them: clients reconnect there)
        self._ports_movable = port is None and cloud_port is None
        self.ca_dir = self.workdir / "ca"
        self.pki = Pki.init(self.ca_dir, "Juchong test")
        self.ca = self.pki.issuer("station")  # station certificates (as provisioning issues them)
        self.cloud_ca = self.pki.issuer("cloud")
        self.ca_file = self.pki.root_cert_file  # what clients verify the broker with
        self.root_fingerprint = self.pki.root_fingerprint
        server = self.pki.issuer("server").new_server_identity()
        self.server_cert, self.server_key = self.workdir / "server.crt", self.workdir / "server.key"
        server.write(self.server_cert, self.server_key)
        self.log_file = self.workdir / "mosquitto.log"
        self.pid_file = self.workdir / "mosquitto.pid"
        self.settings = BrokerSettings(
            port=self.port,
            cloud_port=self.cloud_port,
            ca_file=self.pki.station_trust_file,
            cloud_ca_file=self.pki.cloud_trust_file,
            crl_file=self.pki.crl_file,
            cert_file=self.server_cert,
            key_file=self.server_key,
            cloud_identities=(cloud_identity,),
            log_file=self.log_file,
            pid_file=self.pid_file,
            run_as=getpass.getuser(),
        )
        self.files = render_broker_config(self.workdir / "broker", self.settings)
        self._certs: dict[str, ClientCert] = {}
        self._registered: set[str] = set()
        self._admin: BrokerAdmin | None = None
        self.cloud = self.identity(cloud_identity)
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[mqtt.Client] = []

    # --- identities -----------------------------------------------------------------------------
    def identity(self, cn: str) -> ClientCert:
        """A client certificate with this CN (cached per CN): from the cloud CA for a name with
        a dot (a cloud identity), else from the station issuing CA (not registered on the
        broker: see `station`)."""
        if cn not in self._certs:
            ca = self.cloud_ca if "." in cn else self.ca
            ident = ca.new_client_identity(cn)
            d = self.workdir / "clients"
            cert = ClientCert(cn, d / f"{cn}.crt", d / f"{cn}.key", ident)
            ident.write(cert.cert_file, cert.key_file)
            self._certs[cn] = cert
        return self._certs[cn]

    def station(self, sid: str) -> ClientCert:
        """A station certificate, and the station known to the broker (as provisioning does)."""
        self.register(sid)
        return self.identity(sid)

    def new_station_cert(self, sid: str, name: str) -> ClientCert:
        """Another certificate for the same station id (a re-provisioned gateway)."""
        ident = self.ca.new_client_identity(sid)
        d = self.workdir / "clients"
        cert = ClientCert(sid, d / f"{name}.crt", d / f"{name}.key", ident)
        ident.write(cert.cert_file, cert.key_file)
        return cert

    def register(self, sid: str) -> None:
        """The station's client and role in the broker's access control."""
        if sid in self._registered:
            return
        if self.running:
            self.admin().ensure_station(sid)
        else:  # write the plugin's file directly; the broker reads it when it starts
            data = json.loads(self.files.dynsec.read_text())
            extra = render_dynsec((), [sid])
            data["clients"] += extra["clients"]
            data["roles"] += extra["roles"]
            self.files.dynsec.write_text(json.dumps(data))
        self._registered.add(sid)

    def admin(self) -> BrokerAdmin:
        """The cloud identity's admin connection (dynamic-security commands)."""
        if self._admin is None:
            self._admin = BrokerAdmin(self.connect(self.cloud, "test-broker-admin"))
        return self._admin

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its config, certificates and CRL."""
        assert self.proc is not None and self.running
        self.proc.send_signal(signal.SIGHUP)

    def rogue_identity(self, cn: str) -> ClientCert:
        """A certificate from a CA the broker does not trust."""
        other = CertificateAuthority.create("rogue CA").new_client_identity(cn)
        d = self.workdir / "rogue"
        cert = ClientCert(cn, d / f"{cn}.crt", d / f"{cn}.key", other)
        other.write(cert.cert_file, cert.key_file)
        return cert

    def tls_context(self, client: ClientCert | None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if client is not None:
            ctx.load_cert_chain(str(client.cert_file), str(client.key_file))
        return ctx

    # --- process --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 10.0) -> Broker:
        for _attempt in range(5):
            try:
                return self._start(timeout)
            except PortTaken:
                self.port, self.cloud_port = free_port(), free_port()
                self.settings = replace(self.settings, port=self.port, cloud_port=self.cloud_port)
                self.files = render_broker_config(self.workdir / "broker", self.settings)
        return self._start(timeout)

    def _start(self, timeout: float) -> Broker:
        if self.running:
            return self
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.files.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                if self._ports_movable and "Address already in use" in err + self.log():
                    self._close_pipe()
                    raise PortTaken(err)
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}\n{self.log()}")
            try:
                for port in (self.port, self.cloud_port):
                    with socket.create_connection((self.host, port), timeout=0.2):
                        pass
                self._ports_movable = False  # it listens: these ports are the broker's from now on
                return self
            except OSError:
                time.sleep(0.02)
        self.kill()
        raise TimeoutError(f"mosquitto did not listen on {self.port} within {timeout}s:\n{self.log()}")

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto saves its persistence file), SIGKILL if it hangs."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close_pipe()

    def kill(self) -> None:
        """SIGKILL: the broker dies as in a crash (no goodbye to clients, no final save)."""
        self._admin = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_pipe()

    def restart(self) -> Broker:
        self._admin = None
        self.stop()
        return self.start()

    def _close_pipe(self) -> None:
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for c in self._clients:
            try:
                c.disconnect()
                c.loop_stop()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self._clients.clear()
        self.kill()

    # --- clients --------------------------------------------------------------------------------
    def client(
        self,
        ident: ClientCert | None,
        client_id: str = "",
        *,
        will: tuple[str, bytes | str, int, bool] | None = None,
        protocol: int = mqtt.MQTTv5,
    ) -> mqtt.Client:
        """A configured, unconnected paho client (call connect yourself for special cases)."""
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        c.tls_set_context(self.tls_context(ident))
        if will is not None:
            c.will_set(will[0], will[1], qos=will[2], retain=will[3])
        return c

    def connect(
        self,
        ident: ClientCert | None,
        client_id: str = "",
        *,
        will: tuple[str, bytes | str, int, bool] | None = None,
        timeout: float = 5.0,
        port: int | None = None,
        **connect_kwargs: Any,
    ) -> mqtt.Client:
        """A connected client with its network loop running; ConnectRefused if the broker says no."""
        c = self.client(ident, client_id, will=will)
        result: dict[str, Any] = {}
        done = threading.Event()

        def on_connect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            result["rc"] = rc
            done.set()

        def on_disconnect(_c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
            result.setdefault("rc", rc)
            done.set()

        c.on_connect, c.on_disconnect = on_connect, on_disconnect
        if port is None:  # cloud identities use the cloud listener
            port = self.cloud_port if ident is not None and "." in ident.cn else self.port
        try:
            c.connect(self.host, port, keepalive=30, **connect_kwargs)
        except (OSError, ssl.SSLError) as e:
            raise ConnectRefused(f"TLS/TCP refused: {e}") from e
        c.loop_start()
        if not done.wait(timeout) or getattr(result.get("rc"), "is_failure", True):
            c.loop_stop()
            raise ConnectRefused(f"not connected: {result.get('rc')!r}")
        c.on_connect = c.on_disconnect = None
        self._clients.append(c)
        return c


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A started broker of our own, in tmp_path; killed after the test."""
    with Broker(tmp_path / "mqtt") as b:
        yield b


def mosquitto_available() -> bool:
    return Path(MOSQUITTO).exists() or shutil.which("mosquitto") is not None
