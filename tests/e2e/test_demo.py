"""`jc-demo` brings the whole chain up on one machine: simulator, gateway (provisioned with a
token), broker, cloud with its jobs, the fake WeChat and the H5 app; records flow to the cloud,
the console answers, a driver logs in through the fake and sees the demo station priced by the
tariff the CLIs entered, a recharge paid at the fake's cashier credits the wallet, and the driver
starts one of the guns left without free vend and it charges."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import requests

ROOT = Path(__file__).resolve().parents[2]


def _console_login(console: str, operator: dict) -> None:
    """The demo's operator logs in to the console through its form (CSRF token included)."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(console + "login", timeout=10) as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
    form = urllib.parse.urlencode({**operator, "csrf_token": token}).encode()
    with opener.open(console + "login", data=form, timeout=10) as resp:
        assert resp.url == console and 'id="nav"' in resp.read().decode()


def test_the_demo_runs_the_whole_chain(tmp_path):
    work = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "edge.demo", "--workdir", str(work), "--speed", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        where = json.loads(line)
        assert set(where) == {"console", "api_token", "operator", "gateway", "simulator", "broker", "provisioning", "app",
                              "app_login", "scan", "driver_guns", "free_vend_guns", "wechat", "cashier", "tariff",
                              "qr"}
        assert where["free_vend_guns"] == ["P1-1", "P3-1"]
        assert [g["gun"] for g in where["driver_guns"]] == ["P2-1", "P3-2"]
        assert where["scan"] == where["driver_guns"][0]["scan"] == where["app"] + "scan?g=JCDEMO-P2-1"
        assert sorted(p.name for p in Path(where["qr"]).glob("*.png")) == [
            f"ST-DEMO-01_{g}.png" for g in ("P1-1", "P2-1", "P3-1", "P3-2")]
        check_driver_side(where)
        # the API wants the demo's API token
        try:
            urllib.request.urlopen(where["console"] + "api/v1/stations", timeout=10)
            raise AssertionError("the API answered without a token")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        authed = urllib.request.Request(where["console"] + "api/v1/stations",
                                        headers={"Authorization": f"Bearer {where['api_token']}"})
        with urllib.request.urlopen(authed, timeout=10) as resp:
            assert resp.status == 200 and "ST-DEMO-01" in resp.read().decode()
        _console_login(where["console"], where["operator"])
        deadline = time.monotonic() + 60
        status = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(where["gateway"] + "api/status", timeout=5) as resp:
                status = json.loads(resp.read())
            if status["sync"].get("connected") and status["outbox"]["acked_seq"] >= 5:
                break
            time.sleep(0.5)
        assert status["sync"]["connected"], status["sync"]
        assert status["outbox"]["acked_seq"] >= 5
        assert status["station"]["id"] == "ST-DEMO-01"
        db = sqlite3.connect(work / "cloud" / "juchong.sqlite")
        try:
            (stored,) = db.execute("SELECT count(*) FROM raw_records WHERE sid = 'ST-DEMO-01'").fetchone()
            (online,) = db.execute("SELECT online FROM station_state WHERE sid = 'ST-DEMO-01'").fetchone()
        finally:
            db.close()
        assert stored >= 5 and online
        # the jobs pushed the assigned tariff to the gateway (set_tariff acknowledged)
        deadline = time.monotonic() + 60
        pushed = None
        while time.monotonic() < deadline and pushed is None:
            db = sqlite3.connect(work / "cloud" / "juchong.sqlite")
            try:
                (pushed,) = db.execute("SELECT pushed_at FROM station_tariffs WHERE sid = 'ST-DEMO-01'").fetchone()
            finally:
                db.close()
            time.sleep(1)
        assert pushed is not None, (work / "logs" / "jobs.log").read_text()
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "stopping" in err


