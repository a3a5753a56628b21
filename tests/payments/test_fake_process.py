"""The fakes as the demo runs them: `python -m cloud.fakes keys` writes a key set and prints the
cloud's settings; `python -m cloud.fakes serve` runs as its own process, and our clients use it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from cloud.payments.provider import NewOrder
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig
from cloud.wechat.login import LoginConfig, WechatLogin
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]



def test_keys_then_serve_as_a_process(tmp_path, receiver):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    out = subprocess.run([sys.executable, "-m", "cloud.fakes", "keys", str(tmp_path / "keys"), "--base-url", base],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    settings = dict(line.removeprefix("JC_").split("=", 1) for line in out.splitlines())
    assert settings["WECHATPAY_BASE_URL"] == base and settings["WECHAT_API_BASE_URL"] == base
    key_file = Path(settings["WECHATPAY_MCH_PRIVATE_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    again = subprocess.run([sys.executable, "-m", "cloud.fakes", "keys", str(tmp_path / "keys")],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "--force" in again.stderr

    log = open(tmp_path / "fake.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "cloud.fakes", "serve", "--keys", str(tmp_path / "keys"),
                             "--port", str(port), "--notify-origin", receiver.url, "--retry-scale", "0.01",
                             "--refund-delay", "0"], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(base + "/fake/pay/orders", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, (tmp_path / "fake.log").read_text()
                assert time.monotonic() < deadline, "the fake did not start"
                time.sleep(0.1)
        client = WechatPayClient(WechatPayConfig.from_settings(settings))
        login = WechatLogin(LoginConfig.from_settings(settings))
        code = requests.post(base + "/fake/wx/login", json={"user": "demo"}, timeout=5).json()["code"]
        openid = login.code2session(code).openid
        params = client.create_jsapi_order(NewOrder("JC-DEMO0001", "聚充-钱包充值", 5000, openid))
        assert requests.post(base + "/fake/request-payment", json=params.for_request_payment(),
                             timeout=5).json()["errMsg"] == "requestPayment:ok"
        got = receiver.wait(1)[0]
        notice = client.parse_payment_notification(got.headers, got.body)
        assert (notice.transaction.out_trade_no, notice.transaction.total_fen) == ("JC-DEMO0001", 5000)
        assert notice.transaction.payer_openid == openid
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
