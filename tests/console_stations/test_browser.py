"""The station and gun pages in headless Chromium (Debian's, through Playwright) against the
seeded cloud served over HTTP: the load curve drawn with its lines, the load policy sent and
the gateway's reply shown, the station's live parts following what ingest stores with no
reload (and not polled while the tab is hidden), the gun's live chart updating by itself as the readings change,
remote stop; screenshots in Chinese and English into test-artifacts/console/ (docs/console.md)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from werkzeug.serving import make_server

from cloud.db import db, make_engine
from cloud.ingest.decode import Batch, add_message
from cloud.ingest.store import Store
from cloud.models import ChargingSession, now_ms
from cloud.web.pages import stations
from jcproto import topic
from tests.console.test_console_browser import _log_in, _page, _shoot, _vendor_files, browser  # noqa: F401
from tests.console_stations.support import SESS_A1, gateway

pytestmark = pytest.mark.browser
# The live chart's 5 s polling every 200 ms, to be seen in a short test (other timers unchanged).
FAST_TIMERS = "(() => { const si = window.setInterval; window.setInterval = (f, ms) => si(f, ms === 5000 ? 200 : ms); })();"


SESS_NEW = "5e55a003-0000-4000-8000-000000000003"


def _ingest(app: Flask, records: list[dict[str, Any]], telemetry: dict[str, Any]) -> None:
    """Records and a telemetry of ST-A through ingest's decoding and store, as one batch (what
    `jc-cloud ingest` does with the station's messages)."""
    batch = Batch(received_at=now_ms())
    add_message(batch, topic("ST-A", "up"), json.dumps({"v": 1, "records": records}).encode())
    add_message(batch, topic("ST-A", "telemetry"), json.dumps({"v": 1, "ts": now_ms(), **telemetry}).encode())
    assert len(batch.records) == len(records) and batch.telemetry, batch.dropped
    engine = make_engine(app.config["DATABASE_URL"], purpose="writer")
    try:
        Store(engine).write(batch)
    finally:
        engine.dispose()


@pytest.fixture
def served(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, str]]:
    monkeypatch.setattr(stations, "LIVE_EVERY_S", 1)  # the station page's poll, every second here
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

    # the live parts follow what ingest stores while the page is open, with no reload: the
    # running session's latest record, a new session, the telemetry's guns and load level
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if r.url.endswith("/stations/ST-A/live") else None)
    page.evaluate("window.jcNoReload = true")  # a reload would lose it
    _ingest(app, [
        {"seq": 1001, "type": "session_progress", "ts": now_ms(), "session_id": SESS_A1, "energy_wh": 15_000,
         "power_w": 7200, "voltage_v": 229.5, "current_a": 31.3, "soc": 70, "cost_fen": 456},
        {"seq": 1002, "type": "session_started", "ts": now_ms() - 90_000, "session_id": SESS_NEW, "gun": "P1-2",
         "order_id": None, "auth": "card:C1", "energy_start_wh": 500, "limit": {"mode": "full", "value": 0},
         "power_cap_w": None},
    ], {"transformer": {"level": "capped", "load_pct": 63.0, "s_total_va": 397_000, "p_total_w": 390_000},
        "guns": [{"id": g, "state": st, "power_w": w, "limit_w": None, "energy_wh": 1, "session_id": sess, "soc": None}
                 for g, st, w, sess in (("P1-1", "charging", 7200, SESS_A1), ("P1-2", "charging", 3300, SESS_NEW),
                                        ("P2-1", "available", 0, None))]})
    page.wait_for_function(f"document.querySelector('#running tr[data-session=\"{SESS_A1}\"] .delivered')"
                           ".textContent === '5'")
    page.wait_for_selector(f"#running tr[data-session='{SESS_NEW}']")
    assert page.evaluate("window.jcNoReload") is True
    a1 = f"#running tr[data-session='{SESS_A1}']"
    assert page.inner_text(f"{a1} .cost") == "¥4.56" and page.inner_text(f"{a1} .power") == "7,200"
    assert page.inner_text(f"{a1} .elapsed").startswith("0:3")  # started 30 minutes before the seed
    assert page.inner_text("#load-level") == "限功率" and page.inner_text("#load-pct") == "63"
    counts = page.inner_text("#gun-counts")
    assert "充电中 2" in counts and "空闲 1" in counts and "故障 0" in counts
    assert page.inner_text("#guns tr[data-gun='P2-1'] td:nth-child(2)") == "空闲"
    # a hidden tab polls nothing; shown again, it polls at once
    page.evaluate("Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'})")
    # (Playwright's sync API hands its events, `polls` among them, to Python only inside its
    # own calls: wait with page.wait_for_timeout, not time.sleep, or no poll is ever counted)
    page.wait_for_timeout(1_000)  # a poll already under way when the tab was hidden
    hidden_from = len(polls)
    page.wait_for_timeout(3_000 * stations.LIVE_EVERY_S)
    assert len(polls) == hidden_from
    page.evaluate("Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'visible'});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_function(f"document.getElementById('live-stamp').dataset.ts !== '{page.get_attribute('#live-stamp', 'data-ts')}'")
    assert len(polls) > hidden_from
    _shoot(page, "station-live-zh")

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
