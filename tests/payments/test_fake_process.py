"""The fakes as the demo runs them: `python -m cloud.fakes keys` writes a key set and prints the
cloud's settings; `python -m cloud.fakes serve` runs as its own process, and our clients use it.
By default a transfer succeeds at once (its result callback follows); with `--hold-transfers`
it waits for its payee, whom a person plays on the fake's /fake/transfers page."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import requests

from cloud.payments.provider import NewOrder, TransferRequest, TransferState
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig
from cloud.wechat.login import LoginConfig, WechatLogin
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
TRANSFER_NOTIFY = "/api/v1/pay/wechat/transfer-notify"


def _keys(tmp_path: Path, base: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-m", "cloud.fakes", "keys", str(tmp_path / "keys"), "--base-url", base],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(line.removeprefix("JC_").split("=", 1) for line in out.splitlines())


def _serve(tmp_path: Path, port: int, receiver, *extra: str) -> subprocess.Popen:
    log = open(tmp_path / "fake.log", "wb")  # noqa: SIM115 - closed below; the child keeps its own copy
    proc = subprocess.Popen([sys.executable, "-m", "cloud.fakes", "serve", "--keys", str(tmp_path / "keys"),
                             "--port", str(port), "--notify-origin", receiver.url, "--retry-scale", "0.01",
                             "--refund-delay", "0", *extra], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log.close()
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/fake/pay/orders", timeout=1)
            return proc
        except requests.ConnectionError:
            assert proc.poll() is None, (tmp_path / "fake.log").read_text()
            assert time.monotonic() < deadline, "the fake did not start"
            time.sleep(0.1)


def _transfer(no: str, openid: str, fen: int) -> TransferRequest:
    return TransferRequest(out_bill_no=no, openid=openid, amount_fen=fen, remark="充电桩共享收益提现",
                           scene_id="1005", scene_report=(("岗位类型", "充电桩共享桩主"),))


def _transfer_notices(client: WechatPayClient, receiver, count: int) -> list:
    got = [r for r in receiver.wait(count) if r.path == TRANSFER_NOTIFY]
    return [client.parse_transfer_notification(r.headers, r.body).transfer for r in got]


def test_hold_transfers_waits_for_the_payee_confirmed_on_the_page(tmp_path, receiver):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = _keys(tmp_path, base)
    assert settings["WECHATPAY_TRANSFER_NOTIFY_URL"].endswith(TRANSFER_NOTIFY)
    proc = _serve(tmp_path, port, receiver, "--hold-transfers")
    try:
        client = WechatPayClient(WechatPayConfig.from_settings(settings))
        code = requests.post(base + "/fake/wx/login", json={"user": "owner"}, timeout=5).json()["code"]
        openid = WechatLogin(LoginConfig.from_settings(settings)).code2session(code).openid
        t = client.transfer(_transfer("WDEMO0001", openid, 1234))
        assert t.state is TransferState.WAIT_USER_CONFIRM and t.package_info
        for lang, word in (("zh-CN", "确认收款"), ("en", "Confirm receipt")):
            page = requests.get(base + "/fake/transfers", params={"lang": lang}, timeout=5)
            assert page.status_code == 200 and 'data-bill="WDEMO0001"' in page.text and word in page.text
            assert "¥12.34" in page.text
        time.sleep(0.2)
        assert not [r for r in receiver.received if r.path == TRANSFER_NOTIFY]  # nothing final yet
        # only the payee may confirm: another user (or none) is refused, the bill still waits
        for who in ({"user": "someone-else"}, {}):
            other = requests.post(base + "/fake/transfers", data={"out_bill_no": "WDEMO0001", **who}, timeout=5)
            assert other.status_code == 403 and 'data-state="error"' in other.text
            assert 'data-bill="WDEMO0001"' in other.text
        done = requests.post(base + "/fake/transfers", data={"out_bill_no": "WDEMO0001", "lang": "en",
                                                            "user": "owner"}, timeout=5)
        assert done.status_code == 200 and 'data-state="confirmed"' in done.text
        assert 'id="none"' in done.text  # nothing else waits
        [notice] = _transfer_notices(client, receiver, 1)
        assert (notice.out_bill_no, notice.state, notice.amount_fen, notice.openid) == (
            "WDEMO0001", TransferState.SUCCESS, 1234, openid)
        assert client.query_transfer("WDEMO0001").state is TransferState.SUCCESS
        again = requests.post(base + "/fake/transfers", data={"out_bill_no": "WDEMO0001", "user": "owner"},
                              timeout=5)
        assert again.status_code == 400 and 'data-state="error"' in again.text
        assert requests.post(base + "/fake/transfers", data={"out_bill_no": "Wnone"}, timeout=5).status_code == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_keys_then_serve_as_a_process(tmp_path, receiver):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = _keys(tmp_path, base)
    assert settings["WECHATPAY_BASE_URL"] == base and settings["WECHAT_API_BASE_URL"] == base
    key_file = Path(settings["WECHATPAY_MCH_PRIVATE_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    again = subprocess.run([sys.executable, "-m", "cloud.fakes", "keys", str(tmp_path / "keys")],
                           cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "--force" in again.stderr

    proc = _serve(tmp_path, port, receiver)
    try:
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
        # transfers are not held by default: paid at once, and the result callback follows
        assert client.transfer(_transfer("WDEMO0002", openid, 50)).state is TransferState.SUCCESS
        [done] = _transfer_notices(client, receiver, 2)
        assert (done.out_bill_no, done.state, done.amount_fen) == ("WDEMO0002", TransferState.SUCCESS, 50)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
