"""The cloud for gateway tests: the Flask app on HTTPS (provisioning, command API), its
database, and ingest, beside a real broker (tests/support/broker.py).

    with Broker(tmp / "broker") as broker, CloudStack(broker, tmp / "cloud") as cloud:
        tok = cloud.token("ST-TEST-01")          # {"token", "ca_sha256", ...}
        cloud.url                                 # https://127.0.0.1:PORT (server cert from the CA)
        cloud.send("ST-TEST-01", "stop", {"gun": "P1-1"}, timeout=10)   # -> Reply
        cloud.rows("raw_records", sid="ST-TEST-01")                       # what ingest stored
        cloud.ingest.stop(); cloud.start_ingest()                         # ingest down / up
        cloud.api_token, cloud.auth                                       # for the HTTP API and pages
"""

from __future__ import annotations

import ssl
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text
from werkzeug.serving import make_server

from cloud import create_app
from cloud.api.auth import create_api_token
from cloud.commands import send_command
from cloud.db import db
from cloud.migrate import upgrade
from cloud.provisioning import create_token
from jcproto import Reply
from tests.cloud.support import ThreadedIngest
from tests.support.broker import Broker


class CloudStack:
    def __init__(self, broker: Broker, workdir: Path) -> None:
        self.broker = broker
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.app = create_app({
            "TESTING": True,
            "DATABASE_URL": f"sqlite:///{self.workdir / 'cloud.sqlite'}",
            "CA_DIR": str(broker.ca_dir),
            "BROKER_HOST": broker.host,
            "BROKER_PORT": broker.port,
            "BROKER_CLOUD_PORT": broker.cloud_port,
            "BROKER_PID_FILE": str(broker.pid_file),
            "BROKER_CA_FILE": str(broker.ca_file),
            "CLOUD_CERT_FILE": str(broker.cloud.cert_file),
            "CLOUD_KEY_FILE": str(broker.cloud.key_file),
        })
        with self.app.app_context():
            upgrade(db.engine)
            self.engine = db.engine
            with db.transaction() as s:
                self.api_token = create_api_token(s, "tests").token
        self.auth = {"Authorization": f"Bearer {self.api_token}"}
        server_id = broker.pki.issuer("server").new_server_identity()
        server_id.write(self.workdir / "https.crt", self.workdir / "https.key")
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(self.workdir / "https.crt", self.workdir / "https.key")
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True, ssl_context=tls)
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.ingest: ThreadedIngest | None = None

    def start_ingest(self) -> ThreadedIngest:
        self.ingest = ThreadedIngest(self.broker, self.engine).start()
        return self.ingest

    def __enter__(self) -> CloudStack:
        self._thread.start()
        self.start_ingest()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ingest is not None:
            self.ingest.stop()
        self.server.shutdown()
        publisher = self.app.extensions.get("jc_publisher")
        if publisher is not None:
            publisher.close()

    def token(self, sid: str, ttl_s: int = 600) -> dict[str, Any]:
        with self.app.app_context():
            with db.transaction() as s:
                new = create_token(s, sid, ttl_s)
            return {"token": new.token, "sid": sid, "ca_sha256": self.broker.root_fingerprint}

    def send(self, sid: str, type_: str, payload: dict[str, Any], timeout: float = 10.0) -> Reply:
        with self.app.app_context():
            return send_command(sid, type_, payload, timeout=timeout)

    def rows(self, table: str, **where: Any) -> list[dict[str, Any]]:
        clause = " AND ".join(f"{k} = :{k}" for k in where)
        sql = f"SELECT * FROM {table}" + (f" WHERE {clause}" if clause else "")
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), where)]
