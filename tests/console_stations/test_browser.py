"""The station and gun pages in headless Chromium (Debian's, through Playwright) against the
seeded cloud served over HTTP: the load curve drawn with its lines, the load policy sent and
the gateway's reply shown, the gun's live chart updating by itself as the readings change,
remote stop; screenshots in Chinese and English into test-artifacts/console/ (docs/console.md)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.serving import make_server

from cloud.db import db
from cloud.models import ChargingSession
from tests.console.test_console_browser import _log_in, _page, _shoot, _vendor_files, browser  # noqa: F401
from tests.console_stations.support import SESS_A1, gateway

pytestmark = pytest.mark.browser
# The live chart's 5 s polling every 200 ms, to be seen in a short test (other timers unchanged).
FAST_TIMERS = "(() => { const si = window.setInterval; window.setInterval = (f, ms) => si(f, ms === 5000 ? 200 : ms); })();"


@pytest.fixture
def served(app: Flask) -> Iterator[tuple[Flask, str]]:
    _vendor_files()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def _pages(page: Any, base: str, lang: str) -> None:
    for name, path in (("stations", "/stations/"), ("archive-station", "/archives/stations/ST-A"),
                       ("labels", "/archives/stations/ST-A/labels")):
        page.goto(base + path)
        page.wait_for_selector("main h1")
        _shoot(page, f"{name}-{lang}")


def test_station_and_gun_pages_in_a_browser(served: tuple[Flask, str], browser: Any, tmp_path: Path) -> None:  # noqa: F811
    app, base = served
    gw = gateway(app)
    problems: list[str] = []
    page = _page(browser, problems)
    page.context.add_init_script(FAST_TIMERS)
    page.on("dialog", lambda d: d.accept())
    page.set_default_timeout(10_000)
    _log_in(page, base, "root")

    # the station: guns by state, today's figures, the load curve with the 50 % and 80 % lines
    page.goto(base + "/stations/ST-A")
    page.wait_for_selector("#load-chart[data-points='10'] canvas")
    assert page.inner_text("#today-kwh") == "12.5" and "充电中 1" in page.inner_text("#gun-counts")
    assert page.evaluate("echarts.getInstanceByDom(document.getElementById('load-chart'))"
                         ".getOption().series[0].markLine.data.map(l => l.yAxis).join(',')") == "50,80"
    page.fill("#p-rated", "630")
    page.click("#p-send")
    page.wait_for_selector("#policy-reply")
    assert page.inner_text("#policy-reply") == "网关已接受。" and gw.seen[-1]["type"] == "set_load_policy"
    _shoot(page, "station-zh")

    # the gun: the live chart follows the readings by itself
    page.goto(base + "/guns/ST-A/P1-1")
    page.wait_for_function("Number(document.getElementById('live-chart').dataset.polls || 0) >= 2")
    assert page.inner_text("#live-voltage") == "229.5"
    with app.app_context(), db.transaction() as s:
        s.execute(update(ChargingSession).where(ChargingSession.session_id == SESS_A1)
                  .values(voltage_v=231.0, current_a=31.5, power_w=7270))
    page.wait_for_function("document.getElementById('live-voltage').textContent === '231'")
    assert page.inner_text("#live-power") == "7270"
    n = page.evaluate("echarts.getInstanceByDom(document.getElementById('live-chart')).getOption().series[0].data.length")
    assert n >= 3
    _shoot(page, "gun-zh")
    page.click("#stop")
    page.wait_for_selector("#stop-reply")
    assert page.inner_text("#stop-reply") == "网关已接受。" and gw.seen[-1]["type"] == "stop"
    _pages(page, base, "zh")

    # English
    page.goto(base + "/stations/ST-A")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#load-chart[data-points='10'] canvas")
    assert "Transformer load" in page.inner_text("main")
    _shoot(page, "station-en")
    page.goto(base + "/guns/ST-A/P1-1")
    page.wait_for_function("Number(document.getElementById('live-chart').dataset.polls || 0) >= 1")
    assert "Remote stop" in page.inner_text("main")
    _shoot(page, "gun-en")
    _pages(page, base, "en")
    assert problems == []
