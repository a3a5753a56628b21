"""A driver's start and stop end to end with the real station side: the simulator, a
provisioned `jc-gateway run` process, Mosquitto with the project's config, ingest, and the
cloud app's driver API (no fake station answers here: the gateway does)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.models import ChargingSession, StationState
from cloud.orders.models import Order
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from tests.charging.support import ORDERS, TARIFF, new_driver, top_up
from tests.drivers_api.support import APPID, BASE, SECRET
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
DC = 3  # the test scenario's third pile: a DC pile, P3


def _wait(cond, timeout: float = 20.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout} s")


def test_driver_starts_and_stops_a_real_gateway(tmp_path: Path, wechat: FakeServer) -> None:
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test", speed=10) as sim:
        app = cloud.app
        app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url,
                          WECHAT_TIMEOUT_S=2.0, CHARGING_START_TIMEOUT_S=10.0)
        gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1")
        tok = cloud.token(SID)
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        done = subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                               "--url", cloud.url, "--token", tok["token"], "--ca-fingerprint", tok["ca_sha256"]],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 0, done.stderr
        try:
            gw.start()
            gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", what="connected")
            sim.control("POST", f"/piles/{DC}/guns/1/plug")
            with app.app_context(), db.transaction() as s:
                stations.set_station(s, SID, name="测试站", lat=31.2304, lng=121.4737, address="测试路 1 号")
                stations.set_gun(s, SID, "P3-1", code="JCE2E0001", rated_power_w=120_000, kind="dc")
                tariffs.assign(s, SID, tariffs.create(s, TARIFF, code="std").tariff_id, effective_from=0, backdate=True)

            def plugged_at_cloud() -> bool:
                with app.app_context():
                    row = db.session.get(StationState, SID)
                    gun = stations.live_gun(db.session, SID, "P3-1")
                    db.session.rollback()
                    return bool(row and row.online and gun and gun["state"] == "plugged")

            _wait(plugged_at_cloud, what="P3-1 plugged in the cloud's telemetry")
            client = app.test_client()
            h, did = new_driver(client, wechat, "alice")
            top_up(app, did, 10_000)
            scan = client.get(f"{BASE}/guns/JCE2E0001", headers=h).json
            assert scan["gun"]["state"] == "plugged" and scan["station"]["online"] is True
            r = client.post(ORDERS, json={"gun_code": "JCE2E0001", "limit": {"mode": "amount", "value": 2000}},
                            headers=h)
            assert r.status_code == 201, r.json
            oid = r.json["order_id"]
            with app.app_context():
                session_id = db.session.get(Order, oid).session_id
            assert session_id, "the gateway's reply named the session"
            gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "charging", what="charging")

            def merged() -> ChargingSession | None:
                with app.app_context():
                    row = db.session.scalar(select(ChargingSession).where(ChargingSession.order_id == oid))
                    db.session.expunge_all()
                    return row

            row = _wait(merged, what="session_started at the cloud")
            assert row.session_id == session_id and row.limit_mode == "amount" and row.limit_value == 2000
            r = client.post(f"{ORDERS}/{oid}/stop", headers=h)
            assert r.status_code == 202, r.json
            _wait(lambda: (m := merged()) is not None and m.status == "ended", what="session ended at the cloud")
            view = client.get(f"{ORDERS}/{oid}", headers=h).json
            assert view["stop_reason"] == "remote" and view["ended_at"] and view["energy_wh"] is not None
            b = client.get(f"{BASE}/guns/JCE2E0001", headers=h).json["wallet"]
            assert b["balance_fen"] == 8000  # the hold stays until the order is billed
            # the car leaves: gun_released ends the idle time and billing (cloud/billing) books it
            sim.control("POST", f"/piles/{DC}/guns/1/unplug")
            _wait(lambda: client.get(f"{ORDERS}/{oid}", headers=h).json["state"] == "settled", 30, "settled")
            done = client.get(f"{ORDERS}/{oid}", headers=h).json
            assert done["total_fen"] == sum(ln["fen"] for ln in done["lines"]) == done["cost_fen"]
            assert {ln["kind"] for ln in done["lines"]} <= {"electricity", "service", "idle"}
            assert client.get(f"{BASE}/guns/JCE2E0001", headers=h).json["wallet"]["balance_fen"] \
                == 10_000 - done["total_fen"]
            r = client.post(f"{ORDERS}/{oid}/rating", json={"stars": 5, "comment": "顺利"}, headers=h)
            assert r.status_code == 200
        finally:
            gw.stop()
            gw.kill()
