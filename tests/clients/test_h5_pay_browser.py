"""Paying in the H5 app (/app/) in headless Chromium at a phone's viewport, against a running
cloud whose WeChat (login, official account, Pay) is the local fake:

- outside WeChat: a recharge goes to WeChat Pay's H5 page (the fake's cashier at h5_url),
  is paid there, comes back to the wallet, which asks the cloud how it ended: 50.00;
- inside WeChat's browser (its user agent, logged in through the official account): the app
  hands the parameters the cloud signed to WeixinJSBridge getBrandWCPayRequest; the test's
  bridge passes them to the fake, which checks paySign with the merchant's key and the
  account's appid, then pays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.payments.wechatpay import signing
from tests.clients.support import Cloud, running_cloud
from tests.clients.test_h5_browser import PHONE, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.browser

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
# what WeChat's browser gives the page: getBrandWCPayRequest answered by the test (Python)
BRIDGE = """
window.jcBridgeCalls = [];
window.WeixinJSBridge = {
  invoke(name, params, callback) {
    window.jcBridgeCalls.push({ name, params });
    window.jcFakeBridge(name, params).then((ok) => callback({
      err_msg: ok ? 'get_brand_wcpay_request:ok' : 'get_brand_wcpay_request:fail' }));
  },
};
"""


@pytest.fixture(scope="module")
def paying(
    tmp_path_factory: pytest.TempPathFactory, built: None
) -> Iterator[tuple[Cloud, FakeServer, FakeKeys]]:
    tmp = tmp_path_factory.mktemp("h5pay")
    keys = FakeKeys()
    with pytest.MonkeyPatch.context() as mp, FakeServer.for_keys(keys, retry_scale=0.002) as fake:
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        settings = keys.settings(keys.write(tmp / "keys"), fake.url)
        with running_cloud(tmp, **settings, WALLET_POLL_AFTER_S=1) as cloud:
            assert fake.pay is not None
            # WeChat posts to the https notify_url; here it reaches the served cloud instead
            fake.pay.notify_origin = cloud.url
            yield cloud, fake, keys


def new_phone(browser: Any, **extra: Any) -> tuple[Any, Any, list[str]]:  # noqa: F811
    context = browser.new_context(locale="zh-CN", **PHONE, **extra)
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    return context, page, problems


def log_in(page: Any, cloud: Cloud, fake: FakeServer, user: str) -> None:
    page.goto(cloud.url + "/app/")
    page.click("#login-wechat")
    page.wait_for_selector("#allow")
    assert page.url.startswith(fake.url + "/connect/oauth2/authorize?")
    page.fill("#user", user)
    page.click("#allow")
    page.wait_for_selector("#page-stations")


def recharge(page: Any, cloud: Cloud, yuan: str) -> None:
    page.goto(cloud.url + "/app/#/wallet")
    page.wait_for_selector("#page-wallet .balance")
    assert page.locator("#page-wallet .balance").inner_text() == "¥0.00"
    page.locator("#page-wallet .preset", has_text=yuan).click()
    page.click("#recharge")


def test_recharge_outside_wechat_through_the_h5_cashier(
    paying: tuple[Cloud, FakeServer, FakeKeys],
    browser: Any,  # noqa: F811
) -> None:
    cloud, fake, keys = paying
    assert fake.pay is not None
    context, page, problems = new_phone(browser)
    try:
        log_in(page, cloud, fake, "h5pay-outside")
        recharge(page, cloud, "¥50")
        page.wait_for_selector("#pay")  # WeChat Pay's H5 page: the fake's cashier at h5_url
        assert page.url.startswith(fake.url + "/fake/h5pay/checkmweb?prepay_id=")
        assert "redirect_url=" in page.url
        assert page.locator("#amount").inner_text() == "¥50.00"
        order = next(o for o in fake.pay.orders.values() if o.trade_type == "MWEB")
        assert (order.appid, order.total, order.payer_client_ip) == (
            keys.oa_appid,
            5000,
            "127.0.0.1",
        )
        page.click("#pay")
        page.wait_for_selector("#result[data-state='paid']")
        page.click("#back")
        # back on the wallet, which asks the cloud (not the address it came back to)
        page.wait_for_url(cloud.url + "/app/#/wallet?paid=" + order.out_trade_no)
        page.wait_for_function(
            "document.querySelector('#page-wallet .balance') && "
            "document.querySelector('#page-wallet .balance').innerText === '¥50.00'",
            timeout=30_000,
        )
        assert page.locator("#page-wallet .notice").inner_text() == "充值成功，已到账。"
        # the history names the channel; a balance refund says where the money goes
        row = page.locator(f"#page-wallet [data-recharge='{order.out_trade_no}']")
        assert row.get_attribute("data-channel") == "h5"
        assert row.locator(".recharge-channel").inner_text() == "微信H5支付"
        page.locator("#page-wallet button", has_text="全部退还").click()
        page.wait_for_selector("#page-wallet .refund-route")
        assert (
            page.locator("#page-wallet .refund-route").inner_text() == "余额退款 · 原路退回微信支付"
        )
        page.click("#lang-switch")
        page.wait_for_function(
            "document.querySelector('#page-wallet .refund-route') && "
            "document.querySelector('#page-wallet .refund-route').innerText.startsWith('Balance')"
        )
        assert row.locator(".recharge-channel").inner_text() == "WeChat Pay (H5)"
        assert (
            page.locator("#page-wallet .refund-route").inner_text()
            == "Balance refund · Back to the original WeChat payment"
        )
        assert not problems, problems
    finally:
        context.close()


def test_recharge_inside_wechat_through_weixinjsbridge(
    paying: tuple[Cloud, FakeServer, FakeKeys],
    browser: Any,  # noqa: F811
) -> None:
    cloud, fake, keys = paying
    assert fake.pay is not None and fake.oauth is not None
    context, page, problems = new_phone(browser, user_agent=WECHAT_UA)
    answered: list[dict[str, Any]] = []

    def bridge(name: str, params: dict[str, str]) -> bool:
        # what WeChat does with getBrandWCPayRequest: the fake checks paySign, then pays
        resp = requests.post(fake.url + "/fake/request-payment", json=params, timeout=10)
        answered.append({"name": name, "status": resp.status_code, **resp.json()})
        return resp.status_code == 200

    try:
        page.expose_function("jcFakeBridge", bridge)
        page.add_init_script(BRIDGE)
        log_in(page, cloud, fake, "h5pay-inside")
        recharge(page, cloud, "¥30")
        page.wait_for_function(
            "document.querySelector('#page-wallet .balance') && "
            "document.querySelector('#page-wallet .balance').innerText === '¥30.00'",
            timeout=30_000,
        )
        calls = page.evaluate("window.jcBridgeCalls")
        assert [c["name"] for c in calls] == ["getBrandWCPayRequest"]
        params = calls[0]["params"]
        assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
        # signed for the official account's appid with the merchant's key, as the bridge wants
        assert params["appId"] == keys.oa_appid and params["signType"] == "RSA"
        msg = signing.pay_sign_message(
            params["appId"], params["timeStamp"], params["nonceStr"], params["package"]
        )
        assert signing.verify(keys.merchant_key.public_key(), msg, params["paySign"])
        assert answered == [
            {"name": "getBrandWCPayRequest", "status": 200, "errMsg": "requestPayment:ok"}
        ]
        order = fake.pay.order_by_prepay_id(params["package"].removeprefix("prepay_id="))
        assert (order.trade_type, order.appid, order.total) == ("JSAPI", keys.oa_appid, 3000)
        assert order.openid == fake.oauth.openid_for("h5pay-inside")  # the account's openid
        assert page.locator("#page-wallet .notice").inner_text() == "充值成功，已到账。"
        assert json.loads(page.evaluate("localStorage.getItem('jc_login_via')")) == "wechat_oa"
        channel = page.locator(
            f"#page-wallet [data-recharge='{order.out_trade_no}'] .recharge-channel"
        )
        assert channel.inner_text() == "微信内网页支付"
        page.click("#lang-switch")
        page.wait_for_function(
            "[...document.querySelectorAll('#page-wallet .recharge-channel')]"
            ".some((e) => e.innerText === 'WeChat Pay (in WeChat)')"
        )
        assert not problems, problems
    finally:
        context.close()
