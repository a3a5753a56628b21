"""What the driver API's robustness tests share: the documented driver operations (tag
`drivers` in docs/api/cloud.openapi.yaml) and the ones that exist at the time of writing,
which must always be among those tried (so a walk can never pass by covering nothing)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from cloud import create_app
from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.migrate import upgrade
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE

SPEC = load_spec("cloud")
DRIVER_OPS = sorted((p, m) for p, m in operations(SPEC) if "drivers" in SPEC["paths"][p][m].get("tags", []))
EXISTING = {(f"{BASE}/login", "post"), (f"{BASE}/logout", "post"), (f"{BASE}/me", "get"), (f"{BASE}/me", "patch"),
            (f"{BASE}/payment-password", "post"), (f"{BASE}/payment-password", "put"),
            (f"{BASE}/payment-password/verify", "post")}


def build_app(tmp: Path, url: str, keys: FakeKeys, fake: FakeServer) -> Flask:
    """The cloud app on `url` (migrated) with WeChat login and WeChat Pay both pointed at the
    local fake: every driver route can answer, the wallet's too."""
    settings = keys.settings(keys.write(tmp / "keys"), fake.url)
    # small limits: the tests pass them (lockout, sessions per driver) in few, slow argon2 steps
    app = create_app({"TESTING": True, "DATABASE_URL": url, "CA_DIR": str(tmp / "ca"), "WECHAT_TIMEOUT_S": 2.0,
                      "PAYMENT_PASSWORD_MAX_FAILURES": 3, "DRIVER_MAX_SESSIONS": 3, **settings})
    with app.app_context():
        upgrade(db.engine)
    return app


def start_fake(keys: FakeKeys) -> FakeServer:
    """The fake WeChat (login and Pay) on a free port. Its payment notifications, if any,
    go to a closed loopback port: these tests pay nothing, and nothing leaves the machine."""
    return FakeServer.for_keys(keys, notify_origin="http://127.0.0.1:9").start()
