"""The fake's cashier page, where a person pays in the demo: opened with the wx.requestPayment
parameters our client signed, zh-CN first and English at a click; paying sends the notification."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
import requests

from cloud.payments.provider import NewOrder, TradeState
from tests.support.browser import chromium

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def cashier_url(fake, params, **extra) -> str:
    return f"{fake.url}/fake/cashier?{urlencode({**params.for_request_payment(), **extra})}"


def test_cashier_form_pays_and_notifies(client, fake, receiver):
    params = client.create_jsapi_order(NewOrder("JC-CASH0001", "聚充-钱包充值", 5000, OPENID))
    page = requests.get(cashier_url(fake, params), timeout=5)
    assert page.status_code == 200
    assert 'lang="zh-CN"' in page.text and "确认支付" in page.text and "¥50.00" in page.text
    en = requests.get(cashier_url(fake, params, lang="en"), timeout=5)
    assert 'lang="en"' in en.text and ">Pay<" in en.text and "¥50.00" in en.text
    form = {**params.for_request_payment(), "return_url": "http://127.0.0.1:5000/h5/wallet"}
    cancelled = requests.post(fake.url + "/fake/cashier", data={**form, "action": "cancel"}, timeout=5)
    assert "已取消支付" in cancelled.text and not receiver.received
    done = requests.post(fake.url + "/fake/cashier", data={**form, "action": "pay"}, timeout=5)
    assert done.status_code == 200 and 'data-state="paid"' in done.text
    assert 'href="http://127.0.0.1:5000/h5/wallet"' in done.text
    got = receiver.wait(1)[0]
    assert client.parse_payment_notification(got.headers, got.body).transaction.total_fen == 5000
    assert client.query_order("JC-CASH0001").trade_state == TradeState.SUCCESS
    # paying twice is refused; the page says it is paid
    again = requests.post(fake.url + "/fake/cashier", data={**form, "action": "pay"}, timeout=5)
    assert again.status_code == 400
    assert 'data-state="paid"' in requests.get(cashier_url(fake, params), timeout=5).text


def test_cashier_refuses_a_forged_pay_sign(client, fake):
    params = client.create_jsapi_order(NewOrder("JC-CASH0002", "聚充-钱包充值", 100, OPENID))
    rp = params.for_request_payment()
    rp["paySign"] = rp["paySign"][:-4] + ("AAAA" if not rp["paySign"].endswith("AAAA") else "BBBB")
    r = requests.get(f"{fake.url}/fake/cashier?{urlencode(rp)}", timeout=5)
    assert r.status_code == 401 and "无法支付" in r.text and "确认支付" not in r.text
    r = requests.post(fake.url + "/fake/cashier", data={**rp, "action": "pay"}, timeout=5)
    assert r.status_code == 401
    assert fake.pay.orders["JC-CASH0002"].trade_state == "NOTPAY"


def test_cashier_escapes_what_it_shows(client, fake):
    params = client.create_jsapi_order(NewOrder("JC-CASH0003", "<script>alert(1)</script>", 100, OPENID))
    page = requests.get(cashier_url(fake, params, return_url="javascript:alert(1)"), timeout=5).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


@pytest.mark.browser
def test_a_person_pays_on_a_phone_sized_page(browser, client, fake, receiver, tmp_path):
    params = client.create_jsapi_order(NewOrder("JC-CASH0004", "聚充-钱包充值", 5000, OPENID))
    page = browser.new_page(locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(cashier_url(fake, params))
    assert page.locator("#amount").inner_text() == "¥50.00"
    page.screenshot(path=str(tmp_path / "cashier-zh.png"))
    page.click("a.lang")  # a link: the English page is a new document, loaded when it is
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.locator("#pay").inner_text() == "Pay"
    page.click("#pay")
    page.wait_for_selector("#result[data-state=paid]")
    assert "Payment successful" in page.locator("#result").inner_text()
    got = receiver.wait(1)[0]
    assert client.parse_payment_notification(got.headers, got.body).transaction.out_trade_no == "JC-CASH0004"
