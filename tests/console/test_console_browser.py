"""The console in headless Chromium (Debian's, through Playwright) against a cloud served over
HTTP: log in, the layout's scripts (htmx, Alpine) load under the CSP, the language switch,
a form without its CSRF token refused, an htmx POST carrying the token from the layout, an
owner's view. Screenshots of every page built so far, in Chinese and English, go to
test-artifacts/console/ (or $JC_TEST_ARTIFACTS/console/); docs/console.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cloud.db import db
from cloud.models import Station, StationState
from tests.console.conftest import make_app
from tests.console.support import PASSWORD, make_operator
from tests.support.browser import chromium
from tests.support.services import missing

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "cloud" / "web" / "static" / "vendor"
ARTIFACTS = Path(os.environ.get("JC_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "console"

pytestmark = pytest.mark.browser


def _vendor_files() -> None:
    """The vendor copy scripts/setup.sh makes; made here from node_modules when missing."""
    if (VENDOR / "htmx.min.js").exists():
        return
    if not (ROOT / "node_modules" / "htmx.org").exists() or not shutil.which("node"):
        missing("the console's front-end packages are not installed: run scripts/setup.sh")
    subprocess.run(["node", str(ROOT / "scripts" / "build-console.js")], check=True, cwd=ROOT, timeout=60)


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flask, str]]:
    _vendor_files()
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    with app.app_context(), db.transaction() as s:
        s.add_all([Station(sid="S1", name="东门站"), Station(sid="S2", name="西门站")])
        s.flush()
        s.add_all([StationState(sid="S1", online=True, fw="1.4.0"), StationState(sid="S2", online=False)])
    make_operator(app, "root", "admin")
    make_operator(app, "owner2", "owner", ("S2",))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


def _page(browser: Any, problems: list[str]) -> Any:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page


def _log_in(page: Any, base: str, name: str) -> None:
    page.goto(base + "/")
    page.wait_for_selector("#login-form")
    page.fill("#login", name)
    page.fill("#password", PASSWORD)
    page.click("#login-submit")
    page.wait_for_selector("#nav")
    # deferred scripts run before DOMContentLoaded, not when #nav is parsed
    page.wait_for_load_state("domcontentloaded")


def _shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_console_in_a_browser(served: tuple[Flask, str], browser: Any) -> None:
    app, base = served
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(base + "/")
    page.wait_for_selector("#login-form")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    _shoot(page, "login-zh")
    # a wrong password: the generic refusal
    page.fill("#login", "root")
    page.fill("#password", "not the password")
    page.click("#login-submit")
    assert "登录名或密码错误" in page.inner_text("#login-error")
    _log_in(page, base, "root")
    # the layout's scripts are served from node_modules' copy and run under the CSP
    page.wait_for_function("typeof window.htmx === 'object' && typeof window.Alpine === 'object'", timeout=10_000)
    assert page.evaluate("htmx.version").startswith("2.")
    assert page.inner_text("#nav a[data-area=home]") == "首页"
    assert "东门站" in page.inner_text("#stations") and "在线" in page.inner_text("#stations")
    pages = {"home": "/", "operators": "/operators/", "operator-new": "/operators/new", "audit": "/audit/"}
    for name, path in pages.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        _shoot(page, f"{name}-zh")
    # Alpine: the stations field shows only for an owner
    page.goto(base + "/operators/new")
    assert not page.is_visible("#f-stations")
    page.select_option("#f-role", "owner")
    page.wait_for_selector("#f-stations", state="visible")
    # a form posted without its CSRF token is refused
    page.fill("#f-login", "mallory")
    page.fill("#f-password", "mallory's long password")
    page.evaluate("document.querySelector('#operator-form input[name=csrf_token]').remove()")
    page.click("#f-save")
    page.wait_for_selector("#csrf-refused")
    # an htmx POST carries the token in its header, from the layout: accepted
    page.goto(base + "/operators/new")
    page.fill("#f-login", "carol")
    page.fill("#f-password", "carol's long password")
    page.evaluate("document.querySelector('#operator-form input[name=csrf_token]').remove()")
    page.evaluate("htmx.ajax('POST', '/operators/new', {source: '#operator-form', target: 'main'})")
    page.wait_for_selector("#operators")
    assert "carol" in page.inner_text("#operators") and "mallory" not in page.inner_text("#operators")
    # English at a click, on the page one is on
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.inner_text("#nav a[data-area=operators]") == "Operators"
    for name, path in pages.items():
        page.goto(base + path)
        page.wait_for_selector("main h1")
        _shoot(page, f"{name}-en")
    page.goto(base + "/audit/")
    audit_text = page.inner_text("#audit")
    assert "operator.create" in audit_text and "operator:carol" in audit_text and "login.failed" in audit_text
    page.click("#logout")
    page.wait_for_selector("#login-form")
    assert page.evaluate("document.documentElement.lang") == "en"
    _shoot(page, "login-en")
    # a station owner sees their own station only, and no operators or audit log
    _log_in(page, base, "owner2")
    assert "西门站" in page.inner_text("main") and "东门站" not in page.inner_text("main")
    assert page.locator("#nav a[data-area=operators]").count() == 0
    page.goto(base + "/audit/")
    assert page.is_visible("#forbidden")
    _shoot(page, "owner-home-forbidden-en")
    assert problems == []
