"""Issue 9's proof, end to end in headless Chromium at a phone's viewport: the simulator, a
provisioned `jc-gateway run`, Mosquitto, ingest, billing and the cloud all running, WeChat
(login and Pay) played by the local fake. A new driver logs in, recharges 50 CNY through
the fake cashier, scans a gun's QR link, charges by amount 20 CNY across a tariff period
boundary while ingest is down, the gateway stops at 20 CNY by itself, the order shows each
period's electricity and service lines, the wallet shows 30.00 CNY; then the balance is
refunded through the fake's refund callback. Screenshots of each step in the artifacts dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.models import StationState
from cloud.orders.models import Order
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from tests.support.broker import Broker
from tests.support.browser import ARGS, CHROMIUM
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.services import missing, require_module
from tests.support.sim import SimProcess

ROOT = Path(__file__).resolve().parents[2]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
GUN, CODE = "P3-1", "JCE2E0009"  # the test scenario's DC pile (100 kW into the simulated EV)
SPEED = 20.0  # the simulator's and the gateway's clocks run this much faster
TZ = ZoneInfo("Asia/Shanghai")

pytestmark = pytest.mark.browser


def _wait(cond: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout} s")


def tariff_with_boundary(at: datetime) -> dict[str, Any]:
    """Valley until `at`'s minute (Shanghai time), peak from it: one boundary a session
    running across `at` must split at. The gateway stops an amount at the last whole Wh
    whose cost is within it; each line rounds by itself, so a Wh that moves both lines at
    once can jump from 19.99 to 20.01 (the stop then at 19.99). Peak at 0.5 fen/Wh of
    electricity (a step at every odd Wh) and 0.25 fen/Wh of service (a step at Wh 2, 6, 10
    …) never step together, so the peak total takes every value and stops at 20.00 exactly.
    The valley is cheap enough that the session's 20 CNY always reaches the peak."""
    hm = at.strftime("%H:%M")
    assert hm != "00:00"
    return {"currency": "CNY", "tz": "Asia/Shanghai", "periods": [
        {"start": "00:00", "end": hm, "name": "valley", "energy_price_e4": 12000, "service_price_e4": 6000},
        {"start": hm, "end": "24:00", "name": "peak", "energy_price_e4": 50000, "service_price_e4": 25000}]}


class Web:
    """The cloud app over plain HTTP for the browser and the fake's notifications (the
    stack's HTTPS server, with the test CA, is for provisioning)."""

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


def test_driver_path_in_a_phone_browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    playwright = require_module("playwright.sync_api", "Playwright is not installed (dev extra): run scripts/setup.sh")
    if not os.path.exists(CHROMIUM):
        missing("Debian's chromium is not installed: run scripts/setup.sh")
    if not (ROOT / "cloud" / "h5" / "static" / "dist" / "app.js").exists():
        missing("the H5 app is not built: run scripts/setup.sh (npm ci && npm run build)")
    shots = Path(os.environ.get("JC_ARTIFACTS_DIR", tmp_path / "artifacts")) / "driver_path"
    shots.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    keys = FakeKeys()
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            FakeServer.for_keys(keys, retry_scale=0.002) as fake, Web(cloud.app) as web, \
            SimProcess("test", speed=SPEED) as sim:
        assert fake.pay is not None
        fake.pay.notify_origin = web.url
        app = cloud.app
        app.config.update(keys.settings(keys.write(tmp_path / "keys"), fake.url), WECHAT_TIMEOUT_S=2.0,
                          CHARGING_START_TIMEOUT_S=10.0)
        # a browser beside the whole chain on a shared machine: 1.5 s per Modbus reply, more
        # than the other tests' (a late reply read as the next one's loses every unit for many seconds)
        gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1", bus_timeout_s=1.5)
        tok = cloud.token(SID)
        done = subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                               "--url", cloud.url, "--token", tok["token"], "--ca-fingerprint", tok["ca_sha256"]],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert done.returncode == 0, done.stderr
        with app.app_context(), db.transaction() as s:
            stations.set_station(s, SID, name="张江测试站", lat=31.2050, lng=121.6010, address="科苑路 88 号")
            stations.set_gun(s, SID, GUN, code=CODE, name="3号枪", rated_power_w=120_000, kind="dc")
        try:
            gw.start()
            with playwright.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    _drive(browser, app, web, fake, cloud, gw, sim, shots, broker)
                finally:
                    browser.close()
        finally:
            gw.stop()
            gw.kill()


