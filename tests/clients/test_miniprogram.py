"""The mini-program's real pages (miniprogram/) in WeChat's component test tooling
(miniprogram-simulate + j-component, under node) against a running cloud: the Flask app on a
free port with a temporary SQLite database and the fake WeChat login (cloud/fakes).

node runs tests/clients/miniprogram/pages.test.js once for this module (starting the
tooling costs seconds); each test here checks its part of that run."""

from __future__ import annotations

import pytest
import requests

from tests.clients.support import (
    GUNS,
    ORDERS,
    STATIONS,
    WALLET,
    Cloud,
    check_node_tests,
    run_node,
    tap_results,
)
from tests.support.services import missing

PAGES_TEST = "tests/clients/miniprogram/pages.test.js"
STATION = {
    "sid": "ST-MP-01",
    "name": "张江科苑站",
    "lat": 31.2035,
    "lng": 121.5914,
    "gun_code": "JC-MP-0001",
}
NEEDS = {
    "stations": (STATIONS,),
    "scan": (GUNS, ORDERS),
    "wallet": (WALLET,),
    "trip": ("/api/v1/driver/trips/plan",),
    "recommend": ("/api/v1/driver/recommendations",),
}


WALLET_USER = "wallet-history"


def seed_wallet_history(cloud: Cloud, user: str) -> None:
    """A driver (logged in through the fake WeChat as `user`, as the page's phone will be)
    with a paid recharge through each channel, one from before channels were kept, and a
    balance refund of one of them: rows as the wallet writes them, read back through the API."""
    from cloud.db import db
    from cloud.wallet.models import WalletPayment, WalletRefund, WalletRefundPart

    code = requests.post(
        cloud.wechat.url + "/fake/wx/login", json={"user": user}, timeout=10
    ).json()["code"]
    driver = requests.post(
        cloud.url + "/api/v1/driver/login", json={"code": code}, timeout=10
    ).json()["driver"]
    t0 = 1_767_225_000_000
    with cloud.app.app_context(), db.transaction() as s:
        pays = [
            WalletPayment(
                out_trade_no=f"TUSEED{i}{driver['id']}",
                driver_id=driver["id"],
                purpose="wallet",
                amount_fen=1000 * (i + 1),
                state="paid",
                refunded_fen=0,
                channel=channel,
                expires_at=t0 + i + 600_000,
                created_at=t0 + i * 1000,
                paid_at=t0 + i * 1000,
            )
            for i, channel in enumerate((None, "oa_jsapi", "h5", "jsapi"))
        ]
        s.add_all(pays)
        s.flush()
        pays[3].refunded_fen = 500
        refund = WalletRefund(
            refund_no=f"RFSEED{driver['id']}",
            driver_id=driver["id"],
            amount_fen=500,
            created_at=t0 + 9000,
        )
        s.add(refund)
        s.flush()
        s.add(
            WalletRefundPart(
                refund_id=refund.id,
                payment_id=pays[3].id,
                out_refund_no=f"RFSEED{driver['id']}-1",
                amount_fen=500,
                state="succeeded",
                created_at=t0 + 9000,
                updated_at=t0 + 9000,
            )
        )


@pytest.fixture(scope="module")
def pages_run(cloud: Cloud) -> dict[str, object]:
    absent = {part: [r for r in rules if not cloud.has(r)] for part, rules in NEEDS.items()}
    absent = {part: rules for part, rules in absent.items() if rules}
    if cloud.has(STATIONS) or cloud.has(GUNS):
        cloud.seed_station(
            STATION["sid"],
            STATION["name"],
            lat=STATION["lat"],
            lng=STATION["lng"],
            gun_code=STATION["gun_code"],
            online=False,
        )
    if not absent.get("wallet"):
        seed_wallet_history(cloud, WALLET_USER)
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WALLET_USER": WALLET_USER,
        "JC_WECHAT_BASE": cloud.wechat.url,
        "JC_STATION_NAME": STATION["name"],
        "JC_GUN_CODE": STATION["gun_code"],
        "JC_LAT": str(STATION["lat"]),
        "JC_LNG": str(STATION["lng"]),
        "JC_ABSENT": ",".join(absent),
    }
    done = run_node(["--test", "--test-reporter=tap", PAGES_TEST], env=env, timeout=120)
    results = tap_results(done)
    return {"results": results, "output": done.stdout + done.stderr, "absent": absent}


def check(pages_run: dict[str, object], prefix: str) -> None:
    part = prefix.split(":")[0]
    absent = pages_run["absent"]
    assert isinstance(absent, dict)
    if part in absent:
        missing(
            f"this build has no {', '.join(absent[part])} (the charging and wallet parts of issue 9, "
            "docs/api/cloud.openapi.yaml): merge them first"
        )
    check_node_tests(pages_run, prefix)


def test_login_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "login:")


def test_settings_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "settings:")


def test_station_list_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "stations:")


def test_scan_then_start_refused_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "scan:")


def test_wallet_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "wallet:")


def test_trip_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "trip:")


def test_reservation_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "reservation:")


def test_recommended_list_on_the_stations_page(pages_run: dict[str, object]) -> None:
    check(pages_run, "recommend:")


def test_wallet_history_channels_and_refund_route(pages_run: dict[str, object]) -> None:
    check(pages_run, "wallet: the recharge history")
