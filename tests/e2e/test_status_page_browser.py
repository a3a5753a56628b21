"""The gateway's status page in real headless Chromium (Debian's, driven by Playwright):
it renders the live station, in Chinese first and in English at a click."""

from __future__ import annotations

import pytest

from tests.support.browser import chromium
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


@pytest.mark.browser
def test_status_page_shows_the_station_in_chinese_and_english(browser, tmp_path):
    with SimProcess("test") as sim, GatewayProcess(sim, tmp_path, free_vend={"P3": [1]}) as gw:
        sim.control("POST", "/piles/3/guns/1/plug")
        gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "charging", what="charging")
        page = browser.new_page(locale="zh-CN")
        page.goto(gw.url + "/")
        page.wait_for_selector("#guns td")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("h1").inner_text() == "聚充站点网关"
        rows = page.locator("#guns tr")
        assert rows.count() == 5  # header + 4 guns
        assert "充电中" in page.locator("#guns").inner_text()
        zh_levels = {"normal": "正常", "capped": "限功率", "blocked": "禁止新启动", "failsafe": "失效保护"}
        page.wait_for_function("document.querySelector('#level').textContent.length > 0")
        assert page.locator("#level").inner_text() in zh_levels.values()
        assert "ST-TEST-01" in page.locator("#station").inner_text()
        page.screenshot(path=str(tmp_path / "status-zh.png"), full_page=True)
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.locator("h1").inner_text() == "Juchong station gateway"
        assert "charging" in page.locator("#guns").inner_text()
        page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
        # the gateway stops: the page says so instead of showing stale numbers
        gw.stop()
        page.wait_for_selector("#err", state="visible", timeout=10_000)
        assert "unavailable" in page.locator("#err").inner_text()


@pytest.mark.browser
def test_status_page_names_a_port_that_cannot_be_opened(browser, tmp_path):
    missing = tmp_path / "ttyUSB9"
    extra = (f'[[bus]]\nname = "rs485-9"\nport = "{missing}"\n\n'
             '[[pile]]\nid = "P9"\nbus = "rs485-9"\nunit = 1\n')
    with SimProcess("test") as sim, GatewayProcess(sim, tmp_path / "gw", extra_toml=extra) as gw:
        gw.wait(lambda s: any(b["open_error"] for b in s["buses"]), what="the bus' open error")
        page = browser.new_page(locale="en-US")
        page.goto(gw.url + "/")
        page.wait_for_selector("#buses .bus-error")
        if page.locator("html").get_attribute("lang") != "en":
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
        text = page.locator("#buses .bus-error").inner_text()
        assert f"cannot open: [Errno 2] No such file or directory: '{missing}'" in text
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'zh-CN'")
        assert "无法打开" in page.locator("#buses .bus-error").inner_text()
        assert page.locator("#buses .bus-error").count() == 1  # the simulator's line opens fine
        page.screenshot(path=str(tmp_path / "status-bus-error.png"), full_page=True)


@pytest.mark.browser
def test_the_owner_makes_a_pairing_code_on_the_status_page(browser, tmp_path):
    import hashlib

    from jcproto.pairing import ALPHABET, LENGTH

    with SimProcess("test") as sim, GatewayProcess(sim, tmp_path) as gw:
        gw.wait(lambda s: len(s["guns"]) == 4, what="guns identified")
        page = browser.new_page(locale="zh-CN")
        page.goto(gw.url + "/")
        page.wait_for_selector("#pform:not([hidden])")
        assert page.locator("#pairing h2").inner_text() == "私桩配对码"
        assert page.locator("#pgun option").all_inner_texts() == ["P1-1", "P2-1", "P3-1", "P3-2"]
        page.select_option("#pgun", "P3-2")
        page.fill("#phours", "6")
        page.click("#pmake")
        page.wait_for_selector("#pout:not([hidden])")
        code = page.locator("#pcode").inner_text()
        assert len(code) == LENGTH and set(code) <= set(ALPHABET)
        assert "P3-2" in page.locator("#pfor").inner_text()
        # not provisioned: the record waits in the outbox, and the page says the code works once the cloud has it
        assert page.locator("#pstate").inner_text().startswith("待云端收到")
        [rec] = gw.events("pairing_code")
        assert rec["gun"] == "P3-2" and rec["detail"]["code_sha256"] == hashlib.sha256(code.encode()).hexdigest()
        assert rec["detail"]["expires_at"] - rec["ts"] == 6 * 3_600_000
        files = [gw.store_path, gw.store_path.with_name(gw.store_path.name + "-wal")]
        assert all(code.encode() not in f.read_bytes() for f in files if f.exists())  # never written down here
        page.click("#lang")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.locator("#pairing h2").inner_text() == "Pairing code for a private pile"
        assert page.locator("#pstate").inner_text().startswith("Waiting for the cloud")
        # a bad number of hours is refused in the page's language, and nothing is made
        page.fill("#phours", "500")
        page.click("#pmake")
        page.wait_for_function("document.querySelector('#perr').textContent.length > 0")
        assert page.locator("#perr").inner_text() == "Hours must be a whole number from 1 to 168."
        assert len(gw.events("pairing_code")) == 1
        page.screenshot(path=str(tmp_path / "status-pairing.png"), full_page=True)
        # the gateway restarts (a new token) while the page stays open: the next code is made all the same
        gw.stop()
        gw.start()
        gw.wait(lambda s: len(s["guns"]) == 4, what="guns identified again")
        page.fill("#phours", "3")
        page.click("#pmake")
        page.wait_for_function(f"document.querySelector('#pcode').textContent !== '{code}'")
        assert page.locator("#perr").inner_text() == ""
        second = gw.events("pairing_code")[-1]
        assert second["gun"] == "P3-2" and second["detail"]["expires_at"] - second["ts"] == 3 * 3_600_000
        assert second["detail"]["code_sha256"] == hashlib.sha256(
            page.locator("#pcode").inner_text().encode()).hexdigest()


@pytest.mark.browser
def test_a_gateway_with_pairing_codes_off_says_so(browser, tmp_path):
    with SimProcess("test") as sim:
        gw = GatewayProcess(sim, tmp_path)
        gw.config_path.write_text(gw.config_path.read_text().replace("[status]\n", "[status]\npairing_from = []\n"))
        with gw:
            page = browser.new_page(locale="zh-CN")
            page.goto(gw.url + "/")
            page.wait_for_selector("#poff:not([hidden])")
            assert "未开启" in page.locator("#poff").inner_text()
            assert page.locator("#pform").is_hidden()
            page.click("#lang")
            page.wait_for_function("document.documentElement.lang === 'en'")
            page.wait_for_function("document.querySelector('#poff').textContent.startsWith('Pairing codes are off')")
