"""A pairing code made at the gateway, end to end: the simulator, a provisioned `jc-gateway
run` process, Mosquitto with the project's config, ingest and the driver API. The owner asks
`jc-gateway pairing-code` (or the status page, in Chromium) while the station's link is cut:
the code is refused by the cloud until the record arrives; once the link is back and the record
acknowledged (the page says so), the driver registers the gun with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.sharing.models import PairingCode
from cloud.stations import service as stations
from jcproto.pairing import ALPHABET
from tests.charging.support import new_driver
from tests.charging.test_gateway_e2e import _wait
from tests.drivers_api.support import APPID, BASE, SECRET
from tests.support.broker import Broker
from tests.support.browser import chromium
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SID = "ST-TEST-01"  # the id tests/support/gateway.py configures
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=60,
                          env=env)


class Stack:
    def __init__(self, broker: Broker, cloud: CloudStack, gw: GatewayProcess, wechat: FakeServer) -> None:
        self.broker, self.cloud, self.gw, self.wechat = broker, cloud, gw, wechat
        self.app = cloud.app
        self.client = cloud.app.test_client()

    def cut(self) -> None:
        self.broker.stop()
        self.gw.wait(lambda s: not s["sync"]["connected"], what="link cut")

    def restore(self) -> None:
        self.broker.start()

    def held(self) -> bool:
        with self.app.app_context():
            row = db.session.query(PairingCode).filter_by(sid=SID, gun="P1-1").one_or_none()
            db.session.rollback()
            return row is not None and row.issued_by == f"gateway:{SID}"

    def register(self, headers: dict[str, str], code: str) -> Any:
        return self.client.post(f"{BASE}/shared-piles", json={"gun_code": "JCH0001", "pairing_code": code},
                                headers=headers)


@contextmanager
def _stack(tmp_path: Path, wechat: FakeServer) -> Iterator[Stack]:
    broker = Broker(tmp_path / "broker").start()
    try:
        with CloudStack(broker, tmp_path / "cloud") as cloud, SimProcess("test") as sim:
            app = cloud.app
            app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url,
                              WECHAT_TIMEOUT_S=2.0)
            gw = GatewayProcess(sim, tmp_path / "gw", extra_toml="telemetry_s = 1")
            tok = cloud.token(SID)
            done = _cli("provision", "-c", str(gw.config_path), "--url", cloud.url, "--token", tok["token"],
                        "--ca-fingerprint", tok["ca_sha256"])
            assert done.returncode == 0, done.stderr
            try:
                gw.start()
                gw.wait(lambda s: s["sync"]["connected"] and GatewayProcess.gun(s, "P1-1") is not None,
                        what="connected")
                with app.app_context(), db.transaction() as s:
                    stations.set_station(s, SID, name="车主家")
                    stations.set_gun(s, SID, "P1-1", code="JCH0001", kind="ac")
                yield Stack(broker, cloud, gw, wechat)
            finally:
                gw.stop()
                gw.kill()
    finally:
        broker.close()


def test_a_code_made_offline_at_the_gateway_registers_the_pile_once_the_cloud_has_it(
    tmp_path: Path, wechat: FakeServer
) -> None:
    with _stack(tmp_path, wechat) as st:
        gw = st.gw
        owner, _ = new_driver(st.client, wechat, "owner")

        # the station's link is cut; the owner, at the pile, asks the gateway for a code
        st.cut()
        made = _cli("pairing-code", "P1-1", "--url", gw.url, "--hours", "2", "--json")
        assert made.returncode == 0, made.stderr
        code = json.loads(made.stdout)
        assert code["gun"] == "P1-1" and code["in_cloud"] is False and code["seq"] > code["acked_seq"]
        text = _cli("pairing-code", "P1-2", "--url", gw.url)  # a gun the station has not got
        assert text.returncode == 1 and "unknown gun 'P1-2'" in text.stderr
        early = st.register(owner, code["code"])
        assert early.status_code == 403 and early.json["error"]["code"] == "pairing_code_invalid"

        # the link is back: the record reaches the cloud, which makes the code
        st.restore()
        gw.wait(lambda s: s["outbox"]["acked_seq"] >= code["seq"], timeout=30, what="the record acknowledged")
        _wait(st.held, 10, "the gateway's code in the cloud")
        registered = st.register(owner, code["code"])
        assert registered.status_code == 201, registered.json
        assert registered.json["gun"] == "P1-1" and registered.json["open"] is False
        # used up: a second driver with the same code is refused
        other, _ = new_driver(st.client, wechat, "other")
        again = st.register(other, code["code"])
        assert again.status_code == 403 and again.json["error"]["code"] == "pairing_code_invalid"
        # the CLI's words for people: the code, its gun and expiry, and that it is shown once
        said = _cli("pairing-code", "P1-1", "--url", gw.url)
        first, *rest = said.stdout.splitlines()
        assert said.returncode == 0 and first.startswith(tuple(ALPHABET)) and "(P1-1, valid until" in first
        assert "Shown once" in rest[-1]


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


@pytest.mark.browser
def test_the_status_page_says_when_the_cloud_has_the_code(browser, tmp_path: Path, wechat: FakeServer) -> None:
    with _stack(tmp_path, wechat) as st:
        owner, _ = new_driver(st.client, wechat, "owner")
        st.cut()
        page = browser.new_page(locale="zh-CN")
        page.goto(st.gw.url + "/")
        page.wait_for_selector("#pform:not([hidden])")
        page.select_option("#pgun", "P1-1")
        page.click("#pmake")
        page.wait_for_selector("#pout:not([hidden])")
        code = page.locator("#pcode").inner_text()
        assert page.locator("#pstate").get_attribute("class") == "waiting"
        assert page.locator("#pstate").inner_text().startswith("待云端收到")
        assert st.register(owner, code).status_code == 403
        st.restore()
        page.wait_for_selector("#pstate.ready", timeout=30_000)
        assert page.locator("#pstate").inner_text() == "云端已收到：现在可在车主端用此码登记本枪。"
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.locator("#pstate").inner_text().startswith("The cloud has it")
        _wait(st.held, 10, "the gateway's code in the cloud")
        registered = st.register(owner, code)
        assert registered.status_code == 201, registered.json
