"""The H5 app's "recommended" list on the station finder in headless Chromium at a phone's
viewport, against a running cloud: the browser's location (WGS-84, converted to GCJ-02 by the
app), stations seeded with a capped, a blocked and a normal load level, the list in the
order the API gave with each result's reasons, in Chinese and then English."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.db import db
from cloud.geo import wgs84_to_gcj02
from tests.charging.support import seed_station
from tests.clients.support import Cloud, running_cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/jc-recommend-shots")
HERE_WGS84 = (31.2290, 121.4690)  # near People's Square, Shanghai


@pytest.fixture(scope="module")
def rec_cloud(tmp_path_factory: pytest.TempPathFactory, built: None) -> Iterator[Cloud]:
    tmp = tmp_path_factory.mktemp("recommend-cloud")
    lat, lng = wgs84_to_gcj02(*HERE_WGS84)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        with running_cloud(tmp) as c:
            with c.app.app_context(), db.transaction() as s:
                seed_station(s, "R-BLOCKED", lat, lng + 0.004, name="满载站", level="blocked")
                seed_station(s, "R-CAPPED", lat, lng + 0.010, name="限功率站", level="capped")
                seed_station(s, "R-OK", lat, lng + 0.012, name="畅充站")
            yield c


@pytest.fixture
def located_phone(browser: Any) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    context = browser.new_context(locale="zh-CN", geolocation={"latitude": HERE_WGS84[0], "longitude": HERE_WGS84[1]},
                                  permissions=["geolocation"], **PHONE)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page, problems
    context.close()


def cards(page: Any) -> list[str]:
    return [x.inner_text() for x in page.locator(".recommendation").all()]


def test_recommended_list_with_reasons(rec_cloud: Cloud, located_phone: tuple[Any, list[str]]) -> None:
    page, problems = located_phone
    log_in(page, rec_cloud, "h5-recommend-1")
    page.wait_for_selector(".station")  # the list near the located driver
    page.click("#view-recommended")
    page.wait_for_selector(".recommendation")
    names = page.locator(".recommendation .name").all_inner_texts()
    assert names == ["1. 畅充站", "2. 限功率站", "3. 满载站"]
    texts = cards(page)
    assert "变压器繁忙：新启动的充电限功率 50%" in texts[1]
    assert "变压器负荷已满：暂不接受新的充电" in texts[2] and "暂不可充" in texts[2]
    assert page.locator(".recommendation").nth(2).get_attribute("class").endswith("unavailable")
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "recommended-zh.png"), full_page=True)
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.goto(rec_cloud.url + "/app/#/stations")
    page.wait_for_selector(".station")
    page.click("#view-recommended")
    page.wait_for_function("document.querySelectorAll('.recommendation .reason').length > 0 && "
                           "document.querySelector('#recommended').innerText.includes('transformer')")
    texts = cards(page)
    assert "transformer busy: new sessions capped at 50 %" in texts[1]
    assert "transformer at its limit: no new sessions" in texts[2]
    page.screenshot(path=str(SHOTS / "recommended-en.png"), full_page=True)
    # a tap opens the station
    page.locator(".recommendation").first.click()
    page.wait_for_selector("#page-station")
    assert problems == []
