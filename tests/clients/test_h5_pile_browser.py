""" "My pile" in the H5 app (/app/) in headless Chromium at a phone's viewport against a
running cloud: an owner registers a gun with the pairing code an operator issued (a wrong
code refused in the API's words), sets the open hours (one span, then spans of weekdays) and a
flat price, then a price by period, opens the pile, sees
a session's earnings to the fen and is told when a withdrawal cannot be made (no WeChat Pay
merchant in this cloud) — asked for the payment password first once one is set; a transfer
waiting for its payee's confirmation is shown with where to confirm it (the mini-program)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from sqlalchemy import select

from cloud.db import db
from cloud.ledger import service as ledger
from cloud.sharing import pairing
from cloud.sharing import service as sharing
from cloud.sharing.models import SharedPile, Withdrawal
from tests.clients.support import Cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixture)
from tests.sharing.support import bill_visitor_session

pytestmark = pytest.mark.browser
SID, CODE = "ST-H5-PILE", "JC-PILE-0001"


def test_an_owner_pairs_prices_opens_and_sees_earnings(cloud: Cloud, browser: Any) -> None:  # noqa: F811
    cloud.seed_station(SID, "我家的桩", lat=31.2, lng=121.6, gun_code=CODE)
    with cloud.app.app_context(), db.transaction() as s:
        code = pairing.issue(s, SID, "P1-1", issued_by="test")[0]
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(10_000)
    log_in(page, cloud, "pile-owner")
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-pile-link")
    page.wait_for_selector("#page-pile")
    page.wait_for_selector("#pile-none", state="visible")

    page.fill("#pile-gun-code", CODE)
    page.fill("#pile-pairing-code", "WRONGCODE0")
    page.click("#pile-pair-button")
    page.wait_for_selector("#pile-error", state="visible")
    assert "配对码错误" in page.inner_text("#pile-error")
    page.fill("#pile-pairing-code", code[:5].lower() + "-" + code[5:])
    page.click("#pile-pair-button")
    page.wait_for_selector("#pile-card")
    assert page.inner_text("#pile-state") == "已关闭"

    # a new pile's hours: one span every day
    assert page.locator(".pile-span").count() == 1
    assert page.locator(".pile-span-day.on").count() == 7
    page.locator(".pile-span-start").first.fill("00:00")
    page.locator(".pile-span-end").first.fill("24:00")
    page.click("#pile-hours-save")
    page.wait_for_function("document.querySelectorAll('#pile-windows div').length === 7")
    assert "周一 00:00–24:00" in page.inner_text("#pile-windows")
    page.fill("#pile-energy", "0.8")
    page.fill("#pile-service", "0.2")
    page.click("#pile-price-save")
    page.wait_for_function(
        "document.querySelector('#pile-price-save') && !document.querySelector('#pile-price-save').disabled"
    )

    # several spans: weekdays 08:00–20:00, the weekend 10:00–16:00
    first = page.locator(".pile-span").nth(0)
    for day in ("sat", "sun"):
        first.locator(f".pile-span-day[data-day='{day}']").click()
    first.locator(".pile-span-start").fill("08:00")
    first.locator(".pile-span-end").fill("20:00")
    page.click("#pile-span-add")
    second = page.locator(".pile-span").nth(1)
    page.click("#pile-hours-save")  # a span without a day: refused here
    page.wait_for_selector("#pile-error", state="visible")
    assert "至少选择一天" in page.inner_text("#pile-error")
    for day in ("sat", "sun"):
        second.locator(f".pile-span-day[data-day='{day}']").click()
    second.locator(".pile-span-start").fill("10:00")
    second.locator(".pile-span-end").fill("16:00")
    page.click("#pile-hours-save")
    page.wait_for_function(
        "document.querySelectorAll('#pile-windows div').length === 7 && "
        "document.querySelector('#pile-windows').innerText.includes('10:00–16:00')"
    )
    windows = page.inner_text("#pile-windows")
    assert (
        "周一 08:00–20:00" in windows
        and "周日 10:00–16:00" in windows
        and "00:00–24:00" not in windows
    )

    # a price by period: a valley night and a peak day
    page.click(".pile-price-mode[data-mode='periods']")
    page.wait_for_selector("#pile-energy", state="hidden")
    row = page.locator(".pile-period").nth(0)
    row.locator(".pile-period-end").fill("07:00")
    row.locator(".pile-period-kind[data-kind='valley']").click()
    row.locator(".pile-period-energy").fill("0.3")
    row.locator(".pile-period-service").fill("0.1")
    page.click("#pile-period-add")
    row = page.locator(".pile-period").nth(1)
    assert row.locator(".pile-period-start").input_value() == "07:00"
    row.locator(".pile-period-kind[data-kind='peak']").click()
    row.locator(".pile-period-energy").fill("1.1")
    row.locator(".pile-period-service").fill("0.4")
    page.click("#pile-price-save")
    page.wait_for_function(
        "document.querySelector('#pile-price-save') && !document.querySelector('#pile-price-save').disabled"
    )
    assert not page.is_visible("#pile-error")
    page.click("#pile-switch")
    page.wait_for_selector("#pile-card[data-open='yes']")
    with cloud.app.app_context():
        from cloud.models import now_ms
        from cloud.tariffs import service as tariffs

        # open now or not depends on the clock against the spans just set
        pile = db.session.scalars(select(SharedPile).where(SharedPile.sid == SID)).one()
        open_now = sharing.view(db.session, pile)["open_now"]
    assert page.inner_text("#pile-state") == ("开放中" if open_now else "已开启，不在开放时段")
    with cloud.app.app_context():
        tariff = tariffs.in_force(db.session, SID, now_ms())
        assert tariff is not None and tariff.id.startswith("share-")
        assert [
            (p.start, p.end, p.name, p.energy_price_e4, p.service_price_e4) for p in tariff.periods
        ] == [("00:00", "07:00", "valley", 3000, 1000), ("07:00", "24:00", "peak", 11000, 4000)]
        db.session.rollback()

    # another driver's session on the pile, billed: the owner's 90 % to the fen
    owner = str(json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["id"])
    with cloud.app.app_context(), db.transaction() as s:
        ledger.top_up(s, "visitor", 5_000, key="visitor-money")
        bill_visitor_session(s, "pile-o1", "visitor", SID)
        assert ledger.owner_balances(s, owner) == (1236, 0)
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-pile-link")
    # the page reads the earnings again (its view model is kept: wait for the new figures)
    page.wait_for_function(
        "document.querySelector('#pile-balance') && "
        "document.querySelector('#pile-balance').innerText === '¥12.36'"
    )
    assert "¥13.73" in page.inner_text(".pile-session") and "¥12.36" in page.inner_text(
        ".pile-session"
    )
    page.fill("#pile-amount", "10")
    page.click("#pile-withdraw")
    page.wait_for_selector("#pile-error", state="visible")
    assert "微信支付" in page.inner_text("#pile-error")  # no merchant here: nothing held
    with cloud.app.app_context():
        assert ledger.owner_balances(db.session, owner) == (1236, 0)
        db.session.rollback()

    # with a payment password set, the withdrawal asks for it before sending anything
    token = json.loads(page.evaluate("localStorage.getItem('jc_token')"))
    r = requests.post(
        cloud.url + "/api/v1/driver/payment-password",
        json={"password": "135790"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    posted: list[Any] = []
    page.on(
        "request",
        lambda q: (
            posted.append(q.post_data_json)
            if q.method == "POST" and q.url.endswith("/sharing/withdrawals")
            else None
        ),
    )
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-pile-link")
    page.wait_for_selector("#pile-balance")
    page.fill("#pile-amount", "10")
    page.click("#pile-withdraw")
    page.wait_for_selector("#pile-password", state="visible")
    assert "支付密码" in page.inner_text("#pile-ask-password") and posted == []
    assert not page.is_visible("#pile-error")
    page.fill("#pile-password", "135790")
    page.click("#pile-withdraw")
    page.wait_for_function("document.querySelector('#pile-error').innerText.includes('微信支付')")
    assert posted == [{"amount_fen": 1000, "payment_password": "135790"}]
    with cloud.app.app_context():
        assert ledger.owner_balances(db.session, owner) == (1236, 0)
        db.session.rollback()

    # a transfer WeChat holds for its payee was made under the mini-program's appid: the H5
    # app cannot open WeChat's confirmation for it and says where to confirm it (the row as
    # cloud.sharing.withdrawals.apply leaves a WAIT_USER_CONFIRM answer)
    with cloud.app.app_context(), db.transaction() as s:
        s.add(
            Withdrawal(
                owner_id=owner,
                amount_fen=500,
                out_bill_no="W" + "0" * 29 + "9",
                openid="o-owner",
                state="sending",
                package_info="pkg-waiting",
            )
        )
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-pile-link")
    page.wait_for_selector(
        ".pile-withdrawal[data-state='sending'] .pile-confirm-hint", state="visible"
    )
    row = page.inner_text(".pile-withdrawal[data-state='sending']")
    assert "待确认收款" in row and "小程序" in row and "¥5.00" in row

    # the station list's "shared, open now" filter: the pile open all day, another station not shared
    cloud.seed_station("ST-H5-OTHER", "别处的站", lat=31.21, lng=121.61, gun_code="JC-OTHER-0001")
    with cloud.app.app_context(), db.transaction() as s:
        pile = s.scalars(select(SharedPile).where(SharedPile.sid == SID)).one()
        sharing.set_windows(
            s,
            owner,
            pile.id,
            [{"days": list(sharing.rules.DAYS), "start": "00:00", "end": "24:00"}],
        )
    page.goto(cloud.url + "/app/#/stations")
    page.wait_for_function("document.querySelectorAll('a.card.station[data-sid]').length === 2")
    page.click("#shared-only")
    page.wait_for_function("document.querySelectorAll('a.card.station[data-sid]').length === 1")
    assert page.get_attribute("a.card.station[data-sid]", "data-sid") == SID
    assert "on" in (page.get_attribute("#shared-only", "class") or "")
    assert problems == []
    context.close()
