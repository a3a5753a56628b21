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
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.sharing.models import PairingCode
from cloud.stations import service as stations
from jcproto import topic
from jcproto.pairing import ALPHABET
from tests.charging.support import new_driver
from tests.charging.test_gateway_e2e import _wait
from tests.docs.openapi_support import ResponseChecker, load_spec
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
def _stack(tmp_path: Path, wechat: FakeServer, *, archive: bool = True, telemetry_s: int = 1) -> Iterator[Stack]:
    """archive False, with telemetry_s long: the cloud knows no gun of the station (an operator
    who has not added it, a gateway whose telemetry has not come yet)."""
    broker = Broker(tmp_path / "broker").start()
    try:
        with CloudStack(broker, tmp_path / "cloud") as cloud, SimProcess("test") as sim:
            app = cloud.app
            app.config.update(WECHAT_APPID=APPID, WECHAT_SECRET=SECRET, WECHAT_API_BASE_URL=wechat.url,
                              WECHAT_TIMEOUT_S=2.0)
            gw = GatewayProcess(sim, tmp_path / "gw", extra_toml=f"telemetry_s = {telemetry_s}")
            tok = cloud.token(SID)
            done = _cli("provision", "-c", str(gw.config_path), "--url", cloud.url, "--token", tok["token"],
                        "--ca-fingerprint", tok["ca_sha256"])
            assert done.returncode == 0, done.stderr
            try:
                gw.start()
                gw.wait(lambda s: s["sync"]["connected"] and GatewayProcess.gun(s, "P1-1") is not None,
                        what="connected")
                if archive:
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
        # the gateway says the cloud has it, and nothing refused it
        state = _state(gw, code)
        assert (state["in_cloud"], state["state"], state["refused"]) == (True, "in_cloud", None)
        assert [(c["gun"], c["state"], c["reason"]) for c in gw.status()["pairing_codes"]] == [
            ("P1-1", "in_cloud", None)]
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


def _state(gw: GatewayProcess, code: dict[str, Any]) -> dict[str, Any]:
    import urllib.request

    url = f"{gw.url}/api/pairing-codes/state?gun={code['gun']}&expires_at={code['expires_at']}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def test_a_code_the_cloud_refuses_is_said_refused_at_the_gateway_with_what_to_do(
    tmp_path: Path, wechat: FakeServer
) -> None:
    """The cloud knows no gun P1-1 at this station (no archive, no telemetry yet): it refuses the
    gateway's code and its ack says so; the gateway's state endpoint, /api/status and
    `jc-gateway status` say refused (unknown_gun) and what to do. Once the operator adds the gun,
    a new code is taken and said to be in the cloud."""
    with _stack(tmp_path, wechat, archive=False, telemetry_s=300) as st:
        gw = st.gw
        owner, _ = new_driver(st.client, wechat, "owner")
        made = _cli("pairing-code", "P1-1", "--url", gw.url, "--json")
        assert made.returncode == 0, made.stderr
        code = json.loads(made.stdout)
        _wait(lambda: _state(gw, code)["state"] == "refused", 30, "the refusal at the gateway")
        state = _state(gw, code)
        assert state["in_cloud"] is True and state["refused"]["reason"] == "unknown_gun"
        assert "P1-1" in state["refused"]["advice"]["en"] and "operator" in state["refused"]["advice"]["en"]
        assert "运营商" in state["refused"]["advice"]["zh"] and "重新生成" in state["refused"]["advice"]["zh"]
        [listed] = gw.status()["pairing_codes"]
        assert (listed["gun"], listed["state"], listed["reason"]) == ("P1-1", "refused", "unknown_gun")
        # both answers as docs/api/gateway.openapi.yaml says
        check = ResponseChecker(load_spec("gateway"))
        check(path="/api/pairing-codes/state", method="GET", status=200, content_type="application/json", body=state)
        check(path="/api/status", method="GET", status=200, content_type="application/json", body=gw.status())
        said = _cli("status", "--url", gw.url)
        assert said.returncode == 0 and "PAIRING  P1-1" in said.stdout and "[unknown_gun]" in said.stdout
        assert "Ask the operator to add the gun" in said.stdout
        assert st.register(owner, code["code"]).status_code in (403, 404)
        with st.app.app_context():
            refused = [e.detail["reason"] for e in
                       db.session.query(AuditEntry).filter_by(action="sharing.pairing_code_refused").all()]
            db.session.rollback()
        assert refused == ["gun_not_found"]

        # the operator adds the gun: a new code is taken, and the gateway says so
        with st.app.app_context(), db.transaction() as s:
            stations.set_station(s, SID, name="车主家")
            stations.set_gun(s, SID, "P1-1", code="JCH0001", kind="ac")
        again = json.loads(_cli("pairing-code", "P1-1", "--url", gw.url, "--json").stdout)
        gw.wait(lambda s: s["outbox"]["acked_seq"] >= again["seq"], timeout=30, what="the new code acknowledged")
        _wait(st.held, 10, "the gateway's new code in the cloud")
        time.sleep(1)  # any ack still under way has come
        assert _state(gw, again)["state"] == "in_cloud" and _state(gw, code)["state"] == "refused"
        assert st.register(owner, again["code"]).status_code == 201


