"""The mini-program's messages page (miniprogram/pages/messages/index, the page the cloud's
subscribe messages open with ?id=) and the reminder/notice consents, in miniprogram-simulate
under node against a running cloud (SQLite, the fake WeChat login, the cloud's template ids
configured): system notices published with the console's service are listed and the one
named by id opened; the reserve tap asks consent and reports it, and the allows are read back
from the database (cloud.community.inbox.consents), as is the reservation itself; the unread
badge, marks and the reminder lead time chosen on Me, read back from the database.

node runs tests/clients/miniprogram/messages.test.js once for this module; each test here
checks its part of that run."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from cloud.community import inbox
from cloud.community.models import DriverMessage, MessagePrefs
from cloud.db import db
from cloud.ledger import service as ledger
from cloud.models import StationState, now_ms
from cloud.reservations import service as reservations
from cloud.reservations.models import Reservation
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from tests.clients.support import Cloud, check_node_tests, run_node, tap_results
from tests.console_stations.support import gateway

MESSAGES_TEST = "tests/clients/miniprogram/messages.test.js"
SID = "ST-MP-MSG"
GUN_CODE = "JC-MSG-0001"
REMINDER, NOTICE = "tmpl-reminder-0001", "tmpl-notice-0001"
T0 = 1_790_000_000_000


def _login(cloud: Cloud, user: str) -> str:
    code = requests.post(
        cloud.wechat.url + "/fake/wx/login", json={"user": user}, timeout=10
    ).json()["code"]
    r = requests.post(cloud.url + "/api/v1/driver/login", json={"code": code}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["driver"]["id"])


@pytest.fixture(scope="module")
def run(cloud: Cloud) -> dict[str, object]:
    # the template ids are read per request (cloud/api/driver_inbox.py)
    cloud.app.config["WECHAT_SUBSCRIBE_REMINDER_TEMPLATE"] = REMINDER
    cloud.app.config["WECHAT_SUBSCRIBE_NOTICE_TEMPLATE"] = NOTICE
    now = now_ms()
    driver = _login(cloud, "mp-messages")
    with cloud.app.app_context(), db.transaction() as s:
        stations.set_station(s, SID, name="消息测试站", lat=31.21, lng=121.60)
        stations.set_gun(
            s, SID, "P1-1", code=GUN_CODE, name="1 号枪", rated_power_w=7000, kind="ac"
        )
        s.add(
            StationState(
                sid=SID,
                online=True,
                claimed_online=True,
                last_seen=now,
                telemetry_ts=now,
                telemetry={
                    "v": 1,
                    "ts": now,
                    "transformer": None,
                    "guns": [
                        {
                            "id": "P1-1",
                            "state": "available",
                            "power_w": 0,
                            "limit_w": None,
                            "energy_wh": 0,
                            "session_id": None,
                            "soc": None,
                        }
                    ],
                },
            )
        )
        # the fee from the tariff's own reservation fee: 1.00 CNY + 0.015 CNY a minute (shown before the tap)
        priced = tariffs.create(s, {"currency": "CNY", "periods": [
            {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 2000}],
            "reservation": {"fee_e4": 10_000, "per_minute_e4": 150}}, code="mpmsg")  # fmt: skip
        tariffs.assign(s, SID, priced.tariff_id, effective_from=now - 1000)
        s.flush()
        reservations.set_rule(
            s,
            SID,
            {
                "enabled": True,
                "max_minutes": 60,
                "fee_mode": "tariff",
                "refund_on_cancel": True,
            },
            actor="test",
        )
        ledger.top_up(s, driver, 5000, f"test:{driver}")
        for i in range(1, 23):
            values = {
                "title_zh": f"通知{i}",
                "title_en": f"Notice {i}",
                "body_zh": f"第{i}条系统通知",
                "body_en": f"System notice number {i}",
                "audience": "all",
            }
            inbox.publish_notice(s, values, actor="admin", now=T0 + i * 60_000)
    with cloud.app.app_context():
        old = db.session.scalars(
            select(DriverMessage.id).where(
                DriverMessage.driver_id == driver, DriverMessage.title_zh == "通知1"
            )
        ).one()
        before = inbox.consents(db.session, driver)
    gateway(cloud.app)  # the station side answers the reserve command
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WECHAT_BASE": cloud.wechat.url,
        "JC_GUN_CODE": GUN_CODE,
        "JC_OLD_MESSAGE": str(old),
        "JC_REMINDER": REMINDER,
        "JC_NOTICE": NOTICE,
    }
    done = run_node(["--test", "--test-reporter=tap", MESSAGES_TEST], env=env, timeout=180)
    results = tap_results(done)
    return {
        "results": results,
        "output": done.stdout + done.stderr,
        "driver": driver,
        "before": before,
    }


check = check_node_tests

def test_messages_page_opened_by_id(run: dict[str, object]) -> None:
    check(run, "messages:")


def test_consent_reported_after_the_reserve_tap(cloud: Cloud, run: dict[str, object]) -> None:
    check(run, "consent:")
    assert run["before"] == {"reminder": 0, "notice": 0}
    with cloud.app.app_context():
        # one allow of each kind from the reserve tap, one more from the messages page's
        # button; the refusal after it added none (and the `read:` test's two lead-time taps
        # two more reminder allows, run in the same node process)
        assert inbox.consents(db.session, str(run["driver"])) == {"reminder": 2 + 2, "notice": 2}
        rv = db.session.scalars(
            select(Reservation).where(Reservation.driver_id == run["driver"])
        ).one()
        assert rv.sid == SID


def test_read_marks_and_lead_time_reach_the_cloud(cloud: Cloud, run: dict[str, object]) -> None:
    check(run, "read:")
    driver = str(run["driver"])
    with cloud.app.app_context():
        assert inbox.unread_count(db.session, driver) == 0
        assert db.session.get(MessagePrefs, driver).remind_minutes == 30  # type: ignore[union-attr]
        # the lead-time taps asked twice for the reminder alone (accepted): two more reminder allows
        assert inbox.consents(db.session, driver) == {"reminder": 4, "notice": 2}
