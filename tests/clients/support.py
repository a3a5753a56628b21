"""What the client tests share: node and the built clients, and a running cloud (the Flask
app served over real HTTP on a free port, a temporary SQLite database, the fake WeChat login
of cloud/fakes) for the mini-program pages and the H5 app to talk to."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from cloud import create_app
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.fakes.wechat_oauth import FakeWechatOAuth
from cloud.migrate import upgrade
from tests.support.services import missing

ROOT = Path(__file__).resolve().parents[2]
APPID = "wx0123456789abcdef"
SECRET = "fake-app-secret-0123456789abcdef"
OA_APPID = "wxfedcba9876543210"  # the official account of the H5 app's web login
OA_SECRET = "fake-oa-secret-0123456789abcdef"
# the routes other parts of issue 9 add (docs/api/cloud.openapi.yaml); a build without them
# cannot show stations, guns or a wallet
STATIONS, GUNS, ORDERS, WALLET = ("/api/v1/driver/stations", "/api/v1/driver/guns/<code>",
                                  "/api/v1/driver/orders", "/api/v1/driver/wallet")


def node() -> str:
    path = shutil.which("node")
    if path is None:
        missing("node is not installed: run scripts/setup.sh")
    assert path is not None
    return path


def build_clients() -> None:
    """npm run build: the mini-program's copy of clients/core and the H5 bundle."""
    node_bin = node()
    if not (ROOT / "node_modules" / "esbuild").is_dir():
        missing("the front-end packages are not installed: run scripts/setup.sh (npm ci)")
    # One build at a time: pytest-xdist workers each reach this fixture, and two esbuild runs
    # writing the same bundle would leave a half-written file for the other's tests.
    lock_path = Path(tempfile.gettempdir()) / f"jc-client-build-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:12]}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([node_bin, "clients/build.js", "all"], cwd=ROOT, check=True, capture_output=True,
                       timeout=120)


def run_node(args: list[str], env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([node(), *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@dataclass
class Cloud:
    app: Flask
    url: str
    wechat: FakeServer

    def has(self, rule: str) -> bool:
        return any(r.rule == rule for r in self.app.url_map.iter_rules())

    def seed_station(self, sid: str, name: str, *, lat: float, lng: float, gun_code: str,
                     online: bool = False, free: bool = False) -> None:
        """A station with one gun, written through the models (the archive columns — lat, lng,
        address, the gun's code and name — where this build's models have them); `free`: its
        last telemetry says the gun is available."""
        from cloud.models import Gun, Station, StationState

        with self.app.app_context(), db.transaction() as s:
            st = Station(sid=sid, name=name)
            for key, value in (("lat", lat), ("lng", lng), ("address", "上海市浦东新区科苑路 88 号")):
                if hasattr(Station, key):
                    setattr(st, key, value)
            s.add(st)
            s.flush()
            state = StationState(sid=sid, online=online)
            if free:
                state.telemetry = {"guns": [{"id": "P1-1", "state": "available"}]}
            s.add(state)
            gun = Gun(sid=sid, gun_id="P1-1", pile_id="P1", state="available")
            for key, value in (("code", gun_code), ("name", "1号枪"), ("rated_power_w", 7000)):
                if hasattr(Gun, key):
                    setattr(gun, key, value)
            s.add(gun)


def tap_results(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """node --test-reporter=tap's verdicts by test name: "ok" or "not ok"."""
    return {m.group(2): m.group(1)
            for m in re.finditer(r"^(ok|not ok) \d+ - (.+?)(?: # SKIP.*)?$", done.stdout, re.M)}


def check_node_tests(run: dict[str, object], prefix: str) -> None:
    """Every node test whose name starts with `prefix` passed (and there is at least one)."""
    results = run["results"]
    assert isinstance(results, dict)
    mine = {name: r for name, r in results.items() if name.startswith(prefix)}
    assert mine, f"no node test named {prefix}…:\n{str(run['output'])[-3000:]}"
    failed = [name for name, r in mine.items() if r != "ok"]
    assert not failed, f"{failed}:\n{str(run['output'])[-6000:]}"


@contextmanager
def running_cloud(tmp: Path, **extra: Any) -> Iterator[Cloud]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET), oauth=FakeWechatOAuth(OA_APPID, OA_SECRET)) as wechat:
        app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp / 'cloud.sqlite'}",
                          "CA_DIR": str(tmp / "ca"), "WECHAT_APPID": APPID, "WECHAT_SECRET": SECRET,
                          "WECHAT_API_BASE_URL": wechat.url, "WECHAT_TIMEOUT_S": 2.0,
                          "WECHAT_OA_APPID": OA_APPID, "WECHAT_OA_SECRET": OA_SECRET,
                          "WECHAT_OA_AUTHORIZE_URL": wechat.url + "/connect/oauth2/authorize",
                          **extra})
        with app.app_context():
            upgrade(db.engine)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield Cloud(app, f"http://127.0.0.1:{server.server_port}", wechat)
        finally:
            server.shutdown()
            thread.join(timeout=10)
            server.server_close()
            with app.app_context():
                db.engine.dispose()