def check_driver_side(where: dict) -> None:
    """The H5 app and the fake WeChat answer; a driver logs in through the fake's login page,
    finds the demo station with the tariff in force, and recharges at the cashier."""
    web = where["console"].rstrip("/")
    page = requests.get(where["scan"], timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    assert requests.get(where["wechat"] + "/fake/pay/orders", timeout=10).status_code == 200
    # the H5 login is WeChat's web authorisation against the fake: login link → authorisation
    # page → Allow → the cloud's callback (same browser: its state cookie) → the app's token
    browser = requests.Session()
    to_wechat = browser.get(where["app_login"], params={"next": "#/wallet"}, allow_redirects=False, timeout=10)
    assert to_wechat.status_code == 302 and to_wechat.headers["Location"].startswith(where["wechat"] + "/connect/oauth2/")
    form = dict(parse_qsl(urlsplit(to_wechat.headers["Location"]).query))
    assert browser.get(to_wechat.headers["Location"].split("#")[0], timeout=10).status_code == 200
    back = browser.post(where["wechat"] + "/connect/oauth2/authorize", data={**form, "user": "alice", "action": "allow"},
                        allow_redirects=False, timeout=10)
    assert back.status_code == 302, back.text
    to_app = browser.get(back.headers["Location"], allow_redirects=False, timeout=10)
    assert to_app.status_code == 303, to_app.text
    handed = dict(parse_qsl(urlsplit(to_app.headers["Location"]).fragment))
    assert handed["next"] == "#/wallet" and handed["jc_login"].startswith("jcd_"), to_app.headers["Location"]
    auth = {"Authorization": f"Bearer {handed['jc_login']}"}
    assert requests.get(f"{web}/api/v1/driver/me", headers=auth, timeout=10).json()["nickname"] == "alice"
    stations = requests.get(f"{web}/api/v1/driver/stations", headers=auth, timeout=10).json()["stations"]
    (st,) = [s for s in stations if s["sid"] == "ST-DEMO-01"]
    assert st["name"] == "聚充演示站（徐汇）" and 31 < st["lat"] < 32 and 121 < st["lng"] < 122
    assert st["guns_total"] == 4 and st["price_now"]["tariff_id"] == where["tariff"] == "demo-tou-v1"
    gun = requests.get(f"{web}/api/v1/driver/guns/JCDEMO-P2-1", headers=auth, timeout=10).json()
    assert gun["gun"]["rated_power_w"] == 22000 and gun["price_now"]["tariff_id"] == "demo-tou-v1"
    # a recharge: the cashier shows it, paying sends the callback, the wallet is credited
    rc = requests.post(f"{web}/api/v1/driver/wallet/recharges", json={"amount_fen": 5000}, headers=auth, timeout=10)
    assert rc.status_code == 201, rc.text
    params = rc.json()["pay_params"]
    assert requests.get(where["cashier"], params=params, timeout=10).status_code == 200
    paid = requests.post(where["wechat"] + "/fake/request-payment", json=params, timeout=10)
    assert paid.json()["errMsg"] == "requestPayment:ok"
    deadline = time.monotonic() + 30
    wallet = {}
    while time.monotonic() < deadline:
        wallet = requests.get(f"{web}/api/v1/driver/wallet", headers=auth, timeout=10).json()
        if wallet["balance_fen"] == 5000:
            break
        time.sleep(0.5)
    assert wallet["balance_fen"] == 5000, wallet
    # a driver's gun (no free vend) starts from the app on the wallet: a car is plugged in
    # (by the simulated day, or here through the simulator's control API) and charges
    gun = where["driver_guns"][0]
    plugged = requests.post(gun["plug"], json={}, timeout=10)
    assert plugged.status_code in (200, 409), plugged.text  # 409: the day's car is already there
    deadline = time.monotonic() + 30
    while True:
        order = requests.post(f"{web}/api/v1/driver/orders", headers=auth, timeout=20,
                              json={"gun_code": gun["code"], "limit": {"mode": "amount", "value": 2000}})
        if order.status_code == 201 or time.monotonic() > deadline:
            break
        assert order.json()["error"]["code"] == "not_plugged", order.text  # the gateway's next poll sees the car
        time.sleep(1)
    assert order.status_code == 201, order.text
    assert order.json()["gun"] == gun["gun"] and order.json()["hold_fen"] == 2000
    deadline = time.monotonic() + 40
    view = order.json()
    while time.monotonic() < deadline and not view.get("energy_wh"):
        time.sleep(1)
        view = requests.get(f"{web}/api/v1/driver/orders/{view['order_id']}", headers=auth, timeout=10).json()
    assert view["energy_wh"] > 0, view
