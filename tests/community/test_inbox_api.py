"""The driver API's messages, templates and consents (every answer, errors included, checked
against docs/api/cloud.openapi.yaml), and the console's system notices: an admin publishes one
(an operator may only read the list), the driver reads it in their language, and the job
pushes it to the driver who allowed it through the fake WeChat."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from cloud.community import inbox
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.jobs import notices as job
from cloud.jobs.context import JobContext
from tests.charging.support import new_driver, seed
from tests.charging.test_openapi_walk import Walk
from tests.community.support import seed_station, settled_order
from tests.console.support import csrf_of, login, make_operator
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE

SPEC = load_spec("cloud")
HERE = Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == HERE}
NOTICE = "tpl-notice-1"


def test_messages_consents_and_a_published_notice_as_documented(
    app: Flask, wechat: FakeServer
) -> None:
    assert wechat.subscribe is not None and wechat.login is not None
    wechat.subscribe.templates[NOTICE] = inbox.NOTICE_KEYS
    app.config["WECHAT_SUBSCRIBE_NOTICE_TEMPLATE"] = NOTICE
    x = Walk(app.test_client())
    h, me = new_driver(x.client, wechat, "reader")
    h2, other = new_driver(x.client, wechat, "elsewhere")
    seed(app, seed_station, "S1")
    seed(app, seed_station, "S2")
    seed(app, settled_order, str(me), "S1")
    seed(app, settled_order, str(other), "S2")

    got = x("GET", f"{BASE}/message-templates", 200, headers=h)
    assert got == {
        "templates": {"reminder": None, "notice": NOTICE},
        "consents": {"reminder": 0, "notice": 0},
    }
    x("GET", f"{BASE}/message-templates", 401, "unauthorized")
    # the driver tapped "allow" for the notice template: WeChat counts it, the app reports it
    wechat.subscribe.accept(wechat.login.openid_for("reader"), NOTICE)
    left = x("POST", f"{BASE}/message-consents", 200, json={"accepted": ["notice"]}, headers=h)
    assert left == {"consents": {"reminder": 0, "notice": 1}}
    x(
        "POST",
        f"{BASE}/message-consents",
        400,
        "invalid_request",
        json={"accepted": ["spam"]},
        headers=h,
    )
    x("POST", f"{BASE}/message-consents", 400, "invalid_request", json={"accepted": []}, headers=h)
    x(
        "POST",
        f"{BASE}/message-consents",
        400,
        "invalid_request",
        json={"kinds": ["notice"]},
        headers=h,
    )
    x("POST", f"{BASE}/message-consents", 401, "unauthorized", json={"accepted": ["notice"]})
    assert x("GET", f"{BASE}/messages", 200, headers=h) == {"messages": [], "next_before": None}

    # the console: an operator reads, only an admin publishes
    make_operator(app, "op", "operator")
    make_operator(app, "boss", "admin")
    console = app.test_client()
    login(console, "op")
    page = console.get("/community/notices")
    assert page.status_code == 200 and 'id="notice-form"' not in page.text
    form = {
        "title_zh": "S1 站维护通知",
        "title_en": "S1 maintenance",
        "body_zh": "明天 0 点至 6 点停业维护。",
        "body_en": "Closed tomorrow from 00:00 to 06:00.",
        "audience": "stations",
        "sids": "S1",
    }
    assert (
        console.post(
            "/community/notices", data={**form, "csrf_token": csrf_of(console, "/community/")}
        ).status_code
        == 403
    )
    admin = app.test_client()
    login(admin, "boss")
    token = csrf_of(admin, "/community/notices")
    bad = admin.post("/community/notices", data={**form, "sids": "NOPE", "csrf_token": token})
    assert bad.status_code == 400 and 'id="notice-error"' in bad.text
    r = admin.post("/community/notices", data={**form, "csrf_token": token})
    assert r.status_code == 303
    listed = admin.get("/community/notices").text
    assert "S1 maintenance" in listed and '<td class="recipients">1</td>' in listed
    assert "系统通知" in listed and "全部车主" in admin.get("/community/notices").text  # Chinese first

    with app.app_context():
        job.run(JobContext(engine=db.engine, holder="jobs-test", config=app.config))
    [pushed] = [m for m in wechat.subscribe.sent if m["template_id"] == NOTICE]
    assert pushed["touser"] == wechat.login.openid_for("reader")
    en = x("GET", f"{BASE}/messages?limit=5", 200, headers={**h, "Accept-Language": "en"})
    [m] = en["messages"]
    assert (m["kind"], m["title"], m["text"], m["pushed"]) == (
        "notice",
        "S1 maintenance",
        "Closed tomorrow from 00:00 to 06:00.",
        True,
    )
    zh = x("GET", f"{BASE}/messages", 200, headers={**h, "Accept-Language": "zh-CN"})
    assert zh["messages"][0]["title"] == "S1 站维护通知"
    assert x("GET", f"{BASE}/messages?before={m['id']}", 200, headers=h)["messages"] == []
    assert x("GET", f"{BASE}/messages", 200, headers=h2)["messages"] == []  # a driver of S2 only
    x("GET", f"{BASE}/messages?limit=0", 400, "invalid_request", headers=h)
    x("GET", f"{BASE}/messages?page=2", 400, "invalid_request", headers=h)
    x("GET", f"{BASE}/messages", 401, "unauthorized")
    assert x("GET", f"{BASE}/message-templates", 200, headers=h)["consents"]["notice"] == 0  # used

    seen = {(p, m.lower()) for p, m, c in x.check.seen if 200 <= c < 300}
    assert len(MINE) == 3 and MINE <= seen, sorted(MINE - seen)
