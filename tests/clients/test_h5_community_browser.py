"""The community pages of the H5 app (/app/) in headless Chromium at a phone's viewport
against a running cloud (real API, SQLite, the fake WeChat login): from a settled order the
driver reviews its station with stars, words and a photo uploaded through the API, and sees
the review with its photo on the station's page; a post with a sensitive word is refused with
the server's words, a clean one and a reply are shown; a broken gun reported from the station
page is open in "my reports", and once the operator acknowledges its `driver_report` alarm
with a note (the console's service) it shows resolved with that note, in English too."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import select

from cloud.alarms import service as alarms
from cloud.alarms.models import Alarm
from cloud.community import service as community
from cloud.community.models import GunReport
from cloud.db import db
from tests.clients.support import Cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixture)
from tests.community.support import many_reviews_and_posts, png, seed_station, settled_order

pytestmark = pytest.mark.browser
SID = "ST-H5-CM"


def _driver_id(page: Any) -> str:
    return str(json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["id"])


def _phone(browser: Any, problems: list[str]) -> Any:  # noqa: F811
    context = browser.new_context(locale="zh-CN", **PHONE)
    page = context.new_page()
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.set_default_timeout(15_000)
    return page


def test_review_with_photo_posts_and_a_gun_report_resolved_on_a_phone(
    cloud: Cloud,
    browser: Any,  # noqa: F811
    tmp_path: Any,
) -> None:
    with cloud.app.app_context(), db.transaction() as s:
        code = seed_station(s, SID)
        community.add_word(s, "垃圾", actor="test")
    problems: list[str] = []
    page = _phone(browser, problems)
    log_in(page, cloud, "h5-reviewer")
    driver = _driver_id(page)
    with cloud.app.app_context(), db.transaction() as s:
        order_id = settled_order(s, driver, SID)

    # the settled order offers a review of its station
    page.goto(cloud.url + "/app/#/order/" + order_id)
    page.wait_for_selector("#review-order")
    assert page.inner_text("#review-order") == "评价本站"
    page.click("#review-order")
    page.wait_for_selector("#review-form #review-submit")
    page.wait_for_selector("#reviews-average:has-text('还没有评价。')")
    page.click("#review-form .star[data-n='4']")
    page.fill("#review-text", "充电很快，车位好找")
    photo = png(4, 3)
    page.set_input_files(
        "#review-photo", files=[{"name": "shot.png", "mimeType": "image/png", "buffer": photo}]
    )
    page.wait_for_function(
        "document.getElementById('review-photos').textContent === '已添加 1/3 张图片'"
    )
    page.click("#review-submit")
    page.wait_for_selector("#community-notice:has-text('评价已发表。')")
    assert not page.locator("#review-form").is_visible()
    page.wait_for_selector("#reviews-average:has-text('平均 4.0 星 · 1 条评价')")
    review = page.locator("#reviews .review").first
    assert review.locator(".stars").inner_text() == "★★★★☆"
    assert review.locator(".review-text").inner_text() == "充电很快，车位好找"
    # the photo, fetched from the API with the driver's token, is drawn
    page.wait_for_function(
        "(() => { const i = document.querySelector('#reviews .review img.photo');"
        " return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 4; })()"
    )
    with cloud.app.app_context():
        stored = community.reviews(db.session, SID)["reviews"][0]
    assert stored["stars"] == 4 and len(stored["photo_ids"]) == 1
    shown = page.get_attribute("#reviews .review img.photo", "data-id")
    assert shown == stored["photo_ids"][0]
    # the station's page leads to the same reviews
    page.goto(cloud.url + "/app/#/station/" + SID)
    page.wait_for_selector("#station-community")
    page.click("#station-community")
    page.wait_for_selector("#reviews .review .review-text")
    assert page.locator("#reviews .review-text").all_inner_texts() == ["充电很快，车位好找"]

    # posts: a sensitive word is refused with the server's words, then a post and a reply
    page.fill("#post-text", "这站真垃圾")
    page.click("#post-submit")
    page.wait_for_selector("#community-error[data-code='sensitive_word']")
    assert page.inner_text("#community-error") == "内容包含敏感词“垃圾”，请修改后再提交。"
    page.fill("#post-text", "晚上十点后基本不用排队")
    page.click("#post-submit")
    page.wait_for_selector("#posts .post .post-text")
    assert page.locator("#posts .post-text").all_inner_texts() == ["晚上十点后基本不用排队"]
    page.click("#posts .post .reply-open")
    page.fill("#posts .post .reply-text", "谢谢提醒")
    page.click("#posts .post .reply-submit")
    page.wait_for_selector("#posts .post .reply")
    assert page.locator("#posts .post .reply").all_inner_texts() == ["谢谢提醒"]
    page.screenshot(path=str(tmp_path / "h5-community-zh.png"), full_page=True)

    # a broken gun, reported from the station page with a reason, words and a photo
    page.goto(cloud.url + "/app/#/station/" + SID)
    page.wait_for_selector("#page-station .gun[data-gun='P1-1'] .report-link")
    page.click("#page-station .gun[data-gun='P1-1'] .report-link")
    page.wait_for_selector("#report-form #report-submit")
    page.wait_for_function(
        "document.querySelector('#report-form .gun-text').textContent.includes('1 号枪')"
    )
    page.click("#report-submit")
    page.wait_for_selector("#report-error[data-code='no_reason']")
    assert page.inner_text("#report-error") == "请选择故障原因"
    page.click("#report-form .reason[data-reason='cable_damaged']")
    page.fill("#report-text", "线缆外皮破损")
    page.set_input_files(
        "#report-photo", files=[{"name": "gun.png", "mimeType": "image/png", "buffer": png()}]
    )
    page.wait_for_selector("#report-form label:has-text('已添加照片')")
    page.click("#report-submit")
    page.wait_for_selector("#report-sent[data-state='open']")
    with cloud.app.app_context():
        report = db.session.scalars(select(GunReport).where(GunReport.driver_id == driver)).one()
        alarm = db.session.get(Alarm, report.alarm_id)
        assert (report.gun, report.reason, report.text, alarm.kind, alarm.cleared_at) == (
            "P1-1",
            "cable_damaged",
            "线缆外皮破损",
            "driver_report",
            None,
        )
        assert report.photo_id is not None
    assert code == f"{SID}-P1-1"

    # my reports (from Me): open, then resolved with the operator's note
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-reports-link")
    page.wait_for_selector(
        f"#page-reports .gun-report[data-report='{report.report_id}'][data-state='open']"
    )
    assert page.inner_text("#page-reports .report-state") == "处理中"
    # the report's photo, shown back to its driver: fetched with the token into a blob URL
    page.wait_for_function(
        "(() => { const i = document.querySelector('#page-reports img.report-photo');"
        " return i && i.src.startsWith('blob:') && i.complete && i.naturalWidth === 2; })()"
    )
    assert page.get_attribute("#page-reports img.report-photo", "data-id") == report.photo_id
    assert page.get_attribute("#page-reports img.report-photo", "alt") == "报修照片"
    assert not page.locator("#page-reports .resolution").is_visible()
    with cloud.app.app_context(), db.transaction() as s:
        alarms.acknowledge(s, report.alarm_id, actor="op", note="已更换线缆")
    page.reload()
    page.wait_for_selector(
        f"#page-reports .gun-report[data-report='{report.report_id}'][data-state='closed']"
    )
    assert page.inner_text("#page-reports .report-state") == "已处理"
    assert page.inner_text("#page-reports .resolution-text") == "已更换线缆"
    page.screenshot(path=str(tmp_path / "h5-reports-zh.png"))
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#page-reports .gun-report[data-state='closed']")
    assert page.inner_text("#page-reports h1") == "My reports"
    assert page.inner_text("#page-reports .report-state") == "Resolved"
    assert page.inner_text("#page-reports .gun-report strong") == "Cable damaged"
    assert page.inner_text("#page-reports .resolution-text") == "已更换线缆"
    assert page.get_attribute("#page-reports img.report-photo", "alt") == "Photo of the report"
    assert not problems, problems
    assert base64.b64encode(photo)  # the review's bytes were a real PNG (width 4 read back above)


def test_older_reviews_and_posts_past_the_newest_50_on_a_phone(
    cloud: Cloud,
    browser: Any,  # noqa: F811
) -> None:
    sid = "ST-H5-PG"
    with cloud.app.app_context(), db.transaction() as s:
        seed_station(s, sid)
        many_reviews_and_posts(s, sid, reviews=55, posts=53)
    problems: list[str] = []
    page = _phone(browser, problems)
    log_in(page, cloud, "h5-pager")
    page.goto(cloud.url + "/app/#/community/" + sid)
    page.wait_for_selector("#reviews-average:has-text('55 条评价')")
    reviews = page.locator("#reviews .review-text")
    assert reviews.count() == 50
    assert [reviews.first.inner_text(), reviews.last.inner_text()] == ["评价 55", "评价 6"]
    assert page.locator("#posts .post").count() == 50
    assert page.inner_text("#reviews-more") == "更早的评价"
    page.click("#reviews-more")
    page.wait_for_function("document.querySelectorAll('#reviews .review').length === 55")
    assert reviews.all_inner_texts()[50:] == ["评价 5", "评价 4", "评价 3", "评价 2", "评价 1"]
    assert not page.locator("#reviews-more").is_visible()
    assert page.inner_text("#posts-more") == "更早的帖子"
    page.click("#posts-more")
    page.wait_for_function("document.querySelectorAll('#posts .post').length === 53")
    assert page.locator("#posts .post-text").all_inner_texts()[50:] == [
        "帖子 3",
        "帖子 2",
        "帖子 1",
    ]
    assert page.locator("#posts .reply").all_inner_texts() == ["回复 1"]
    assert not page.locator("#posts-more").is_visible()
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#reviews-average:has-text('55 reviews')")
    assert page.inner_text("#reviews-more") == "Older reviews"
    assert page.inner_text("#posts-more") == "Older posts"
    page.click("#posts-more")
    page.wait_for_function("document.querySelectorAll('#posts .post').length === 53")
    assert not problems, problems
