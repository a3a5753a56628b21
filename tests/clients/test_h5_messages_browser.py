"""The H5 app's messages page (#/messages) in headless Chromium at a phone's viewport against
a running cloud (real API, SQLite, the fake WeChat login): system notices an admin published
(cloud.community.inbox.publish_notice, the console's service) are listed newest first from
Me, twenty at a time with "more" reading older ones (`before`), a message opened by its id
(#/messages/<id>, as a subscribe message opens it) is highlighted and marked read, and the
page is in English once the driver switches; then the unread badge on Me's and the wallet's
"my messages", a tapped message marked read, "mark all read", and the reminder lead time
chosen on Me, each read back from the database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from cloud.community import inbox
from cloud.community.models import DriverMessage, MessagePrefs
from cloud.db import db
from tests.clients.support import Cloud
from tests.clients.test_h5_browser import PHONE, browser, log_in  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser
T0 = 1_790_000_000_000


def test_notices_listed_paged_opened_by_id_in_both_languages_on_a_phone(
    cloud: Cloud,
    browser: Any,  # noqa: F811
    tmp_path: Any,
) -> None:
    problems: list[str] = []
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
    log_in(page, cloud, "h5-messages")
    driver = str(json.loads(page.evaluate("localStorage.getItem('jc_driver')"))["id"])

    # nothing yet
    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-messages-link")
    page.wait_for_selector("#no-messages:visible")
    assert page.inner_text("#page-messages h1") == "我的消息"

    with cloud.app.app_context(), db.transaction() as s:
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
        ids = {
            m.title_zh: m.id
            for m in db.session.scalars(
                select(DriverMessage).where(DriverMessage.driver_id == driver)
            )
        }
    assert len(ids) == 22

    page.goto(cloud.url + "/app/#/settings")
    page.click("#my-messages-link")
    page.wait_for_function("document.querySelectorAll('#page-messages .message').length === 20")
    titles = page.locator("#page-messages .message .message-title").all_inner_texts()
    assert titles == [f"通知{i}" for i in range(22, 2, -1)]
    first = page.locator("#page-messages .message").first
    assert first.locator(".message-kind").inner_text() == "系统通知"
    assert first.locator(".message-text").inner_text() == "第22条系统通知"
    assert page.locator("#page-messages .message.open").count() == 0
    page.click("#messages-more")
    page.wait_for_function("document.querySelectorAll('#page-messages .message').length === 22")
    assert page.locator("#page-messages .message .message-title").all_inner_texts()[-2:] == [
        "通知2",
        "通知1",
    ]
    assert not page.locator("#messages-more").is_visible()
    page.screenshot(path=str(tmp_path / "h5-messages-zh.png"))

    # opened by its id (older than the first page: read further back until found)
    page.goto(cloud.url + f"/app/#/messages/{ids['通知1']}")
    page.wait_for_selector(f"#m-{ids['通知1']}.open")
    assert page.locator("#page-messages .message.open").count() == 1
    assert page.locator("#page-messages .message.open .message-title").inner_text() == "通知1"
    page.goto(cloud.url + "/app/#/messages/999999")
    page.wait_for_selector("#message-not-found:visible")
    assert page.inner_text("#message-not-found") == "没有找到这条消息。"

    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.goto(cloud.url + f"/app/#/messages/{ids['通知21']}")
    page.wait_for_selector(f"#m-{ids['通知21']}.open")
    page.wait_for_function(
        "document.querySelector('#page-messages .message .message-title').textContent === 'Notice 22'"
    )
    assert page.inner_text("#page-messages h1") == "My messages"
    opened = page.locator("#page-messages .message.open")
    assert opened.locator(".message-kind").inner_text() == "Notice"
    assert opened.locator(".message-text").inner_text() == "System notice number 21"
    page.screenshot(path=str(tmp_path / "h5-messages-en.png"))

    # read state: the two opened by id are read, 20 left; the badge on Me and on the wallet
    with cloud.app.app_context():
        assert inbox.unread_count(db.session, driver) == 20
    page.goto(cloud.url + "/app/#/settings")
    page.wait_for_function(
        "(document.querySelector('#my-messages-link .unread-badge') || {}).textContent === '20'"
    )
    # the reminder lead time: the operator's choices, 15 chosen
    page.wait_for_selector("#remind-card button[data-minutes='15']")
    assert page.locator("#remind-card button").all_inner_texts() == [
        "Off",
        "5 min before",
        "10 min before (default)",
        "15 min before",
        "30 min before",
    ]
    page.click("#remind-card button[data-minutes='15']")
    page.wait_for_function(
        "document.querySelector('#remind-now').textContent === 'Now: 15 min before'"
    )
    assert "on" in (page.get_attribute("#remind-card button[data-minutes='15']", "class") or "")
    page.screenshot(path=str(tmp_path / "h5-me-remind-en.png"), full_page=True)
    with cloud.app.app_context():
        assert db.session.get(MessagePrefs, driver).remind_minutes == 15  # type: ignore[union-attr]
    page.goto(cloud.url + "/app/#/wallet")
    page.wait_for_selector("#my-messages-link .unread-badge:visible")
    assert page.inner_text("#my-messages-link .unread-badge") == "20"
    page.click("#my-messages-link")
    page.wait_for_function(
        "document.querySelectorAll('#page-messages .message.unread').length === 19"
    )
    assert page.inner_text("#messages-unread") == "20 unread"
    newest = page.locator("#page-messages .message").first
    assert "unread" in (newest.get_attribute("class") or "")
    newest.click()
    page.wait_for_function("document.querySelector('#messages-unread').textContent === '19 unread'")
    assert "unread" not in (newest.get_attribute("class") or "")
    page.click("#messages-read-all")
    page.wait_for_selector("#messages-unread-row", state="hidden")
    assert page.locator("#page-messages .message.unread").count() == 0
    assert page.inner_text("#messages-notice") == "All marked read."
    with cloud.app.app_context():
        assert inbox.unread_count(db.session, driver) == 0
    page.goto(cloud.url + "/app/#/settings")
    page.wait_for_selector("#remind-now:visible")
    # Me reads the count as it opens: the badge goes once that answer is in
    page.wait_for_selector("#my-messages-link .unread-badge", state="hidden")
    assert not problems, problems
    context.close()
