"""Home, alarms and settlement pages in headless Chromium (Playwright, Debian's chromium)
against the seeded app served over HTTP: the home figures equal the database, the map draws
the stations with coordinates on a plain background, the chart draws this month's days, no
script error under the CSP. Screenshots in Chinese and English go to
test-artifacts/console_home/ (or $JC_TEST_ARTIFACTS/console_home/)."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.console.test_console_browser import _log_in, _page, _vendor_files, browser  # noqa: F401  (fixture)
from tests.console_home.test_home import expected
from tests.console_home.test_settlement_pages import busy_day
from tests.reports.factories import Seeded

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("JC_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "console_home"

pytestmark = pytest.mark.browser


@pytest.fixture
def served(seeded_app: tuple[Flask, Seeded]) -> Iterator[tuple[Flask, str]]:
    _vendor_files()
    app, _ = seeded_app
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAGES = {"home": "/", "alarms": "/alarms/?state=all", "settlement": "/settlement/",
         "statement": "/settlement/{day}", "shares": "/settlement/shares", "recipients": "/alarms/recipients?sid=ST000"}


def test_home_alarms_settlement_in_a_browser(served: tuple[Flask, str], seeded_app: tuple[Flask, Seeded],
                                            browser: Any) -> None:  # noqa: F811
    app, base = served
    day = busy_day(seeded_app[1])
    pages = {k: v.format(day=day) for k, v in PAGES.items()}
    problems: list[str] = []
    page = _page(browser, problems)
    _log_in(page, base, "root")
    page.wait_for_selector("#map[data-ready='2']")
    page.wait_for_selector("#by-day[data-ready='15']")
    with app.app_context():
        want = expected(None)
    for key, v in want.items():
        assert page.get_attribute(f"#fig-{key}", "data-value") == str(v), key
    assert page.locator("#map path.leaflet-interactive").count() == 2  # one circle per station with coordinates
    assert page.locator("#map img.leaflet-tile").count() == 0  # no tile source: a plain background
    assert page.locator("#by-day canvas").count() >= 1
    assert "累计" in page.inner_text("#figures")
    for name, path in pages.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        if name == "home":
            page.wait_for_selector("#by-day[data-ready]")
        _shoot(page, f"{name}-zh")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    for name, path in pages.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        if name == "home":
            page.wait_for_selector("#by-day[data-ready]")
            assert "Cumulative" in page.inner_text("#figures")
        _shoot(page, f"{name}-en")
    assert problems == []
