"""The mini-program's community pages (miniprogram/pages/community, report, reports) in
WeChat's component test tooling (miniprogram-simulate, under node) against a running cloud
(the Flask app on a free port, SQLite, the fake WeChat login): a station's reviews with their
photos and posts (not those an operator hid), a review with a photo written for the driver's settled order, a sensitive
word and a ban refused in the server's words, a broken gun reported with a reason and seen
open in "my reports", and the receipt's subscribe-message consent asked before a start.

node runs tests/clients/miniprogram/community.test.js once for this module; each test here
checks its part of that run, and what the pages wrote is then read back from the database."""

from __future__ import annotations

import base64

import pytest
import requests
from sqlalchemy import select

from cloud.alarms.models import Alarm
from cloud.community import service as community
from cloud.community.models import GunReport, Review
from cloud.db import db
from tests.clients.support import Cloud, check_node_tests, run_node, tap_results
from tests.community.support import many_reviews_and_posts, png, seed_station, settled_order

COMMUNITY_TEST = "tests/clients/miniprogram/community.test.js"
SID = "ST-MP-CM"
PAGED_SID = "ST-MP-PG"  # more reviews and posts than a page
TEMPLATE = "tmpl-receipt-0001"


def _login(cloud: Cloud, user: str) -> tuple[str, dict[str, str]]:
    code = requests.post(
        cloud.wechat.url + "/fake/wx/login", json={"user": user}, timeout=10
    ).json()["code"]
    r = requests.post(cloud.url + "/api/v1/driver/login", json={"code": code}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["driver"]["id"]), {"Authorization": "Bearer " + r.json()["token"]}


@pytest.fixture(scope="module")
def run(cloud: Cloud) -> dict[str, object]:
    with cloud.app.app_context(), db.transaction() as s:
        gun_code = seed_station(s, SID)
        community.add_word(s, "骗子", actor="test")
        seed_station(s, PAGED_SID)
        many_reviews_and_posts(s, PAGED_SID, reviews=55, posts=53)
    reviewer, _ = _login(cloud, "mp-reviewer")
    other, other_auth = _login(cloud, "mp-other")
    banned, _ = _login(cloud, "mp-banned")
    with cloud.app.app_context(), db.transaction() as s:
        order_id = settled_order(s, reviewer, SID)
        other_order = settled_order(s, other, SID)
        community.ban(s, banned, reason="spam", actor="test")
        # a review and a post an operator hid: never on the pages (the node test lists exactly)
        gone = settled_order(s, "mp-hidden", SID)
        review = community.write_review(
            s, "mp-hidden", SID, order_id=gone, stars=1, text="被隐藏的评价"
        )
        post = community.write_post(s, "mp-hidden", SID, "被隐藏的帖子")
        community.set_hidden(s, "review", review["review_id"], True, actor="test")
        community.set_hidden(s, "post", post["post_id"], True, actor="test")
    # another driver's review with a photo is on the station's page before ours
    api = cloud.url + "/api/v1/driver"
    photo = requests.post(
        api + "/photos",
        json={"content_base64": base64.b64encode(png(3, 2)).decode()},
        headers=other_auth,
        timeout=10,
    ).json()
    r = requests.post(
        f"{api}/stations/{SID}/reviews",
        json={
            "order_id": other_order,
            "stars": 3,
            "text": "车位有点窄",
            "photo_ids": [photo["photo_id"]],
        },
        headers=other_auth,
        timeout=10,
    )
    assert r.status_code == 201, r.text
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WECHAT_BASE": cloud.wechat.url,
        "JC_SID": SID,
        "JC_PAGED_SID": PAGED_SID,
        "JC_ORDER": order_id,
        "JC_GUN_CODE": gun_code,
        "JC_PHOTO": photo["photo_id"],
        "JC_TEMPLATE": TEMPLATE,
        "JC_PNG": base64.b64encode(png(5, 4)).decode(),
    }
    done = run_node(["--test", "--test-reporter=tap", COMMUNITY_TEST], env=env, timeout=180)
    results = tap_results(done)
    return {
        "results": results,
        "output": done.stdout + done.stderr,
        "reviewer": reviewer,
        "order": order_id,
    }


check = check_node_tests


def test_station_reviews_page(cloud: Cloud, run: dict[str, object]) -> None:
    check(run, "community:")
    with cloud.app.app_context():
        review = db.session.scalars(select(Review).where(Review.order_id == run["order"])).one()
        assert (review.driver_id, review.stars, review.text) == (
            run["reviewer"],
            5,
            "小程序里写的评价",
        )
        assert len(community.reviews(db.session, SID)["reviews"][0]["photo_ids"]) == 1


def test_report_form_and_my_reports(cloud: Cloud, run: dict[str, object]) -> None:
    check(run, "report:")
    with cloud.app.app_context():
        report = db.session.scalars(
            select(GunReport).where(GunReport.driver_id == run["reviewer"])
        ).one()
        alarm = db.session.get(Alarm, report.alarm_id)
        assert (report.reason, report.text, report.photo_id is not None) == (
            "wont_start",
            "扫码后没有反应",
            True,
        )
        assert (alarm.kind, alarm.sid, alarm.cleared_at) == ("driver_report", SID, None)


def test_older_reviews_and_posts_paged(run: dict[str, object]) -> None:
    check(run, "paging:")


def test_receipt_consent_before_a_start(run: dict[str, object]) -> None:
    check(run, "receipt:")