def test_hostile_refused_fields_in_acks_do_not_stop_the_gateways_sync(tmp_path: Path, wechat: FakeServer) -> None:
    """Acks whose `refused` is of the wrong type, too long, or names seqs and kinds this gateway
    never made, published as the cloud on the station's ack topic: the gateway logs and ignores
    them, still applies each ack's seq, keeps the first answer about a code, and goes on syncing."""
    with _stack(tmp_path, wechat, archive=False, telemetry_s=300) as st:
        gw = st.gw
        code = json.loads(_cli("pairing-code", "P1-1", "--url", gw.url, "--json").stdout)
        _wait(lambda: _state(gw, code)["state"] == "refused", 30, "the refusal at the gateway")
        before = gw.status()["sync"]
        acked = before["acked_seq"]
        good = {"seq": code["seq"], "kind": "pairing_code", "reason": "expired"}  # a second answer: not taken
        hostile: list[Any] = [
            "nonsense", 7, None, {"seq": code["seq"]}, [None, 1, "x", [], {}],
            [{"seq": "1", "kind": "pairing_code", "reason": "expired"}, {"seq": True, "kind": "pairing_code",
             "reason": "expired"}, {"seq": 2**60, "kind": "pairing_code", "reason": "expired"},
             {"seq": code["seq"], "kind": "pairing_code", "reason": "NOT A CODE!" * 20},
             {"seq": code["seq"], "kind": "Pairing Code", "reason": "expired"}],
            [good] * 1001,  # more than an ack may carry: ignored whole
            [{"seq": 999_999, "kind": "pairing_code", "reason": "expired"},  # no code of this store
             {"seq": 1, "kind": "pairing_code", "reason": "expired"},  # a record that is no code
             {"seq": code["seq"], "kind": "future_kind", "reason": "whatever"}, good,
             {"seq": code["seq"], "kind": "pairing_code", "reason": "expired", "extra": {"x": [1]}}],
        ]
        c = st.broker.connect(st.broker.cloud, client_id="test-hostile-cloud")
        try:
            for value in hostile:
                c.publish(topic(SID, "ack"), json.dumps({"v": 1, "seq": acked, "refused": value}), qos=1).wait_for_publish(5)
        finally:
            c.disconnect()
        time.sleep(1)
        after = gw.status()
        assert gw.proc is not None and gw.proc.poll() is None  # alive
        assert after["sync"]["connected"] and after["sync"]["dropped"] == before["dropped"]  # no ack dropped
        assert _state(gw, code)["refused"]["reason"] == "unknown_gun"  # the first answer stays
        assert after["sync"]["pairing_refused"] == before["pairing_refused"] == 1
        # still syncing: the operator adds the gun and a new code goes through
        with st.app.app_context(), db.transaction() as s:
            stations.set_station(s, SID, name="车主家")
            stations.set_gun(s, SID, "P1-1", code="JCH0001", kind="ac")
        again = json.loads(_cli("pairing-code", "P1-1", "--url", gw.url, "--json").stdout)
        gw.wait(lambda s: s["outbox"]["acked_seq"] >= again["seq"], timeout=30, what="the new code acknowledged")
        assert _state(gw, again)["state"] == "in_cloud"
        log = gw.log_path.read_text()
        assert "refused entries ignored" in log


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def _make_on_the_page(browser, st):
    """The status page in Chinese, a code made for P1-1 with its panel: the page, code shown."""
    page = browser.new_page(locale="zh-CN")
    page.goto(st.gw.url + "/")
    page.wait_for_selector("#pform:not([hidden])")
    page.select_option("#pgun", "P1-1")
    page.click("#pmake")
    page.wait_for_selector("#pout:not([hidden])")
    return page


@pytest.mark.browser
def test_the_status_page_says_when_the_cloud_has_the_code(browser, tmp_path: Path, wechat: FakeServer) -> None:
    with _stack(tmp_path, wechat) as st:
        owner, _ = new_driver(st.client, wechat, "owner")
        st.cut()
        page = _make_on_the_page(browser, st)
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


@pytest.mark.browser
def test_the_status_page_says_when_the_cloud_refused_the_code(browser, tmp_path: Path, wechat: FakeServer) -> None:
    """The cloud does not know the gun: the panel turns from waiting to refused, with the reason's
    advice in Chinese and, after the language button, in English."""
    from edge.pairing import refusal_advice

    with _stack(tmp_path, wechat, archive=False, telemetry_s=300) as st:
        page = _make_on_the_page(browser, st)
        page.wait_for_selector("#pstate.refused", timeout=30_000)
        advice = refusal_advice("unknown_gun", "P1-1")
        assert page.locator("#pstate").inner_text() == advice["zh"]
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.locator("#pstate").inner_text() == advice["en"]
