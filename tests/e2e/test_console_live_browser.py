"""The operator console against the real chain, in headless Chromium: `jc-sim` (the "test"
scenario over Modbus TCP), a provisioned `jc-gateway run`, Mosquitto with the project's
config (tests/support/broker.py), ingest and the cloud app serving the console. No stand-in
gateway: every command a page sends goes through the broker to the gateway, and every figure
the pages show came from the gateway's records through ingest.

One module-scoped chain, three tests in order (the module is the proof; they share the
station's history):
1. a gun goes idle → charging on its own monitoring page as a car is plugged and a driver's
   session starts; the live chart gets points; remote stop from the page stops it at the pile
   (the simulator says so) and the order appears on the orders page;
2. the station page's load policy reaches the gateway (its status shows the new thresholds)
   and the gateway's reply is shown;
3. the meter's link cut in the simulator: the gateway's meter_lost alarm appears on the
   alarms page.
Screenshots go to the artifacts dir (JC_ARTIFACTS_DIR, else the test's tmp dir)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from cloud.alarms.models import Alarm
from cloud.db import db
from cloud.drivers import service as drivers
from cloud.ledger import service as ledger
from cloud.models import now_ms
from cloud.orders.models import Order
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from cloud.wechat.login import WechatSession
from tests.console.support import PASSWORD, make_operator
from tests.console.test_console_browser import _vendor_files
from tests.support.broker import Broker
from tests.support.browser import ARGS, CHROMIUM
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.services import missing, require_module
from tests.support.sim import SimProcess

ROOT = Path(__file__).resolve().parents[2]
SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
GUN, CODE = "P3-1", "JCLIVE0031"  # the test scenario's DC pile
APPID = "wx-console-live"
# The gun page's live chart polls every 5 s: every 250 ms here, so that a short test sees
# several points (the page still polls by itself; no other timer changes).
FAST_TIMERS = "(() => { const si = window.setInterval; window.setInterval = (f, ms) => si(f, ms === 5000 ? 250 : ms); })();"
FLAT = {"currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 10000, "service_price_e4": 4000}]}

pytestmark = pytest.mark.browser


def _wait(cond: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout} s")


@dataclass
class Chain:
    app: Any
    base: str
    cloud: CloudStack
    gw: GatewayProcess
    sim: SimProcess
    page: Any
    shots: Path
    problems: list[str]

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def query(self, fn: Any) -> Any:
        with self.app.app_context():
            try:
                return fn(db.session)
            finally:
                db.session.rollback()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    playwright = require_module("playwright.sync_api", "Playwright is not installed (dev extra): run scripts/setup.sh")
    if not os.path.exists(CHROMIUM):
        missing("Debian's chromium is not installed: run scripts/setup.sh")
    _vendor_files()
    tmp = tmp_path_factory.mktemp("console-live")
    shots = Path(os.environ.get("JC_ARTIFACTS_DIR", tmp / "artifacts")) / "console_live"
    shots.mkdir(parents=True, exist_ok=True)
    saved_instance = os.environ.get("JC_INSTANCE_PATH")
    os.environ["JC_INSTANCE_PATH"] = str(tmp / "instance")
    try:
        with Broker(tmp / "broker") as broker, CloudStack(broker, tmp / "cloud") as cloud, \
                SimProcess("test") as sim:
            app = cloud.app
            app.config.update(WECHAT_APPID=APPID, CHARGING_START_TIMEOUT_S=10.0)
            # a browser beside the whole chain on a shared 2-core machine: 1.5 s per Modbus
            # reply (as in test_driver_path_browser.py)
            gw = GatewayProcess(sim, tmp / "gw", extra_toml="telemetry_s = 1", bus_timeout_s=1.5)
            tok = cloud.token(SID)
            done = subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                                   "--url", cloud.url, "--token", tok["token"], "--ca-fingerprint", tok["ca_sha256"]],
                                  capture_output=True, text=True, timeout=60,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
            assert done.returncode == 0, done.stderr
            with app.app_context(), db.transaction() as s:
                stations.set_station(s, SID, name="张江测试站", lat=31.2050, lng=121.6010, address="科苑路 88 号")
                stations.set_gun(s, SID, GUN, code=CODE, name="3号枪", rated_power_w=120_000, kind="dc")
                tariffs.assign(s, SID, tariffs.create(s, FLAT, code="live").tariff_id, effective_from=0, backdate=True)
            make_operator(app, "root", "admin")
            with Web(app) as web:
                gw.start()
                try:
                    with playwright.sync_playwright() as p:
                        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                        try:
                            problems: list[str] = []
                            context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai",
                                                          viewport={"width": 1280, "height": 800})
                            context.add_init_script(FAST_TIMERS)
                            page = context.new_page()
                            page.set_default_timeout(20_000)
                            page.on("dialog", lambda d: d.accept())
                            page.on("console", lambda m: problems.append(m.text) if m.type == "error"
                                    and not m.text.startswith("Failed to load resource") else None)
                            page.on("pageerror", lambda e: problems.append(str(e)))
                            page.goto(web.url + "/")
                            page.fill("#login", "root")
                            page.fill("#password", PASSWORD)
                            page.click("#login-submit")
                            page.wait_for_selector("#nav")
                            gw.wait(lambda s: s["sync"]["connected"], 20, "connected to the broker")
                            yield Chain(app, web.url, cloud, gw, sim, page, shots, problems)
                            assert problems == []
                        finally:
                            browser.close()
                finally:
                    gw.stop()
                    gw.kill()
    finally:
        if saved_instance is None:
            os.environ.pop("JC_INSTANCE_PATH", None)
        else:
            os.environ["JC_INSTANCE_PATH"] = saved_instance


class Web:
    """The cloud app over plain HTTP for the browser (the stack's HTTPS server is for
    provisioning)."""

    def __init__(self, app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> Web:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _driver_token(c: Chain) -> str:
    """A driver with 200 CNY in the wallet, logged in as the WeChat login would (the code
    exchange is WeChat's, outside this chain)."""
    with c.app.app_context(), db.transaction() as s:
        res = drivers.login(s, WechatSession(openid="live-driver", session_key="k"),
                            drivers.DriverSettings(appid=APPID), now_ms())
        ledger.top_up(s, str(res.profile.id), 20_000, "live-topup-1")
        return res.token


def test_gun_page_follows_a_session_and_stops_it(chain: Chain) -> None:
    c, page = chain, chain.page
    page.goto(f"{c.base}/guns/{SID}/{GUN}")
    page.wait_for_function("Number(document.getElementById('live-chart').dataset.polls || 0) >= 1")
    _wait(lambda: page.inner_text("#live-state") == "空闲", 20, "the gun shown idle")
    c.shot("01-gun-idle")

    # a car plugged at the pile; a driver starts a session from the app's API
    c.sim.control("POST", "/piles/3/guns/1/plug")
    _wait(lambda: page.inner_text("#live-state") == "已插枪", 20, "the gun shown plugged")
    token = _driver_token(c)
    started = requests.post(f"{c.base}/api/v1/driver/orders", headers={"Authorization": f"Bearer {token}"},
                            json={"gun_code": CODE, "limit": {"mode": "full"}}, timeout=30)
    assert started.status_code == 201, started.text
    order_id = started.json()["order_id"]

    # the page follows by itself (no reload): charging, with power on the chart
    page.wait_for_function("document.getElementById('live-state').textContent === '充电中'", timeout=30_000)
    page.wait_for_function("Number(document.getElementById('live-power').textContent) > 0", timeout=30_000)
    points = "echarts.getInstanceByDom(document.getElementById('live-chart')).getOption().series[2].data.length"
    page.wait_for_function(f"{points} >= 3", timeout=20_000)
    # the chart's power points are the pile's power (kW) as the gateway read it
    assert page.evaluate("echarts.getInstanceByDom(document.getElementById('live-chart'))"
                         ".getOption().series[2].data.some(p => p[1] > 0)") is True
    assert c.gw.gun(c.gw.status(), GUN)["state"] == "charging"
    c.shot("02-gun-charging")

    # the running order shows after a reload; remote stop from the page
    page.reload()
    page.wait_for_selector("#order")
    assert order_id in page.inner_text("#order")
    page.click("#stop")
    page.wait_for_selector("#stop-reply")
    assert page.inner_text("#stop-reply") == "网关已接受。"
    sim_gun = _wait(lambda: (g := _sim_gun(c.sim)) and not g["in_session"] and g, 15, "the pile's session ended")
    assert sim_gun["state_name"] != "charging" and sim_gun["session"]["stop_reason_name"] == "remote", sim_gun
    page.wait_for_function("document.getElementById('live-state').textContent !== '充电中'", timeout=20_000)
    c.shot("03-gun-stopped")

    # the car leaves; the order is billed and listed with its total
    c.sim.control("POST", "/piles/3/guns/1/unplug")
    total = _wait(lambda: c.query(lambda s: s.scalar(select(Order.total_fen).where(
        Order.order_id == order_id, Order.state == "settled"))), 90, "the order settled with a total")
    page.goto(f"{c.base}/orders/")
    row = page.locator("tr", has=page.locator(f"a:text-is('{order_id}')"))
    assert row.count() == 1
    assert f"{total // 100}.{total % 100:02d}" in row.inner_text()
    c.shot("04-orders")


def _sim_gun(sim: SimProcess) -> dict[str, Any]:
    """Gun 1 of pile 3 as the simulator has it."""
    return next(g for g in sim.control("GET", "/piles/3")["guns"] if g["gun"] == 1)


def test_station_page_load_policy_reaches_the_gateway(chain: Chain) -> None:
    c, page = chain, chain.page
    before = c.gw.status()["load"]
    assert (before["cap_above_pct"], before["block_above_pct"]) != (45, 75)
    page.goto(f"{c.base}/stations/{SID}")
    page.wait_for_selector("#policy-form")
    page.fill("#p-rated", str(int(before["rated_kva"])))
    page.fill("#p-cap", "45")
    page.fill("#p-block", "75")
    page.click("#p-send")
    page.wait_for_selector("#policy-reply")
    assert page.inner_text("#policy-reply") == "网关已接受。"
    load = c.gw.wait(lambda s: (s["load"]["cap_above_pct"], s["load"]["block_above_pct"]) == (45, 75),
                     10, "the new policy in force")["load"]
    assert load["rated_kva"] == before["rated_kva"]
    c.shot("05-station-policy")


def test_meter_lost_appears_on_the_alarms_page(chain: Chain) -> None:
    c, page = chain, chain.page
    meter = c.sim.meter_unit
    c.sim.control("POST", f"/devices/{meter}/link", {"cut": True})
    try:
        c.gw.wait(lambda s: s["meter"]["lost"], 20, "the gateway's meter lost")
        alarm_id = _wait(lambda: c.query(lambda s: s.scalar(select(Alarm.id).where(
            Alarm.sid == SID, Alarm.key == "meter_lost", Alarm.cleared_at.is_(None)))), 20, "the alarm at the cloud")
        page.goto(f"{c.base}/alarms/")
        row = page.locator(f"tr[data-id='{alarm_id}']")
        row.wait_for()
        assert SID in row.inner_text() and "meter_lost" in row.inner_text()
        c.shot("06-alarms")
    finally:
        c.sim.control("POST", f"/devices/{meter}/link", {"cut": False})
