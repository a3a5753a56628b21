"""The gateway's status page shows the tariff in force and every scheduled one still to come
(store schema v4, `set_tariff` with `effective_from`), each with when it takes effect in the
station's local time, in Chinese and in English: a real `jc-gateway run` on the simulator,
its real store, in headless Chromium (Debian's, driven by Playwright); screenshots into
test-artifacts/gateway/. A change scheduled a
few seconds ahead moves from pending to in force on the page when its time comes."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.cache import Store
from tests.support.browser import chromium
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("JC_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "gateway"
SH = ZoneInfo("Asia/Shanghai")  # the station's time zone: the config's default


def tariff(tid: str, peak_e4: int) -> dict:
    return {
        "id": tid,
        "currency": "CNY",
        "periods": [
            {
                "start": "00:00",
                "end": "08:00",
                "name": "谷",
                "energy_price_e4": 3000,
                "service_price_e4": 4000,
            },
            {
                "start": "08:00",
                "end": "24:00",
                "name": "峰",
                "energy_price_e4": peak_e4,
                "service_price_e4": 4000,
            },
        ],
    }


def local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, SH).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


@pytest.mark.browser
def test_status_page_shows_the_tariff_in_force_and_the_pending_ones(browser, tmp_path):
    with SimProcess("test") as sim:
        gw = GatewayProcess(sim, tmp_path, tariff=tariff("T-NOW", 9000))
        now = int(time.time() * 1000)
        speed = gw.test_clock[2] if gw.test_clock else 1.0
        # 16:30 UTC is 00:30 the next day in Shanghai: the page must say the local day
        day = (now // 86_400_000 + 2) * 86_400_000
        ahead = [day + 16 * 3_600_000 + 30 * 60_000, day + 5 * 86_400_000]
        soon = now + int(25_000 * speed)  # in force while the page is open
        with Store.open(gw.store_path) as store:
            store.settings.set_tariff(tariff("T-SOON", 10000), effective_from=soon)
            store.settings.set_tariff(tariff("T-NEXT", 12000), effective_from=ahead[0])
            store.settings.set_tariff(tariff("T-LAST", 15000), effective_from=ahead[1])
        with gw:
            st = gw.status()["tariffs"]
            assert st["timezone"] == "Asia/Shanghai"
            assert (st["in_force"]["tariff_id"], st["in_force"]["effective_from"]) == ("T-NOW", 0)
            # what the page shows is what the store holds
            held = [
                (r["effective_from"], r["tariff_id"])
                for r in gw._query(  # noqa: SLF001
                    "SELECT effective_from, tariff_id FROM tariffs ORDER BY effective_from"
                )
            ]
            assert [(p["effective_from"], p["tariff_id"]) for p in st["pending"]] == held[1:]
            assert [p["effective_local"] for p in st["pending"]] == [
                local(soon),
                *map(local, ahead),
            ]
            assert local(ahead[0]).endswith(" 00:30")
            assert st["pending"][1]["periods"][1] == {
                "name": "峰",
                "start": "08:00",
                "end": "24:00",
                "energy_price_e4": 12000,
                "service_price_e4": 4000,
            }

            page = browser.new_page(locale="zh-CN")
            page.goto(gw.url + "/")
            page.wait_for_selector("#tariffs .tariff-pending")
            if page.locator("html").get_attribute("lang") != "zh-CN":
                page.click("#lang")
                page.wait_for_function("document.documentElement.lang === 'zh-CN'")
            assert "电价" in page.locator("h2[data-t=tariffs]").inner_text()
            now_row = page.locator("#tariffs .tariff-inforce")
            assert (
                now_row.count() == 1
                and "现行" in now_row.inner_text()
                and "T-NOW" in now_row.inner_text()
            )
            rows = page.locator("#tariffs .tariff-pending")
            assert rows.count() == 3
            texts = [rows.nth(i).inner_text() for i in range(3)]
            for text, tid, at in zip(
                texts, ("T-SOON", "T-NEXT", "T-LAST"), (soon, *ahead), strict=True
            ):
                assert "待生效" in text and tid in text and f"{local(at)} (Asia/Shanghai)" in text
            assert "峰 08:00–24:00 1.2000 + 0.4000" in texts[1]
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "status-tariffs-zh.png"), full_page=True)

            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            assert page.locator("h2[data-t=tariffs]").inner_text() == "Tariffs"
            assert "in force" in page.locator("#tariffs .tariff-inforce").inner_text()
            assert all("pending" in rows.nth(i).inner_text() for i in range(3))
            assert "Takes effect" in page.locator("#tariffs").inner_text()

            # its time comes: the page shows it in force and no longer pending
            page.wait_for_function(
                "document.querySelector('#tariffs .tariff-inforce') &&"
                " document.querySelector('#tariffs .tariff-inforce').textContent.includes('T-SOON')",
                timeout=90_000,
            )
            assert page.locator("#tariffs .tariff-pending").count() == 2
            assert local(soon) in page.locator("#tariffs .tariff-inforce").inner_text()
            page.screenshot(path=str(ARTIFACTS / "status-tariffs-en.png"), full_page=True)
