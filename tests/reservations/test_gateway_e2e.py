"""Reservations end to end with the real station side: the simulator, a provisioned
`jc-gateway run` process, Mosquitto with the project's config, ingest, the jobs and the
cloud's driver API. A stranger's start on a reserved gun is refused and the holder's start
honoured; a reservation whose `until` passes while the station's link to the cloud is cut is
released by the gateway on time, booked as a no-show by the cloud, and its release confirmed
once the station reports again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.jobs import reservations as reservations_job
from cloud.jobs.context import JobContext
from cloud.models import StationState
from cloud.reservations import service as reservations
from cloud.reservations.models import Reservation
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from tests.charging.support import TARIFF, balances, new_driver, top_up
from tests.charging.test_gateway_e2e import _wait
from tests.drivers_api.support import APPID, BASE, SECRET
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
DC, AC = 3, 1  # the test scenario's piles: P3 (DC) and P1 (AC, one gun)
RULE = {"enabled": True, "max_minutes": 30, "fee_mode": "fixed", "fee_fen": 200, "keep_on_no_show": True}
URL = f"{BASE}/reservations"


def test_stranger_refused_holder_honoured_and_expiry_while_the_link_is_cut(tmp_path: Path, wechat: FakeServer) -> None:
    broker = Broker(tmp_path / "broker").start()
    try:
        with CloudStack(broker, tmp_path / "cloud") as cloud, SimProcess("test", speed=10) as sim:
            _run(broker, cloud, sim, tmp_path, wechat)
    finally:
        broker.close()


def _run(broker: Broker, cloud: CloudStack, sim: SimProcess, tmp_path: Path, wechat: FakeServer) -> None:
    app = cloud.app
    app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url,
                      WECHAT_TIMEOUT_S=2.0, CHARGING_START_TIMEOUT_S=10.0, STATION_OFFLINE_AFTER_S=5)
    gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1")
    tok = cloud.token(SID)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                           "--url", cloud.url, "--token", tok["token"], "--ca-fingerprint", tok["ca_sha256"]],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    jobs = JobContext(engine=cloud.engine, holder="test", config=app.config)  # send: None (link cut anyway)
    try:
        gw.start()
        gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", what="connected")
        sim.control("POST", f"/piles/{DC}/guns/1/plug")
        with app.app_context(), db.transaction() as s:
            stations.set_station(s, SID, name="测试站", lat=31.2304, lng=121.4737, address="测试路 1 号")
            for gun, code in (("P3-1", "JCR0001"), ("P1-1", "JCR0002"), ("P2-1", "JCR0003")):
                stations.set_gun(s, SID, gun, code=code, kind="dc" if gun == "P3-1" else "ac")
            tariffs.assign(s, SID, tariffs.create(s, TARIFF, code="std").tariff_id, effective_from=0, backdate=True)
            reservations.set_rule(s, SID, RULE, actor="test")

        def gun_at_cloud(gun: str) -> str | None:
            with app.app_context():
                entry = stations.live_gun(db.session, SID, gun)
                db.session.rollback()
                return entry["state"] if entry else None

        _wait(lambda: gun_at_cloud("P3-1") == "plugged" and gun_at_cloud("P1-1") == "available", what="guns seen")
        client = app.test_client()
        ha, a = new_driver(client, wechat, "holder")
        hb, b = new_driver(client, wechat, "no-show")
        hc, c = new_driver(client, wechat, "stranger")
        for did in (a, b, c):
            top_up(app, did, 5000)

        # B reserves the AC gun for a minute (it will expire while the link is cut)
        rb = client.post(URL, json={"gun_code": "JCR0002", "minutes": 1}, headers=hb)
        assert rb.status_code == 201, rb.json
        until_b = rb.json["until"]
        # A reserves the DC gun, a car already plugged in
        ra = client.post(URL, json={"gun_code": "JCR0001", "minutes": 15}, headers=ha)
        assert ra.status_code == 201, ra.json
        assert ra.json["state"] == "active" and balances(app, a).held == 200
        gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "reserved"
                and GatewayProcess.gun(s, "P1-1")["state"] == "reserved", what="the piles show reserved")
        _wait(lambda: gun_at_cloud("P3-1") == "reserved", what="reserved in the cloud's telemetry")

        # the stranger's start on the reserved gun: refused, a free gun suggested; the pile untouched
        start = {"gun_code": "JCR0001", "limit": {"mode": "amount", "value": 2000}}
        refused = client.post(f"{BASE}/orders", json=start, headers=hc)
        assert refused.status_code == 409 and refused.json["error"]["code"] == "reserved", refused.json
        assert refused.json["error"]["nearest_gun"]["code"] == "JCR0003"
        assert GatewayProcess.gun(gw.status(), "P3-1")["state"] == "reserved"
        assert balances(app, c).cash == 5000

        # the holder's start is honoured: the gateway starts with the reservation's tag
        started = client.post(f"{BASE}/orders", json=start, headers=ha)
        assert started.status_code == 201, started.json
        gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "charging", what="charging")
        used = client.get(f"{URL}/{ra.json['reservation_id']}", headers=ha).json
        assert used["state"] == "used" and used["fee_state"] == "refunded" \
            and used["order_id"] == started.json["order_id"]

        # the link is cut before B's `until`: the gateway releases the gun by itself, on time
        assert time.time() * 1000 < until_b - 5000, "the first part took too long for the expiry part"
        broker.stop()
        gw.wait(lambda s: not s["sync"]["connected"], what="link cut")
        released = gw.wait(lambda s: GatewayProcess.gun(s, "P1-1")["state"] == "available",
                           timeout=(until_b - time.time() * 1000) / 1000 + 15, what="released at the gateway")
        released_at = time.time() * 1000
        assert until_b <= released_at <= until_b + 10_000, (until_b, released_at)
        assert not released["sync"]["connected"]

        # the cloud, unable to reach the station, books the no-show at `until` and waits for its word
        assert reservations_job.run(jobs) >= 1
        with app.app_context():
            row = db.session.get(Reservation, rb.json["reservation_id"])
            assert (row.state, row.no_show, row.fee_state, row.offline_at_end, row.release) == \
                ("expired", True, "kept", True, "pending")
            db.session.rollback()
        assert balances(app, b).cash == 5000 - 200

        # the link is back: the station reports the gun free, the release is confirmed
        broker.start()
        gw.wait(lambda s: s["sync"]["connected"], timeout=30, what="reconnected")

        def confirmed() -> bool:
            reservations_job.run(jobs)
            with app.app_context():
                r = db.session.get(Reservation, rb.json["reservation_id"])
                st = db.session.get(StationState, SID)
                out = r.release == "confirmed" and st.online
                db.session.rollback()
                return out

        _wait(confirmed, 30, "release confirmed by the station's telemetry")
        view: dict[str, Any] = client.get(f"{URL}/{rb.json['reservation_id']}", headers=hb).json
        assert view["state"] == "expired" and view["no_show"] is True and view["fee_state"] == "kept"
        # the gun is free again for anyone
        again = client.post(URL, json={"gun_code": "JCR0002", "minutes": 5}, headers=hc)
        assert again.status_code == 201, again.json
    finally:
        gw.stop()
        gw.kill()
