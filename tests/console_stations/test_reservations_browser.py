"""The station page's reservation rules form in headless Chromium (Debian's, through
Playwright) against the seeded cloud served over HTTP: rules saved through htmx and shown
again after a reload, a bad value refused with its field, the audit entry written; the
reservations and no-shows tables; the same page in English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.models import now_ms
from cloud.reservations import service
from cloud.reservations.models import Reservation
from tests.console.test_console_browser import _log_in, _page, browser  # noqa: F401  (fixture)
from tests.console_stations.test_browser import served  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def test_rules_form_and_lists_in_a_browser(served: tuple[Flask, str], browser: Any, tmp_path: Path) -> None:  # noqa: F811
    app, base = served
    now = now_ms()
    with app.app_context(), db.transaction() as s:
        s.add(Reservation(reservation_id="rv-b-1", driver_id="501", sid="ST-A", gun="P1-2", created_at=now - 3600_000,
                          until=now - 1800_000, state="expired", fee_fen=300, fee_state="kept", ended_at=now - 1800_000,
                          no_show=True, release="confirmed"))
    problems: list[str] = []
    page = _page(browser, problems)
    page.set_default_timeout(10_000)
    _log_in(page, base, "ops")
    page.goto(base + "/stations/ST-A")
    page.wait_for_selector("#rules-form")
    assert not page.is_checked("#r-enabled")
    assert page.inner_text("#reservations tr[data-reservation='rv-b-1'] .rsv-state") == "已过期（爽约）"
    assert page.inner_text("#no-shows tr[data-driver='501'] .ns-count") == "1"

    page.check("#r-enabled")
    page.fill("#r-max", "40")
    page.select_option("#r-mode", "fixed")
    page.fill("#r-fee", "250")
    page.uncheck("#r-refund-cancel")
    page.fill("#r-limit", "2")
    page.fill("#r-days", "14")
    page.click("#r-save")
    page.wait_for_selector("#rules-reply.on")
    assert page.inner_text("#rules-reply") == "预约规则已保存。"
    with app.app_context():
        rule = service.get_rule(db.session, "ST-A")
        assert (rule.enabled, rule.max_minutes, rule.fee_mode, rule.fee_fen, rule.refund_on_cancel,
                rule.no_show_limit, rule.suspend_days) == (True, 40, "fixed", 250, False, 2, 14)
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "reservation_rules.set")).one()
        assert entry.actor == "ops" and entry.target == "ST-A"
    page.reload()
    page.wait_for_selector("#rules-form")
    assert page.is_checked("#r-enabled") and page.input_value("#r-max") == "40"
    assert page.input_value("#r-mode") == "fixed" and not page.is_checked("#r-refund-cancel")
    page.screenshot(path=str(tmp_path / "reservations-zh.png"), full_page=True)

    # a bad value: refused, with the field named, and nothing saved
    page.fill("#r-days", "0")
    page.click("#r-save")
    page.wait_for_selector("#rules-reply.err")
    assert "suspend_days" in page.inner_text("#rules-reply")
    with app.app_context():
        assert service.get_rule(db.session, "ST-A").suspend_days == 14

    # English
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("#rules-form")
    assert "Drivers may reserve guns here" in page.inner_text("#rules-form")
    assert page.inner_text("#reservations tr[data-reservation='rv-b-1'] .rsv-state") == "expired (no-show)"
    page.screenshot(path=str(tmp_path / "reservations-en.png"), full_page=True)
    assert problems == []
