"""The community moderation pages in headless Chromium (Playwright) against the app served
over HTTP: a driver's review and post (through the driver API) in the queue, hidden with a
click and gone from the drivers' list, the author banned, a sensitive word added, the page in
English after the language switch, no script error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cloud.fakes.server import FakeServer
from tests.charging.conftest import make_app
from tests.charging.support import new_driver, seed
from tests.community.support import seed_station, settled_order
from tests.console.support import make_operator
from tests.console.test_console_browser import _log_in, _page, _vendor_files, browser  # noqa: F401  (fixture)
from tests.drivers_api.support import BASE

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wechat: FakeServer) -> Iterator[tuple[Flask, str]]:
    _vendor_files()
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path, f"sqlite:///{tmp_path / 'browser.sqlite'}", wechat)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_moderation_in_a_browser(served: tuple[Flask, str], wechat: FakeServer, browser: Any) -> None:  # noqa: F811
    app, base = served
    d = app.test_client()
    h, me = new_driver(d, wechat, "writer")
    seed(app, seed_station, "S1")
    order = seed(app, settled_order, str(me), "S1")
    review = d.post(f"{BASE}/stations/S1/reviews", json={"order_id": order, "stars": 1, "text": "差评刷屏"},
                    headers=h).json
    d.post(f"{BASE}/stations/S1/posts", json={"text": "有人吗"}, headers=h)
    make_operator(app, "op", "operator")

    problems: list[str] = []
    page = _page(browser, problems)
    _log_in(page, base, "op")
    page.goto(base + "/community/")
    row = f'tr[data-review="{review["review_id"]}"]'
    assert "差评刷屏" in page.inner_text(row) and page.inner_text(f"{row} td.state") == "显示中"
    page.click(f"{row} button.hide-btn")
    page.wait_for_selector(f"{row} td.state:text('已隐藏')")
    assert d.get(f"{BASE}/stations/S1/reviews", headers=h).json["reviews"] == []
    page.fill(f"{row} input[name=reason]", "刷屏")
    page.click(f"{row} button.ban-btn")
    page.wait_for_selector("#bans td:text('刷屏')")
    assert d.post(f"{BASE}/stations/S1/posts", json={"text": "again"}, headers=h).status_code == 403

    page.click("#words-link")
    page.fill("#w-word", "刷单")
    page.click("#w-add")
    page.wait_for_selector("#words td:text('刷单')")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "Sensitive words" in page.inner_text("main h1")
    page.goto(base + "/community/")
    assert "Community moderation" in page.inner_text("main h1") and "Hidden" in page.inner_text(row)
    assert problems == []
