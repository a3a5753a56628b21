"""The H5 app (/app/) in headless Chromium at a phone's viewport (390×844) against a running
cloud: login through WeChat's web authorisation (played by the local fake), the station list
and map, the language switch."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.clients.support import GUNS, ORDERS, STATIONS, Cloud
from tests.support.browser import chromium
from tests.support.services import missing

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
STATION = {"sid": "ST-H5-01", "name": "金科路充电站", "lat": 31.2050, "lng": 121.6010, "gun_code": "JC-H5-0001"}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def phone(browser: Any) -> Iterator[tuple[Any, list[str]]]:
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    problems: list[str] = []
    # script errors and CSP refusals; a failed request shows as the page's own error message
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    yield page, problems
    context.close()


def log_in(page: Any, cloud: Cloud, user: str) -> None:
    page.goto(cloud.url + "/app/")
    page.wait_for_selector("#page-login")
    assert page.locator("#login-wechat").inner_text() == "微信一键登录"
    page.click("#login-wechat")
    page.wait_for_selector("#allow")  # the fake WeChat's authorisation page, on its own origin
    assert page.url.startswith(cloud.wechat.url + "/connect/oauth2/authorize?appid=")
    page.fill("#user", user)
    page.click("#allow")
    page.wait_for_selector("#page-stations")
    # the token came in the fragment and is gone from the address
    assert "jc_login" not in page.url and "code=" not in page.url and page.url.endswith("/app/#/stations")
    assert page.evaluate("localStorage.getItem('jc_token')").startswith('"jcd_')
    assert json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["nickname"] == user


def test_app_is_served_with_its_headers(cloud: Cloud) -> None:
    r = requests.get(cloud.url + "/app/", timeout=5)
    assert r.status_code == 200 and 'lang="zh-CN"' in r.text and "dist/app.js" in r.text
    assert "frame-ancestors 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    assert requests.get(cloud.url + "/app/static/dist/app.js", timeout=5).status_code == 200
    # the login link goes to WeChat's authorisation with a state; its browser cookie is HttpOnly
    go = requests.get(cloud.url + "/app/login/wechat", params={"next": "https://evil.example/"},
                      allow_redirects=False, timeout=5)
    assert go.status_code == 302 and go.headers["Location"].endswith("&scope=snsapi_userinfo&state="
                                                                     + parse_qs(urlsplit(go.headers["Location"]).query)["state"][0]
                                                                     + "#wechat_redirect")
    assert "HttpOnly" in go.headers["Set-Cookie"]
    # the map's tiles (AMap by default) are the only other origin images may come from
    assert "img-src 'self' data: https://webrd01.is.autonavi.com" in r.headers["Content-Security-Policy"]


def test_login_through_fake_wechat_then_english_at_a_click(cloud: Cloud, phone: tuple[Any, list[str]]) -> None:
    page, problems = phone
    log_in(page, cloud, "h5-driver-1")
    assert page.locator("nav.tabs a").first.inner_text() == "找电站"
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#page-stations")
    assert page.locator("nav.tabs a").first.inner_text() == "Stations"
    assert page.locator("#lang-switch").inner_text() == "中文"
    # the choice persists across visits
    page.goto(cloud.url + "/app/#/settings")
    page.wait_for_selector("#page-settings")
    assert page.locator("#logout").inner_text() == "Log out"
    # the API's messages follow the language too
    page.fill("#phone", "123")
    page.click("#save")
    page.wait_for_selector("#page-settings p.error:not([style*='none'])")
    assert "mainland" in page.locator("#page-settings p.error").inner_text().lower() or \
        "phone" in page.locator("#page-settings p.error").inner_text().lower()
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.locator("#logout").inner_text() == "退出登录"
    assert not problems, problems


def test_station_list_on_a_phone(cloud: Cloud, phone: tuple[Any, list[str]], tmp_path: Any) -> None:
    if not cloud.has(STATIONS):
        missing(f"this build has no {STATIONS} (the charging part of issue 9, docs/api/cloud.openapi.yaml): merge it first")
    cloud.seed_station(STATION["sid"], STATION["name"], lat=STATION["lat"], lng=STATION["lng"],
                       gun_code=STATION["gun_code"], online=True)
    page, problems = phone
    log_in(page, cloud, "h5-driver-2")
    page.wait_for_selector("#page-stations .station .name")
    names = page.locator("#page-stations .station .name").all_inner_texts()
    assert STATION["name"] in names
    page.screenshot(path=str(tmp_path / "h5-stations.png"))
    page.locator("#page-stations .station").first.click()
    page.wait_for_selector("#page-station h1")
    assert page.locator("#page-station h1").inner_text() in names
    assert not problems, problems


def test_gun_qr_link_logs_in_then_start_refused_on_a_phone(cloud: Cloud, phone: tuple[Any, list[str]]) -> None:
    absent = [r for r in (GUNS, ORDERS) if not cloud.has(r)]
    if absent:
        missing(f"this build has no {', '.join(absent)} (the charging part of issue 9, docs/api/cloud.openapi.yaml): "
                "merge it first")
    code = "JC-H5-0002"
    cloud.seed_station("ST-H5-02", "祖冲之路站", lat=31.2070, lng=121.6030, gun_code=code, online=False)
    page, problems = phone
    # a gun's QR code opened by a driver who is not logged in: log in, then back to that gun
    page.goto(f"{cloud.url}/app/scan?g={code}")
    page.wait_for_selector("#page-login")
    page.click("#login-wechat")
    page.wait_for_selector("#allow")
    page.fill("#user", "h5-driver-3")
    page.click("#allow")
    page.wait_for_selector("#page-scan .station-name")
    assert page.locator("#page-scan .station-name").inner_text() == "祖冲之路站"
    assert page.locator("#page-scan .preset").all_inner_texts() == ["¥30", "¥50", "¥100"]
    page.locator("#page-scan .preset").nth(2).click()
    page.click("#start")
    page.wait_for_selector("#scan-error:not([style*='none'])")
    shown = page.locator("#scan-error").inner_text()
    got = page.locator("#scan-error").get_attribute("data-code")
    # the API's own words for its refusal, in Chinese
    token = json.loads(page.evaluate("localStorage.getItem('jc_token')"))
    again = requests.post(cloud.url + "/api/v1/driver/orders", timeout=5,
                          headers={"Authorization": f"Bearer {token}"},
                          json={"gun_code": code, "limit": {"mode": "amount", "value": 10000}})
    assert again.status_code >= 400 and again.json()["error"]["code"] == got
    assert again.json()["error"]["message"] == shown
    assert not problems, problems


def test_refused_and_replayed_logins_say_why(cloud: Cloud, phone: tuple[Any, list[str]]) -> None:
    page, problems = phone
    page.goto(cloud.url + "/app/")
    page.click("#login-wechat")
    page.wait_for_selector("#deny")
    page.click("#deny")
    page.wait_for_selector("#login-error:not([style*='none'])")
    assert page.locator("#login-error").get_attribute("data-code") == "wechat_login_refused"
    assert page.locator("#login-error").inner_text() == "你拒绝了微信授权，未登录。"
    # a login that worked, then its callback link opened again (a replay): refused, in English
    page.evaluate("localStorage.setItem('jc_lang', JSON.stringify('en'))")
    back: list[str] = []
    page.on("request", lambda r: back.append(r.url) if "/app/login/wechat/callback" in r.url else None)
    page.click("#login-wechat")
    page.wait_for_selector("#allow")
    page.fill("#user", "h5-driver-4")
    page.click("#allow")
    page.wait_for_selector("#page-stations")
    page.evaluate("localStorage.clear(); localStorage.setItem('jc_lang', JSON.stringify('en'))")
    page.goto(back[0])
    page.wait_for_selector("#login-error:not([style*='none'])")
    assert page.locator("#login-error").get_attribute("data-code") == "login_state_invalid"
    assert "expired" in page.locator("#login-error").inner_text()
    assert page.evaluate("localStorage.getItem('jc_token')") is None
    assert not problems, problems


# a 1×1 PNG the test serves in place of AMap's tiles: no request leaves this machine
TILE = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                     "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a2d8b6c50000000049454e44ae426082")


def test_station_map_markers_by_free_guns_and_click_to_details(cloud: Cloud, phone: tuple[Any, list[str]],
                                                                tmp_path: Any) -> None:
    if not cloud.has(STATIONS):
        missing(f"this build has no {STATIONS}: merge it first")
    cloud.seed_station("ST-MAP-01", "张江地图站", lat=31.2101, lng=121.5901, gun_code="JC-MAP-0001", online=True,
                       free=True)
    cloud.seed_station("ST-MAP-02", "川沙离线站", lat=31.1902, lng=121.7003, gun_code="JC-MAP-0002", online=False)
    page, problems = phone
    tiles: list[str] = []

    def tile(route: Any) -> None:
        tiles.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=TILE)

    page.route("https://webrd0*.is.autonavi.com/**", tile)
    log_in(page, cloud, "h5-driver-map")
    page.locator("#page-stations .chip").nth(1).click()  # 地图
    page.wait_for_selector("#station-map path.jc-marker-offline")
    kinds = {c.split("jc-marker-")[1].split()[0]: page.locator(f"#station-map path.jc-marker-{c.split('jc-marker-')[1].split()[0]}").first.get_attribute("fill")
             for c in page.locator("#station-map path.jc-marker").evaluate_all("els => els.map(e => e.getAttribute('class'))")}
    assert kinds.get("free") == "#0b7a4b" and kinds.get("offline") == "#8a8f8c", kinds
    # AMap's GCJ-02 tiles, asked for by subdomain 1-4 and x/y/z, drawn under the markers
    page.wait_for_function("document.querySelectorAll('#station-map img.leaflet-tile-loaded').length > 0")
    assert tiles and all("appmaptile?lang=zh_cn&size=1&scale=1&style=8&x=" in u for u in tiles)
    # the tiles' provider is credited, as AMap asks (H5_MAP_TILE_ATTRIBUTION, its default)
    assert "© 高德地图 AutoNavi" in page.locator("#station-map .leaflet-control-attribution").inner_text()
    page.screenshot(path=str(tmp_path / "h5-map.png"))
    page.locator("#station-map path.jc-marker-free").first.click()
    page.wait_for_selector("#page-station h1")
    assert page.locator("#page-station h1").inner_text() == "张江地图站"
    assert page.url.split("#")[1].startswith("/station/")
    assert not problems, problems


def test_station_map_without_tiles_still_shows_the_markers(tmp_path_factory: Any, built: None,
                                                           phone: tuple[Any, list[str]]) -> None:
    from tests.clients.support import running_cloud

    with running_cloud(tmp_path_factory.mktemp("notiles"), H5_MAP_TILE_URL="") as cloud:
        if not cloud.has(STATIONS):
            missing(f"this build has no {STATIONS}: merge it first")
        cloud.seed_station("ST-MAP-03", "世纪公园站", lat=31.2161, lng=121.5522, gun_code="JC-MAP-0003", online=True,
                           free=True)
        page, problems = phone
        page.route("**/*", lambda route: route.abort() if not route.request.url.startswith(cloud.url)
                   and not route.request.url.startswith(cloud.wechat.url) else route.continue_())
        log_in(page, cloud, "h5-driver-offline")
        page.locator("#page-stations .chip").nth(1).click()
        page.wait_for_selector("#station-map path.jc-marker-free")
        assert page.locator("#station-map img.leaflet-tile").count() == 0
        assert page.locator("#station-map .leaflet-control-attribution").count() == 0  # no tiles, no credit
        # a tap while Leaflet still animates the first fit of the bounds is swallowed by the
        # map (as on a phone): wait for the animation to end, and tap again if it was
        page.wait_for_function("!document.querySelector('#station-map.leaflet-zoom-anim')")
        for _ in range(3):
            page.locator("#station-map path.jc-marker-free").click()
            try:
                page.wait_for_selector("#page-station h1", timeout=8_000)
                break
            except Exception:  # noqa: BLE001 (playwright's TimeoutError: tap once more)
                continue
        assert page.locator("#page-station h1").inner_text() == "世纪公园站"
        assert not problems, problems


def test_charge_until_departure_on_a_phone(cloud: Cloud, phone: tuple[Any, list[str]]) -> None:
    """The start page's "charge until departure": a time that is not one is refused by the
    page itself; a good one goes to the API with the energy wanted (which then answers for
    the station: offline here)."""
    absent = [r for r in (GUNS, ORDERS) if not cloud.has(r)]
    if absent:
        missing(f"this build has no {', '.join(absent)}: merge the charging part of issue 9 first")
    code = "JC-H5-0003"
    cloud.seed_station("ST-H5-03", "张衡路站", lat=31.2080, lng=121.6040, gun_code=code, online=False)
    page, problems = phone
    log_in(page, cloud, "h5-driver-departure")
    page.goto(f"{cloud.url}/app/#/scan?g={code}")
    page.wait_for_selector("#page-scan .station-name")
    page.locator("#page-scan .mode").nth(1).click()  # by energy
    page.fill("#page-scan input.energy", "30")
    page.fill("#page-scan input.departure", "7.30")
    page.click("#start")
    page.wait_for_selector("#scan-error:not([style*='none'])")
    assert page.locator("#scan-error").get_attribute("data-code") == "invalid_departure"
    assert page.locator("#scan-error").inner_text() == "离开时间请写成 时:分，如 07:30"
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
            if r.method == "POST" and r.url.endswith("/api/v1/driver/orders") else None)
    page.fill("#page-scan input.departure", "07:30")
    page.click("#start")
    page.wait_for_function("document.querySelector('#scan-error').dataset.code === 'station_offline'")
    [body] = sent
    assert body["limit"] == {"mode": "energy", "value": 30_000}
    # the next 07:30 on the phone's clock, within a day
    now_ms = page.evaluate("Date.now()")
    assert now_ms < body["departure_at"] <= now_ms + 86_400_000
    assert page.evaluate(f"new Date({body['departure_at']}).getHours() * 60 + new Date({body['departure_at']}).getMinutes()") == 450
    assert not problems, problems


def test_a_link_carrying_another_drivers_token_logs_nobody_in(cloud: Cloud, browser: Any) -> None:
    """Login fixation: a link /app/#jc_login=<the attacker's token> must not put the victim's
    browser in the attacker's account (the victim would top up the attacker's wallet); only a
    login this tab began is taken."""
    attacker = browser.new_context(locale="zh-CN", **PHONE)
    page = attacker.new_page()
    log_in(page, cloud, "h5-mallory")
    token = json.loads(page.evaluate("localStorage.getItem('jc_token')"))
    attacker.close()
    victim = browser.new_context(locale="zh-CN", **PHONE)
    try:
        page = victim.new_page()
        page.goto(cloud.url + "/app/#jc_login=" + token + "&next=%23%2Fwallet")
        page.wait_for_selector("#page-login")
        assert page.evaluate("localStorage.getItem('jc_token')") is None
        assert "jc_login" not in page.url
        # the victim's own login through the button still works in that tab
        log_in(page, cloud, "h5-victim")
    finally:
        victim.close()
