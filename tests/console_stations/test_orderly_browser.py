# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)
"""Orderly charging (有序充电) on the console, in headless Chromium: a gateway's records (a
fake station on the real broker, through the real ingest into the console's database) start
an orderly session and a plain one; the station page lists both running, the orderly one
with its departure, energy wanted and plan status; the gun page shows its plan and, as the
next records come in, the energy delivered so far, the plan's new status and what the car
takes (not known from records before that field) by itself.
Chinese and English; screenshots into test-artifacts/console/."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from cloud.db import make_engine
from cloud.models import ChargingSession
from tests.cloud.support import FakeStation, ThreadedIngest, wait_for
from tests.console.test_console_browser import _log_in, _page, _shoot, _vendor_files, browser  # noqa: F401
from tests.support.broker import Broker, broker  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
FAST_TIMERS = (
    "(() => { const si = window.setInterval;"
    " window.setInterval = (f, ms) => si(f, ms === 5000 ? 200 : ms); })();"
)
SID = "ST-ORD"


@pytest.fixture
def served(app: Flask, broker: Broker) -> Iterator[tuple[Flask, str, Any]]:
    _vendor_files()
    engine = make_engine(app.config["DATABASE_URL"])
    ingest = ThreadedIngest(broker, engine).start()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}", engine
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        ingest.stop()
        engine.dispose()


def minute(ms: int, zone: str) -> str:
    """The console's localtime for `ms` (in its CONSOLE_TIMEZONE) is Babel's medium format;
    its hour and minute are enough to recognise it."""
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(zone)).strftime("%H:%M")


def test_orderly_sessions_on_the_station_and_gun_pages(
    served: tuple[Flask, str, Any], broker: Broker, browser: Any
) -> None:
    app, base, engine = served
    zone = app.config["CONSOLE_TIMEZONE"]
    st = FakeStation(broker, SID).connect()
    now = int(time.time() * 1000)
    departure, finish = now + 6 * 3_600_000, now + 4 * 3_600_000
    ordered, plain = str(uuid.uuid4()), str(uuid.uuid4())
    plan = {
        "departure_at": departure,
        "energy_wh": 30_000,
        "status": "on_track",
        "expected_wh": 30_000,
        "finish_at": finish,
    }
    st.send([
        {"seq": 1, "type": "session_started", "ts": now, "session_id": ordered, "gun": "P1-1", "order_id": None,
         "auth": "card:0A1B2C3D",
         "energy_start_wh": 100_000, "limit": {"mode": "energy", "value": 30_000}, "power_cap_w": 7000,
         "orderly": plan},
        {"seq": 2, "type": "session_progress", "ts": now + 1000, "session_id": ordered, "energy_wh": 104_250,
         "power_w": 7000, "voltage_v": 230.0, "current_a": 30.4, "soc": 40, "cost_fen": 400, "orderly": plan},
        {"seq": 3, "type": "session_started", "ts": now, "session_id": plain, "gun": "P2-1", "order_id": None, "auth": "remote",
         "energy_start_wh": 5_000, "limit": {"mode": "full", "value": 0}, "power_cap_w": 7000},
        {"seq": 4, "type": "session_progress", "ts": now + 1000, "session_id": plain, "energy_wh": 6_500,
         "power_w": 6500, "voltage_v": 230.0, "current_a": 28.0, "soc": None, "cost_fen": 150},
    ])  # fmt: skip
    assert st.wait_acked(4, 20) == 4

    def stored() -> dict[str, Any]:
        with Session(engine) as s:
            return {
                r.session_id: r for r in s.query(ChargingSession).filter(ChargingSession.sid == SID)
            }

    assert stored()[ordered].orderly["status"] == "on_track" and stored()[plain].orderly is None

    problems: list[str] = []
    page = _page(browser, problems)
    page.context.add_init_script(FAST_TIMERS)
    page.set_default_timeout(15_000)
    _log_in(page, base, "root")

    # the station: both sessions running, the orderly one with its plan
    page.goto(base + f"/stations/{SID}")
    page.wait_for_selector("#running")
    row = page.locator(f"#running tr[data-session='{ordered}']")
    assert row.get_attribute("class") == "orderly"
    assert row.locator(".delivered").inner_text() == "4.25"
    assert row.locator(".wanted").inner_text() == "30"
    assert minute(departure, zone) in row.locator(".departure").inner_text()
    assert row.locator(".plan").inner_text() == "按计划"
    other = page.locator(f"#running tr[data-session='{plain}']")
    assert "非有序充电" in other.inner_text() and other.locator(".delivered").inner_text() == "1.5"
    assert "进行中的充电" in page.inner_text("main")
    _shoot(page, "station-orderly-zh")

    # the gun: the plan, then the next records change it while the page is open
    page.goto(base + f"/guns/{SID}/P1-1")
    page.wait_for_selector("#orderly")
    assert page.inner_text("#orderly-status") == "按计划"
    assert (
        page.inner_text("#orderly-wanted") == "30"
        and page.inner_text("#orderly-delivered") == "4.25"
    )
    assert minute(departure, zone) in page.inner_text("#orderly-departure")
    assert minute(finish, zone) in page.inner_text("#orderly-finish")
    # records from before the car's figure (no acceptance_w): not known yet
    assert page.inner_text("#orderly-acceptance") == "尚未获知"
    assert "有序充电" in page.inner_text("main")
    _shoot(page, "gun-orderly-zh")
    late = {
        **plan,
        "status": "cannot_meet",
        "expected_wh": 21_500,
        "finish_at": None,
        "acceptance_w": 3_500,
    }
    st.send([{"seq": 5, "type": "session_progress", "ts": now + 60_000, "session_id": ordered, "energy_wh": 109_000,
              "power_w": 3500, "voltage_v": 229.0, "current_a": 15.2, "soc": 55, "cost_fen": 900,
              "orderly": late}])  # fmt: skip
    assert st.wait_acked(5, 20) == 5
    page.wait_for_function(
        "document.getElementById('orderly-status').textContent === '离开前充不满'"
    )
    assert (
        page.inner_text("#orderly-delivered") == "9"
        and page.inner_text("#orderly-expected") == "21.5"
        and page.inner_text("#orderly-acceptance") == "3.5"
    )
    wait_for(lambda: stored()[ordered].orderly["status"] == "cannot_meet", 5, "the plan stored")

    # English
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#orderly")
    assert page.inner_text("#orderly-status") == "cannot meet the departure"
    assert "Orderly charging" in page.inner_text(
        "main"
    ) and "Energy wanted (kWh)" in page.inner_text("#orderly")
    assert "The car takes (kW)" in page.inner_text("#orderly")
    assert page.inner_text("#orderly-acceptance") == "3.5"
    _shoot(page, "gun-orderly-en")
    page.goto(base + f"/stations/{SID}")
    row = page.locator(f"#running tr[data-session='{ordered}']")
    assert row.locator(".plan").inner_text() == "cannot meet the departure"
    assert row.locator(".delivered").inner_text() == "9"
    assert "not orderly" in page.locator(f"#running tr[data-session='{plain}']").inner_text()
    assert "Running sessions" in page.inner_text("main")
    _shoot(page, "station-orderly-en")
    st.close()
    assert problems == []
