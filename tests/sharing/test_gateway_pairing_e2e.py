"""A pairing code made at the gateway, end to end: the simulator, a provisioned `jc-gateway
run` process, Mosquitto with the project's config, ingest and the driver API. The owner asks
`jc-gateway pairing-code` while the station's link is cut: the code is refused by the cloud
until the record arrives; once the link is back and the record acknowledged, the driver
registers the gun with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.sharing.models import PairingCode
from cloud.stations import service as stations
from jcproto.pairing import ALPHABET
from tests.charging.support import new_driver
from tests.charging.test_gateway_e2e import _wait
from tests.drivers_api.support import APPID, BASE, SECRET
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
ROOT = Path(__file__).resolve().parents[2]


def test_a_code_made_offline_at_the_gateway_registers_the_pile_once_the_cloud_has_it(
    tmp_path: Path, wechat: FakeServer
) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        with CloudStack(broker, tmp_path / "cloud") as cloud, SimProcess("test") as sim:
            _run(broker, cloud, sim, tmp_path, wechat)
    finally:
        broker.close()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)


def _run(broker: Broker, cloud: CloudStack, sim: SimProcess, tmp_path: Path, wechat: FakeServer) -> None:
    app = cloud.app
    app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url, WECHAT_TIMEOUT_S=2.0)
    gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1")
    tok = cloud.token(SID)
    done = _cli("provision", "-c", str(gw.config_path), "--url", cloud.url, "--token", tok["token"],
                "--ca-fingerprint", tok["ca_sha256"])
    assert done.returncode == 0, done.stderr
    try:
        gw.start()
        gw.wait(lambda s: s["sync"]["connected"] and GatewayProcess.gun(s, "P1-1") is not None, what="connected")
        with app.app_context(), db.transaction() as s:
            stations.set_station(s, SID, name="车主家")
            stations.set_gun(s, SID, "P1-1", code="JCH0001", kind="ac")
        client = app.test_client()
        owner, _ = new_driver(client, wechat, "owner")

        # the station's link is cut; the owner, at the pile, asks the gateway for a code
        broker.stop()
        gw.wait(lambda s: not s["sync"]["connected"], what="link cut")
        made = _cli("pairing-code", "P1-1", "--url", gw.url, "--hours", "2", "--json")
        assert made.returncode == 0, made.stderr
        code = json.loads(made.stdout)
        assert code["gun"] == "P1-1" and code["in_cloud"] is False and code["seq"] > code["acked_seq"]
        text = _cli("pairing-code", "P1-2", "--url", gw.url)  # a gun the station has not got
        assert text.returncode == 1 and "unknown gun 'P1-2'" in text.stderr
        body = {"gun_code": "JCH0001", "pairing_code": code["code"]}
        early = client.post(f"{BASE}/shared-piles", json=body, headers=owner)
        assert early.status_code == 403 and early.json["error"]["code"] == "pairing_code_invalid"

        # the link is back: the record reaches the cloud, which makes the code
        broker.start()
        gw.wait(lambda s: s["outbox"]["acked_seq"] >= code["seq"], timeout=30, what="the record acknowledged")

        def held() -> bool:
            with app.app_context():
                row = db.session.query(PairingCode).filter_by(sid=SID, gun="P1-1").one_or_none()
                db.session.rollback()
                return row is not None and row.issued_by == f"gateway:{SID}"

        _wait(held, 10, "the gateway's code in the cloud")
        registered = client.post(f"{BASE}/shared-piles", json=body, headers=owner)
        assert registered.status_code == 201, registered.json
        assert registered.json["gun"] == "P1-1" and registered.json["open"] is False
        # used up: a second driver with the same code is refused
        other, _ = new_driver(client, wechat, "other")
        again = client.post(f"{BASE}/shared-piles", json=body, headers=other)
        assert again.status_code == 403 and again.json["error"]["code"] == "pairing_code_invalid"
        # the CLI's words for people: the code, its gun and expiry, and that it is shown once
        said = _cli("pairing-code", "P1-1", "--url", gw.url)
        first, *rest = said.stdout.splitlines()
        assert said.returncode == 0 and first.startswith(tuple(ALPHABET)) and "(P1-1, valid until" in first
        assert "Shown once" in rest[-1]
    finally:
        gw.stop()
        gw.kill()
