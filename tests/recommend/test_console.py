"""The console's weights form (area "recommend", admins only): saved through the form with
its CSRF token, audited, refused with the field named on bad input, closed to other roles;
and the same form in headless Chromium (Playwright) in Chinese and English."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from cloud.audit import service as audit
from cloud.db import db
from cloud.recommend import service
from tests.console.conftest import make_app
from tests.console.support import csrf_of, login, make_operator
from tests.console.test_console_browser import _log_in, _page, _shoot, _vendor_files, browser  # noqa: F401

FORM = {"distance": "150", "price": "100", "wait": "80", "power": "100", "history": "0", "rating": "200"}


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    make_operator(app, "root", "admin")
    make_operator(app, "ops", "operator")
    make_operator(app, "money", "finance")
    return app


def test_admin_saves_the_weights_and_the_change_is_audited(app: Flask) -> None:
    client = app.test_client()
    assert login(client, "root").status_code == 303
    page = client.get("/recommend/", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "充电推荐权重" in page.text and 'value="100"' in page.text
    r = client.post("/recommend/", data={**FORM, "csrf_token": csrf_of(client, "/recommend/")})
    assert r.status_code == 303 and r.headers["Location"].endswith("/recommend/?saved=1")
    with app.app_context():
        w = service.weights(db.session)
        assert (w.distance, w.wait, w.history, w.rating) == (1.5, 0.8, 0.0, 2.0)
        [entry] = audit.listing(db.session, action="recommend.").entries
        assert entry.actor.endswith("root") or "root" in entry.actor
        assert entry.detail == {"before": None, "after": {k: int(v) for k, v in FORM.items()}}
    r = client.post("/recommend/", data={**FORM, "wait": "90", "csrf_token": csrf_of(client, "/recommend/")})
    assert r.status_code == 303
    with app.app_context():
        latest = audit.listing(db.session, action="recommend.").entries[0]
        assert latest.detail["before"]["wait"] == 80 and latest.detail["after"]["wait"] == 90


@pytest.mark.parametrize("bad", ["-1", "1001", "abc", "", "1.5"])
def test_bad_input_names_the_field_and_changes_nothing(app: Flask, bad: str) -> None:
    client = app.test_client()
    login(client, "root")
    r = client.post("/recommend/", data={**FORM, "power": bad, "csrf_token": csrf_of(client, "/recommend/")},
                    headers={"Accept-Language": "en"})
    assert r.status_code == 400
    assert "Charging power (load level): a whole percent from 0 to 1000." in r.text
    with app.app_context():
        assert service.weights_row(db.session) is None
        assert audit.listing(db.session, action="recommend.").entries == []


@pytest.mark.parametrize("who", ["ops", "money"])
def test_other_roles_may_not_open_it(app: Flask, who: str) -> None:
    client = app.test_client()
    login(client, who)
    assert client.get("/recommend/").status_code == 403
    assert 'data-area="recommend"' not in client.get("/").text


# --- in a browser ---------------------------------------------------------------------------
@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    _vendor_files()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.mark.browser
def test_weights_form_in_a_browser(app: Flask, served: str, browser: Any) -> None:  # noqa: F811
    b = browser
    problems: list[str] = []
    page = _page(b, problems)
    _log_in(page, served, "root")
    page.click("#nav a[data-area=recommend]")
    page.wait_for_selector("#weights-form")
    assert page.inner_text("main h1") == "充电推荐权重"
    page.fill("#w-price", "300")
    page.click("#w-save")
    page.wait_for_selector("#saved")
    assert page.input_value("#w-price") == "300"
    assert "root" in page.inner_text("#changed")
    _shoot(page, "recommend-weights-zh")
    page.fill("#w-wait", "2000")
    page.click("#w-save")
    page.wait_for_selector("#form-error")
    assert "预计排队时间" in page.inner_text("#form-error")
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.goto(served + "/recommend/")
    assert page.inner_text("main h1") == "Recommendation weights"
    assert page.inner_text("#nav a[data-area=recommend]") == "Recommendations"
    _shoot(page, "recommend-weights-en")
    with app.app_context():
        assert service.weights(db.session).price == 3.0
    assert problems == []
