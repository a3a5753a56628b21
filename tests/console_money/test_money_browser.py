"""The tariffs, orders and money pages in headless Chromium (Playwright, Debian's chromium):
a tariff version made through the form, the abnormal queue, an abnormal order resolved by
forced settlement, revenue; screenshots of each page in Chinese and English into
test-artifacts/console/ (money-*.png)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cloud.db import db
from cloud.orders.models import Order
from cloud.tariffs import service as tariffs
from tests.console.test_console_browser import _log_in, _page, _shoot, _vendor_files, browser  # noqa: F401

pytestmark = pytest.mark.browser
PAGES = {"tariffs": "/tariffs/", "abnormal": "/orders/abnormal", "order": "/orders/ab-s2",
         "revenue": "/money/?from=2025-12-01&to=2025-12-31&by=station", "refunds": "/money/refunds"}


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    _vendor_files()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_money_pages_in_a_browser(app: Flask, served: str, browser: Any) -> None:  # noqa: F811
    base = served
    problems: list[str] = []
    page = _page(browser, problems)
    _log_in(page, base, "root")
    assert page.inner_text("#nav a[data-area=tariffs]") == "电价"
    # a tariff version through the form: 尖峰平谷 periods, prices to 0.0001 CNY
    page.goto(base + "/tariffs/new")
    page.fill("input[name=code]", "std")
    for i, (start, end, name, e, sv) in enumerate([("00:00", "08:00", "valley", "0.3125", "0.4000"),
                                                   ("08:00", "10:00", "sharp", "1.2345", "0.8000"),
                                                   ("10:00", "18:00", "peak", "1.0234", "0.8000"),
                                                   ("18:00", "00:00", "flat", "0.6855", "0.6000")]):
        page.fill(f"input[name=start{i}]", start)
        page.fill(f"input[name=end{i}]", end)
        page.select_option(f"select[name=name{i}]", name)
        page.fill(f"input[name=energy{i}]", e)
        page.fill(f"input[name=service{i}]", sv)
    assert page.inner_text("#reservation-fee legend") == "预约费"  # the tariff's own reservation fee
    page.fill("input[name=reservation_fee]", "1.5")
    page.fill("input[name=reservation_per_minute]", "0.0125")
    page.click("#tariff-form button[type=submit]")
    page.wait_for_selector("#versions")
    assert "std-v1" in page.inner_text("#versions") and "1.2345" in page.inner_text("#versions")
    assert "尖" in page.inner_text("#versions")
    assert page.inner_text("#versions td.reservation-fee") == "每次 1.5000 元 + 每分钟 0.0125 元"
    with app.app_context():
        v1 = tariffs.get(db.session, "std-v1")
        assert v1 is not None and tariffs.reservation_of(v1) == {"fee_e4": 15_000, "per_minute_e4": 125}
    # the abnormal queue, the evidence, a forced settlement
    page.goto(base + "/orders/abnormal")
    assert "ab-s1" in page.inner_text("#orders")
    page.click("text=ab-s1")
    page.wait_for_selector("#resolve-form")
    page.fill("input[name=electricity]", "3.21")
    page.fill("input[name=service]", "1.00")
    page.fill("textarea[name=note]", "按电表读数结算")
    page.click("#resolve-form button[type=submit]")
    page.wait_for_function("document.querySelector('#order-state').innerText === 'settled'")
    with app.app_context():
        assert db.session.get(Order, "ab-s1").total_fen == 421
    for name, path in PAGES.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        _shoot(page, f"money-{name}-zh")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    for name, path in PAGES.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        _shoot(page, f"money-{name}-en")
    assert page.inner_text("main h1") == "Refunds"
    assert problems == []
