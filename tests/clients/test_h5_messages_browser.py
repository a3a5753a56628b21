"""The H5 app's messages page (#/messages) in headless Chromium at a phone's viewport against
a running cloud (real API, SQLite, the fake WeChat login): system notices an admin published
(cloud.community.inbox.publish_notice, the console's service) are listed newest first from
Me, twenty at a time with "more" reading older ones (`before`), a message opened by its id
(#/messages/<id>, as a subscribe message opens it) is highlighted, and the page is in
English once the driver switches."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from cloud.community import inbox
from cloud.community.models import DriverMessage
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
    assert not problems, problems
    context.close()
