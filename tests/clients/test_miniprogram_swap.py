"""The mini-program's battery-swap pages (miniprogram/pages/swap, swapstation, swapbooking)
in WeChat's component test tooling (miniprogram-simulate, under node) against a running cloud
with two swap stations seeded: the finder marks them, the list, a fee refused on an empty
wallet, a free slot booked, followed and cancelled, in English too.

node runs tests/clients/miniprogram/swap.test.js once for this module; each test here checks
its part of that run (tests/clients/test_miniprogram.py `check`)."""

from __future__ import annotations

import pytest

from cloud.db import db
from cloud.models import now_ms
from tests.clients.support import Cloud, run_node, tap_results
from tests.clients.test_miniprogram import check
from tests.swap.support import FIXED, MIN, seed_swap

SWAP_TEST = "tests/clients/miniprogram/swap.test.js"
LAT, LNG = 31.1900, 121.5900


@pytest.fixture(scope="module")
def pages_run(cloud: Cloud) -> dict[str, object]:
    ready_at = now_ms() + 25 * MIN
    with cloud.app.app_context(), db.transaction() as s:
        seed_swap(
            s,
            "SW-MP-PAID",
            bays=2,
            packs={"NIO-75": [("ready", None), ("charging", ready_at)]},
            rule=FIXED,
            lat=LAT,
            lng=LNG,
        )
        seed_swap(
            s,
            "SW-MP-FREE",
            bays=2,
            packs={"NIO-75": [("ready", None), ("ready", None)]},
            rule={"enabled": True, "max_minutes": 60, "fee_mode": "none"},
            lat=LAT + 0.001,
            lng=LNG,
        )
    # the booking tap asks consent to the slot's reminder (miniprogram/notices.js); the notice
    # kind stays unconfigured, so only the reminder's template is asked
    cloud.app.config["WECHAT_SUBSCRIBE_REMINDER_TEMPLATE"] = "tmpl-swap-reminder"
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WECHAT_BASE": cloud.wechat.url,
        "JC_REMINDER": "tmpl-swap-reminder",
        "JC_LAT": str(LAT),
        "JC_LNG": str(LNG),
        "JC_SWAP_PAID": "SW-MP-PAID",
        "JC_SWAP_FREE": "SW-MP-FREE",
    }
    done = run_node(["--test", "--test-reporter=tap", SWAP_TEST], env=env, timeout=120)
    results = tap_results(done)
    return {"results": results, "output": done.stdout + done.stderr, "absent": {}}


def test_swap_stations_in_the_finder(pages_run: dict[str, object]) -> None:
    check(pages_run, "swap: the charging-station finder")


def test_swap_station_list_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "swap: the list")


def test_swap_fee_refused_on_an_empty_wallet(pages_run: dict[str, object]) -> None:
    check(pages_run, "swap: a station with a fee")


def test_swap_book_follow_cancel(pages_run: dict[str, object]) -> None:
    check(pages_run, "swap: book a free slot")


def test_swap_booking_in_english(pages_run: dict[str, object]) -> None:
    check(pages_run, "swap: my booking in English")
