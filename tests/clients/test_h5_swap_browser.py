"""Battery swap in the H5 app (/app/) in headless Chromium at a phone's viewport against a
running cloud and its real driver API: the charging-station finder lists the swap station
marked as one (list and map) and opens its swap page; the driver sees bays and the packs ready
now and predicted, chooses a pack type and a 10-minute slot with the fee of the station's
rules and the wallet's balance beside it, books (the fee held on the ledger), sees "my swap
booking", cancels (the fee back by the rules) and finds it in the history, in English too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.db import db
from cloud.ledger import service as ledger
from cloud.models import now_ms
from cloud.swap.models import SwapBooking
from tests.clients.support import Cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixture)
from tests.swap.support import FIXED, MIN, seed_swap

pytestmark = pytest.mark.browser
SID = "SW-H5-01"


def _phone(browser: Any, problems: list[str]) -> Any:  # noqa: F811
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(15_000)
    return page


def test_find_book_and_cancel_a_swap_slot_on_a_phone(
    cloud: Cloud,
    browser: Any,  # noqa: F811  (the fixture)
    tmp_path: Any,
) -> None:
    ready_at = now_ms() + 25 * MIN
    with cloud.app.app_context(), db.transaction() as s:
        seed_swap(
            s,
            SID,
            bays=2,
            packs={"NIO-75": [("ready", None), ("charging", ready_at)]},
            rule={**FIXED, "refund_on_cancel": True},
            lat=31.2050,
            lng=121.6010,
        )
    problems: list[str] = []
    page = _phone(browser, problems)
    log_in(page, cloud, "h5-swapper")
    driver = str(json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["id"])
    with cloud.app.app_context(), db.transaction() as s:
        ledger.top_up(s, driver, 5000, f"test:{driver}")

    # the charging-station finder: the swap station is marked, on the list and on the map
    page.goto(cloud.url + "/app/#/stations")
    card = page.locator(f"#page-stations .swap-station[data-sid='{SID}']")
    card.wait_for()
    assert card.locator(".badge.swap").inner_text() == "换电站"
    assert card.locator(".swap-line").inner_text() == "空闲工位 2/2 · 满电电池 1 块"
    assert card.locator(".free").count() == 0  # not shown as a charging station's guns
    page.click("#page-stations .chip >> text=地图")
    page.wait_for_selector("#station-map .jc-marker-swap")
    page.click("#page-stations .chip >> text=列表")
    card.click()
    page.wait_for_function(f"location.hash === '#/swapstation/{SID}'")

    # the swap station: bays, packs ready now and predicted, the slot and its fee, the balance
    page.wait_for_selector("#page-swap-station .pack-type[data-type='NIO-75']")
    assert page.inner_text("#swap-bays") == "空闲工位 2/2"
    pack = page.locator("#page-swap-station .pack-type[data-type='NIO-75']")
    assert pack.locator(".ready").inner_text() == "现有满电 1 块"
    assert pack.locator(".predicted").all_inner_texts()[0].endswith("前可用 2 块")
    assert page.inner_text("#swap-fee") == "¥3.00"
    assert page.inner_text("#swap-balance") == "¥50.00"
    assert page.locator("#swap-book-form .rule").all_inner_texts() == [
        "按时换电：预约费退还",
        "取消预约：预约费退还",
        "到期未使用：预约费不退",
    ]
    slots = page.locator("#swap-book-form .chip.slot:not([disabled])")
    assert slots.count() >= 2
    slots.nth(1).click()
    start = int(slots.nth(1).get_attribute("data-start"))
    page.wait_for_function(
        f"document.querySelector(\"#swap-book-form .chip.slot[data-start='{start}']\")"
        ".classList.contains('on')"
    )
    page.screenshot(path=str(tmp_path / "h5-swap-station-zh.png"), full_page=True)
    page.click("#swap-book")

    # my swap booking: booked, the fee held
    page.wait_for_selector("#my-swap[data-state='booked']")
    assert page.inner_text("#swap-state") == "已预约"
    assert page.inner_text("#swap-booking-fee") == "¥3.00 · 已冻结"
    page.screenshot(path=str(tmp_path / "h5-swap-zh.png"))
    with cloud.app.app_context():
        [row] = db.session.query(SwapBooking).filter_by(driver_id=driver).all()
        assert (row.slot_start, row.type_code, row.fee_fen) == (start, "NIO-75", 300)
        b = ledger.balances(db.session, driver)
        assert (b.cash, b.held) == (4700, 300)  # the fee held apart from the cash
    page.goto(cloud.url + f"/app/#/swapstation/{SID}")
    page.wait_for_function(
        "document.getElementById('swap-balance') && "
        "document.getElementById('swap-balance').textContent === '¥47.00'"
    )

    # in English, from Me: cancel, the fee back, the booking in the history
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-swap-link")
    page.wait_for_selector("#my-swap[data-state='booked']")
    assert page.inner_text("#page-swap-booking h1") == "My swap booking"
    assert page.inner_text("#swap-state") == "Booked"
    page.click("#cancel-swap")
    page.wait_for_selector("#my-swap[data-state='cancelled']")
    assert page.inner_text("#swap-booking-fee") == "¥3.00 · refunded"
    page.wait_for_selector("#swap-history .history-row[data-state='cancelled']")
    assert not page.locator("#cancel-swap").is_visible()
    page.screenshot(path=str(tmp_path / "h5-swap-en.png"))
    with cloud.app.app_context():
        b = ledger.balances(db.session, driver)
        assert (b.cash, b.held) == (5000, 0)
    assert not problems, problems
