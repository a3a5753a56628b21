"""Reservations in the H5 app (/app/) in headless Chromium at a phone's viewport against a
running cloud: from the station page a driver reserves a gun (the fee and its rules shown,
the time chosen), sees the reservation with its countdown ticking; another driver's start on
that gun is refused and the free gun the API suggests opens; the holder cancels from "my
reservation", in English too. The station side answers the commands in place of broker,
gateway and ingest (tests/console_stations/support.py `gateway`)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cloud.db import db
from cloud.ledger import service as ledger
from cloud.models import StationState, now_ms
from cloud.reservations import service as reservations
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from tests.clients.support import Cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixture)
from tests.console_stations.support import gateway

pytestmark = pytest.mark.browser
SID = "ST-H5-RSV"
RULE = {"enabled": True, "max_minutes": 60, "fee_mode": "fixed", "fee_fen": 200, "refund_on_cancel": True}


def _seed(cloud: Cloud) -> None:
    now = now_ms()
    with cloud.app.app_context(), db.transaction() as s:
        stations.set_station(s, SID, name="预约测试站", lat=31.21, lng=121.60, address="科苑路 99 号")
        for gun, code in (("P1-1", "JC-RSV-0001"), ("P1-2", "JC-RSV-0002")):
            stations.set_gun(s, SID, gun, code=code, name=f"{gun[-1]} 号枪", rated_power_w=7000, kind="ac")
        s.add(StationState(sid=SID, online=True, claimed_online=True, last_seen=now, telemetry_ts=now, telemetry={
            "v": 1, "ts": now, "transformer": None,
            "guns": [{"id": g, "state": "available", "power_w": 0, "limit_w": None, "energy_wh": 0, "session_id": None,
                      "soc": None} for g in ("P1-1", "P1-2")]}))
        s.flush()
        reservations.set_rule(s, SID, RULE, actor="test")


def _driver_id(page: Any) -> str:
    return str(json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["id"])


def _phone(browser: Any, problems: list[str]) -> Any:  # noqa: F811
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(10_000)
    return page


def test_reserve_countdown_stranger_refused_and_cancel_on_a_phone(cloud: Cloud, browser: Any, tmp_path: Any) -> None:  # noqa: F811
    _seed(cloud)
    gw = gateway(cloud.app)
    problems: list[str] = []
    page = _phone(browser, problems)
    log_in(page, cloud, "h5-holder")
    holder = _driver_id(page)
    with cloud.app.app_context(), db.transaction() as s:
        ledger.top_up(s, holder, 5000, f"test:{holder}")

    # the station page: each free gun can be reserved
    page.goto(cloud.url + "/app/#/station/" + SID)
    page.wait_for_selector("#page-station .gun[data-gun='P1-1'] .reserve-link")
    page.click("#page-station .gun[data-gun='P1-1'] .reserve-link")
    page.wait_for_selector("#reserve-form #reserve")
    assert page.inner_text("#reserve-fee") == "¥2.00"
    assert page.locator("#reserve-form .rule").all_inner_texts() == [
        "按时开始充电：预约费退还", "取消预约：预约费退还", "到期未使用：预约费不退"]
    assert page.locator("#reserve-form .minutes").all_inner_texts() == ["15 分钟", "30 分钟", "60 分钟"]
    page.locator("#reserve-form .minutes").nth(1).click()
    page.click("#reserve")
    page.wait_for_selector("#my-reservation[data-state='active']")
    assert page.inner_text("#reservation-state") == "预约中"
    assert [c["type"] for c in gw.seen] == ["reserve"] and gw.seen[0]["gun"] == "P1-1"
    first = page.inner_text("#countdown")
    assert first.startswith("剩余 29:") or first == "剩余 30:00", first
    page.wait_for_function(f"document.getElementById('countdown').textContent !== {json.dumps(first)}")  # it ticks
    assert "¥2.00 · 已冻结" == page.inner_text("#reservation-fee")
    page.screenshot(path=str(tmp_path / "h5-reservation-zh.png"))

    # another driver scans the reserved gun: the start is refused, the free gun offered
    other_problems: list[str] = []
    stranger = _phone(browser, other_problems)
    log_in(stranger, cloud, "h5-stranger")
    stranger.goto(cloud.url + "/app/#/scan?g=JC-RSV-0001")
    stranger.wait_for_selector("#page-scan #start")
    stranger.click("#start")
    stranger.wait_for_selector("#scan-error[data-code='reserved']")
    assert stranger.inner_text("#scan-error") == "该充电枪已被其他车主预约，请换一把空闲的枪（已为您推荐）。"
    assert stranger.inner_text("#nearest-gun") == "改用空闲的 2 号枪"
    stranger.click("#nearest-gun")
    stranger.wait_for_function("location.hash === '#/scan?g=JC-RSV-0002'")
    stranger.wait_for_selector("#page-scan .gun-name")
    assert stranger.inner_text("#page-scan .gun-name") == "2 号枪"
    assert [c["type"] for c in gw.seen] == ["reserve"]  # nothing went to the station
    stranger.context.close()

    # my reservation (from Me), in English, then cancelled: the fee comes back
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-reservation-link")
    page.wait_for_selector("#my-reservation[data-state='active']")
    assert page.inner_text("#page-reservation h1") == "My reservation"
    assert page.inner_text("#reservation-state") == "Reserved"
    assert page.inner_text("#countdown").endswith(" left")
    page.click("#cancel-reservation")
    page.wait_for_selector("#my-reservation[data-state='cancelled']")
    assert page.inner_text("#reservation-state") == "Cancelled"
    assert page.inner_text("#reservation-fee") == "¥2.00 · refunded"
    assert not page.locator("#countdown").is_visible()
    assert gw.seen[-1]["type"] == "cancel_reservation"
    page.screenshot(path=str(tmp_path / "h5-reservation-en.png"))
    with cloud.app.app_context():
        b = ledger.balances(db.session, holder)
        assert (b.cash, b.held) == (5000, 0)
    assert not problems and not other_problems, problems + other_problems


def test_the_tariffs_reservation_fee_is_shown_before_reserving_and_held(cloud: Cloud, browser: Any) -> None:  # noqa: F811
    sid, now = "ST-H5-RSVT", now_ms()
    with cloud.app.app_context(), db.transaction() as s:
        stations.set_station(s, sid, name="按电价预约站", lat=31.22, lng=121.61)
        stations.set_gun(s, sid, "P1-1", code="JC-RSVT-0001", name="1 号枪", rated_power_w=7000, kind="ac")
        s.add(StationState(sid=sid, online=True, claimed_online=True, last_seen=now, telemetry_ts=now, telemetry={
            "v": 1, "ts": now, "transformer": None, "guns": [{"id": "P1-1", "state": "available", "power_w": 0,
                                                          "limit_w": None, "energy_wh": 0, "session_id": None,
                                                          "soc": None}]}))
        v = tariffs.create(s, {"currency": "CNY", "periods": [
            {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 2000}],
            "reservation": {"fee_e4": 10_000, "per_minute_e4": 150}}, code="h5rsv")  # fmt: skip
        tariffs.assign(s, sid, v.tariff_id, effective_from=now - 1000)
        s.flush()
        reservations.set_rule(s, sid, {**RULE, "fee_mode": "tariff"}, actor="test")
    gw = gateway(cloud.app)
    problems: list[str] = []
    page = _phone(browser, problems)
    log_in(page, cloud, "h5-tariff-fee")
    driver = _driver_id(page)
    with cloud.app.app_context(), db.transaction() as s:
        ledger.top_up(s, driver, 5000, f"test:{driver}")
    page.goto(cloud.url + "/app/#/reservation?g=JC-RSVT-0001")
    page.wait_for_selector("#reserve-form #reserve")
    assert page.inner_text("#reserve-fee") == "¥1.23"  # 1.00 + 15 × 0.015 = 1.225, half up
    assert page.inner_text("#reserve-fee-basis") == "按电价计：每次 ¥1.00 + 每分钟 ¥0.015，共 15 分钟，合计四舍五入到分"
    page.locator("#reserve-form .minutes").nth(1).click()  # 30 minutes: 1.45
    page.wait_for_function("document.querySelector('#reserve-fee').innerText === '¥1.45'")
    page.click("#reserve")
    page.wait_for_selector("#my-reservation[data-state='active']")
    assert page.inner_text("#reservation-fee") == "¥1.45 · 已冻结"
    assert [c["type"] for c in gw.seen] == ["reserve"]
    with cloud.app.app_context():
        assert ledger.balances(db.session, driver).held == 145
    assert not problems, problems
