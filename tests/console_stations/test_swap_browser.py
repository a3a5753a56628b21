"""The battery-swap console page in headless Chromium (Debian's, through Playwright) against the
seeded cloud served over HTTP: reached from the stations page, a pack added through its form
and shown, a booking's swap marked done (the fee kept by the rules), the page in English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cloud.db import db
from cloud.ledger import service as ledger
from cloud.swap.models import SwapBooking, SwapPack
from tests.console.test_console_browser import _log_in, _page, browser  # noqa: F401  (fixture)
from tests.console_stations.test_browser import served  # noqa: F401  (fixture)
from tests.console_stations.test_swap_pages import _swap_station

pytestmark = pytest.mark.browser


def test_swap_page_in_a_browser(served: tuple[Flask, str], browser: Any, tmp_path: Path) -> None:  # noqa: F811
    app, base = served
    bid = _swap_station(app)
    problems: list[str] = []
    page = _page(browser, problems)
    page.set_default_timeout(10_000)
    _log_in(page, base, "ops")
    page.goto(base + "/stations/")
    page.click("#swap-link")
    page.click("#swap-stations a:text('ST-A')")
    page.wait_for_selector("#pack-form")
    assert page.inner_text("#pack-types tr[data-type='NIO-75'] .t-ready") == "1"
    assert page.inner_text(f"#swap-bookings tr[data-booking='{bid}'] .booking-state") == "已预约"

    page.fill("#pack-id", "PK9")
    page.select_option("#pack-state", "charging")
    page.fill("#pack-soc", "35")
    page.fill("#pack-ready-in", "25")
    page.click("#pack-form button[type=submit]")
    page.wait_for_selector("#packs tr[data-pack='PK9']")
    assert page.inner_text("#packs tr[data-pack='PK9'] .pack-state") == "充电中"
    assert page.inner_text("#pack-types tr[data-type='NIO-75'] .t-charging") == "1"

    page.click(f"#swap-bookings tr[data-booking='{bid}'] button")
    page.wait_for_function(
        f"document.querySelector(\"#swap-bookings tr[data-booking='{bid}'] .booking-state\").innerText.includes('已换电')")
    page.screenshot(path=str(tmp_path / "swap-zh.png"), full_page=True)
    with app.app_context():
        assert db.session.get_one(SwapBooking, bid).fee_state == "kept"
        assert db.session.get_one(SwapPack, "PK9").soc_pct == 35
        assert ledger.balances(db.session, "d-swap").cash == 700

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#bays")
    assert page.inner_text(f"#swap-bookings tr[data-booking='{bid}'] .booking-state").startswith("swapped")
    assert "Packs by type" in page.content()
    assert problems == []


def test_swap_menu_entry_for_admin_and_operator(
    served: tuple[Flask, str],  # noqa: F811
    browser: Any,  # noqa: F811
) -> None:
    app, base = served
    _swap_station(app)
    problems: list[str] = []
    page = _page(browser, problems)
    page.set_default_timeout(10_000)
    entry = "#nav a[data-nav=swap]"
    for who, lang, label in (("root", "zh-CN", "换电站"), ("ops", "en", "Battery-swap stations")):
        _log_in(page, base, who)
        if page.evaluate("document.documentElement.lang") != lang:
            page.click("#lang-switch")
            page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        assert page.inner_text(entry) == label
        # its own entry, after the stations' (both of the stations area)
        names = page.locator("#nav a").evaluate_all("as => as.map((a) => a.dataset.nav)")
        assert names[1:3] == ["stations", "swap"]
        page.click(entry)
        page.wait_for_selector("#swap-stations tr[data-sid='ST-A']")
        assert page.inner_text("main h1") == label
        assert page.get_attribute(entry, "class") == "current"
        assert page.get_attribute("#nav a[data-nav=stations]", "class") is None
        page.click("#swap-stations a:text('ST-A')")
        page.wait_for_selector("#bays")
        assert page.get_attribute(entry, "class") == "current"
        page.click("#logout")
        page.wait_for_selector("#login-form")
    assert problems == []