def _drive(browser: Any, app: Any, web: Web, fake: FakeServer, cloud: CloudStack, gw: GatewayProcess,
           sim: SimProcess, shots: Path, broker: Broker) -> None:
    assert fake.pay is not None
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **PHONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    def shot(name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"))

    # 1. a new driver logs in through the fake WeChat authorisation
    page.goto(web.url + "/app/")
    page.click("#login-wechat")
    page.wait_for_selector("#allow")
    page.fill("#user", "e2e-driver")
    shot("01-wechat-login")
    page.click("#allow")
    page.wait_for_selector("#page-stations")
    shot("02-stations")

    # 2. recharge 50 CNY through the fake cashier; its notification credits the wallet
    page.goto(web.url + "/app/#/wallet")
    page.wait_for_selector("#page-wallet .balance")
    page.locator("#page-wallet .preset", has_text="¥50").click()
    page.click("#recharge")
    page.wait_for_selector("#pay")  # the fake WeChat Pay cashier
    assert page.locator("#amount").inner_text() == "¥50.00"
    shot("03-cashier")
    page.click("#pay")
    page.wait_for_selector("#result[data-state='paid']")
    page.click("#back")
    page.wait_for_selector("#page-wallet .balance")

    def wallet_shows(balance: str, also: str = "") -> bool:
        if page.locator("#page-wallet .balance").inner_text() == balance and also in wallet_text():
            return True
        page.reload()  # the notification may land after the page read the wallet
        page.wait_for_selector("#page-wallet .balance")
        return page.locator("#page-wallet .balance").inner_text() == balance and also in wallet_text()

    def wallet_text() -> str:
        return str(page.locator("#page-wallet").inner_text())

    _wait(lambda: wallet_shows("¥50.00"), 15, "the wallet credited by the payment notification")
    shot("04-wallet-50")
    did = _driver_id(app)
    assert _balances(app, did) == ledger.Balances(cash=5000, bonus=0, held=0, debt=0)

    # 3. the gun, plugged, online at the cloud; a tariff whose boundary falls inside the session
    gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", 20, "connected")
    sim.control("POST", "/piles/3/guns/1/plug")
    _wait(lambda: _plugged_at_cloud(app), 20, f"{GUN} plugged in the cloud's telemetry")
    gw_now = _gateway_now(gw)
    # 3 to 4 gateway minutes (9 to 12 s) ahead, on a minute: the start comes before, the 20 CNY after
    boundary = (gw_now + timedelta(minutes=3)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    with app.app_context(), db.transaction() as s:
        tariffs.assign(s, SID, tariffs.create(s, tariff_with_boundary(boundary), code="e2e").tariff_id,
                       effective_from=0, backdate=True)

    # 4. scan the gun's QR link, charge by amount 20 CNY
    page.goto(f"{web.url}/app/scan?g={CODE}")
    page.wait_for_selector("#page-scan .station-name")
    assert page.locator("#page-scan .station-name").inner_text() == "张江测试站"
    page.fill("#page-scan .custom-amount", "20")
    shot("05-scan")
    page.click("#start")
    page.wait_for_selector("#page-charging")
    order_id = page.url.rsplit("/", 1)[1]
    gw.wait(lambda s: GatewayProcess.gun(s, GUN)["state"] == "charging", 15, "charging")
    with app.app_context():
        o = db.session.get(Order, order_id)
        assert o is not None and (o.limit_mode, o.limit_value, o.hold_fen) == ("amount", 2000, 2000)
        db.session.rollback()
    started = _gateway_now(gw)
    assert started < boundary, (started, boundary)
    _wait(lambda: _order(app, order_id)["state"] == "charging", 15, "session_started at the cloud")
    shot("06-charging")

    # 5. the cloud goes unreachable (the broker down: the station's link is cut); the gateway
    # stops at 20 CNY by itself and the records reach the cloud once the link is back
    broker.stop()
    try:
        gw.wait(lambda s: not s["sync"]["connected"], 30, "the station's link cut")
        gw.wait(lambda s: GatewayProcess.gun(s, GUN)["state"] != "charging", 60, "the gateway's own stop")
        shot("07-charging-cloud-away")
    finally:
        broker.start()
    gw.wait(lambda s: s["sync"]["connected"], 60, "the station's link back")
    gw.wait_records(lambda recs: any(r["type"] == "session_ended" for r in recs), 10, "session_ended")
    [ended] = gw.records("session_ended")
    assert ended["cost_fen"] == 2000 and ended["ended_at"] > int(boundary.timestamp() * 1000), ended
    sim.control("POST", "/piles/3/guns/1/unplug")  # the car leaves: gun_released, then billing

    # 6. the order: each period's electricity and service lines, 20.00 in total
    _wait(lambda: _order(app, order_id)["state"] == "settled", 30, "settled")
    page.goto(f"{web.url}/app/#/order/{order_id}")
    page.wait_for_selector("#page-order .line")
    lines = page.locator("#page-order .line").all_inner_texts()
    shot("08-order")
    view = _order(app, order_id)
    kinds = [(ln["kind"], ln["period"]) for ln in view["lines"] if ln["fen"]]
    assert sorted(kinds) == sorted([("electricity", "valley"), ("service", "valley"),
                                    ("electricity", "peak"), ("service", "peak")]), view["lines"]
    assert view["total_fen"] == sum(ln["fen"] for ln in view["lines"]) == 2000 and view["debt_fen"] == 0
    assert len(lines) == len(view["lines"]) and page.locator("#page-order .total strong").inner_text() == "¥20.00"
    labels = {"electricity": "电费", "service": "服务费", "valley": "谷", "peak": "峰"}
    for ln, shown in zip(view["lines"], lines, strict=True):  # the page lists the API's lines in order
        assert shown.split()[:3] == [labels[ln["kind"]], "·", labels[ln["period"]]], (shown, ln)
        assert shown.split()[-1] == f"¥{ln['fen'] // 100}.{ln['fen'] % 100:02d}", (shown, ln)

    # 7. the wallet shows 30.00 to the fen
    page.goto(web.url + "/app/#/wallet")
    page.wait_for_selector("#page-wallet .balance")
    assert page.locator("#page-wallet .balance").inner_text() == "¥30.00"
    shot("09-wallet-30")
    assert _balances(app, did) == ledger.Balances(cash=3000, bonus=0, held=0, debt=0)

    # 8. a balance refund, its result through the fake's refund callback
    page.locator("#page-wallet button", has_text="全部退还").click()
    try:
        _wait(lambda: wallet_shows("¥0.00", "已退款"), 15, "the refund's callback")
    except AssertionError:
        shot("10-refund-failed")
        raise AssertionError(f"{page.locator('#page-wallet').inner_text()} {fake.pay.refunds}") from None
    shot("10-refunded")
    assert [r.amount for r in fake.pay.refunds.values()] == [3000]
    token = json.loads(page.evaluate("localStorage.getItem('jc_token')"))
    refunds = requests.get(f"{web.url}/api/v1/driver/wallet/refunds", headers={"Authorization": f"Bearer {token}"},
                           timeout=5).json()["refunds"]
    assert [(r["amount_fen"], r["state"]) for r in refunds] == [(3000, "success")], refunds
    assert _balances(app, did) == ledger.Balances(cash=0, bonus=0, held=0, debt=0)
    with app.app_context():
        assert ledger.verify(db.session) == []
        db.session.rollback()
    assert not problems, problems
    context.close()


def _gateway_now(gw: GatewayProcess) -> datetime:
    real, fake, speed = gw.test_clock or (time.time(), time.time(), 1.0)
    return datetime.fromtimestamp(fake + (time.time() - real) * speed, TZ)


def _driver_id(app: Any) -> int:
    from cloud.drivers.models import Driver

    with app.app_context():
        try:
            return int(db.session.scalar(select(Driver.id).order_by(Driver.id.desc()).limit(1)))
        finally:
            db.session.rollback()


def _balances(app: Any, did: int) -> ledger.Balances:
    with app.app_context():
        try:
            return ledger.balances(db.session, str(did))
        finally:
            db.session.rollback()


def _order(app: Any, order_id: str) -> dict[str, Any]:
    from cloud.charging import service as charging

    with app.app_context():
        try:
            o = db.session.get(Order, order_id)
            assert o is not None
            return charging.order_view(db.session, int(o.driver_id), order_id)
        finally:
            db.session.rollback()


def _plugged_at_cloud(app: Any) -> bool:
    with app.app_context():
        try:
            row = db.session.get(StationState, SID)
            gun = stations.live_gun(db.session, SID, GUN)
            return bool(row and row.online and gun and gun["state"] == "plugged")
        finally:
            db.session.rollback()
