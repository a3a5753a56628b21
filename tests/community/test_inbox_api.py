"""The driver API's messages, templates and consents (every answer, errors included, checked
against docs/api/cloud.openapi.yaml), and the console's system notices: an admin publishes one
(an operator may only read the list), the driver reads it in their language, and the job
pushes it to the driver who allowed it through the fake WeChat. Then the read state (unread
count, one read, all read; another driver's message is 404 and stays unread) and the
driver's reminder lead time."""

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
READ_STATE = {
    (f"{BASE}/messages/unread-count", "get"),
    (f"{BASE}/messages/{{message_id}}/read", "post"),
    (f"{BASE}/messages/read-all", "post"),
    (f"{BASE}/message-settings", "get"),
    (f"{BASE}/message-settings", "put"),
}
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
    assert x("GET", f"{BASE}/messages", 200, headers=h) == {
        "messages": [],
        "next_before": None,
        "unread": 0,
    }

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
    assert len(MINE) == 8 and MINE - READ_STATE <= seen, sorted(MINE - READ_STATE - seen)


def test_read_state_and_lead_time_as_documented_and_never_across_drivers(
    app: Flask, wechat: FakeServer
) -> None:
    x = Walk(app.test_client())
    h, me = new_driver(x.client, wechat, "reader")
    h2, other = new_driver(x.client, wechat, "elsewhere")
    seed(app, seed_station, "S1")
    values = {"title_zh": "通知", "title_en": "Notice", "body_zh": "正文", "body_en": "Text"}
    with app.app_context(), db.transaction() as s:
        for n in range(3):
            inbox.publish_notice(s, {**values, "audience": "all"}, actor="admin1", now=1000 + n)
    en = {"Accept-Language": "en"}
    assert x("GET", f"{BASE}/messages/unread-count", 200, headers=h) == {"unread": 3}
    x("GET", f"{BASE}/messages/unread-count", 401, "unauthorized")
    listed = x("GET", f"{BASE}/messages", 200, headers=h)
    assert listed["unread"] == 3 and [m["unread"] for m in listed["messages"]] == [True] * 3
    newest, middle, oldest = (m["id"] for m in listed["messages"])
    theirs = [m["id"] for m in x("GET", f"{BASE}/messages", 200, headers=h2)["messages"]]

    # opening one: read, once
    got = x("POST", f"{BASE}/messages/{oldest}/read", 200, headers={**h, **en})
    assert got["unread"] == 2 and got["message"]["id"] == oldest
    assert (got["message"]["unread"], got["message"]["title"]) == (False, "Notice")
    first = got["message"]["read_at"]
    again = x("POST", f"{BASE}/messages/{oldest}/read", 200, json={}, headers=h)
    assert again["message"]["read_at"] == first and again["unread"] == 2
    # another driver's message, or none at all: 404, and theirs stays unread
    # a cursor anywhere in the documented range pages; past it, 400
    assert x("GET", f"{BASE}/messages?before={2**62}", 200, headers=h)["unread"] == 2
    x("GET", f"{BASE}/messages?before={2**62 + 1}", 400, "invalid_request", headers=h)
    # ids past the database's 64-bit integers too (schemathesis found a 500 there)
    for mid in (theirs[0], 10**9, 2**63, 2**64, 10**35):
        x("POST", f"{BASE}/messages/{mid}/read", 404, "not_found", headers=h)
    x("POST", f"{BASE}/messages/{oldest}/read", 404, "not_found", headers=h2)  # reader's
    assert x("GET", f"{BASE}/messages/unread-count", 200, headers=h2) == {"unread": 3}
    x("POST", f"{BASE}/messages/{oldest}/read", 400, "invalid_request", json={"x": 1}, headers=h)
    x("POST", f"{BASE}/messages/{oldest}/read", 401, "unauthorized")

    # all read up to the newest shown: one arriving since stays unread
    with app.app_context(), db.transaction() as s:
        inbox.publish_notice(s, {**values, "audience": "all"}, actor="admin1", now=2000)
    done = x("POST", f"{BASE}/messages/read-all", 200, json={"up_to": newest}, headers=h)
    assert done == {"marked": 2, "unread": 1}
    assert [m["unread"] for m in x("GET", f"{BASE}/messages", 200, headers=h)["messages"]] == [
        True,
        False,
        False,
        False,
    ]
    x("POST", f"{BASE}/messages/read-all", 400, "invalid_request", json={"up_to": "x"}, headers=h)
    x("POST", f"{BASE}/messages/read-all", 401, "unauthorized")
    assert x("POST", f"{BASE}/messages/read-all", 200, headers=h) == {"marked": 1, "unread": 0}
    assert x("GET", f"{BASE}/messages/unread-count", 200, headers=h2) == {"unread": 4}
    assert middle not in theirs

    # the reminder lead time: the operator's choices, the driver's pick, back to the default
    app.config["RESERVATION_REMIND_CHOICES"] = "5,15,30"
    got = x("GET", f"{BASE}/message-settings", 200, headers=h)
    assert got == {
        "remind_minutes": 10,
        "chosen": None,
        "default": 10,
        "choices": [0, 5, 10, 15, 30],
        "consents": {"reminder": 0, "notice": 0},
    }
    put = x("PUT", f"{BASE}/message-settings", 200, json={"remind_minutes": 30}, headers=h)
    assert (put["remind_minutes"], put["chosen"]) == (30, 30)
    assert x("GET", f"{BASE}/message-settings", 200, headers=h2)["remind_minutes"] == 10
    for bad in (20, -1, "10", True):
        x(
            "PUT",
            f"{BASE}/message-settings",
            400,
            "invalid_request",
            json={"remind_minutes": bad},
            headers=h,
        )
    x("PUT", f"{BASE}/message-settings", 400, "invalid_request", json={}, headers=h)
    assert x("GET", f"{BASE}/message-settings", 200, headers=h)["chosen"] == 30
    off = x("PUT", f"{BASE}/message-settings", 200, json={"remind_minutes": 0}, headers=h)
    assert off["remind_minutes"] == 0
    back = x("PUT", f"{BASE}/message-settings", 200, json={"remind_minutes": None}, headers=h)
    assert (back["remind_minutes"], back["chosen"]) == (10, None)
    x("GET", f"{BASE}/message-settings", 401, "unauthorized")
    x("PUT", f"{BASE}/message-settings", 401, "unauthorized", json={"remind_minutes": 5})

    seen = {(p, m.lower()) for p, m, c in x.check.seen if 200 <= c < 300}
    assert READ_STATE <= MINE and READ_STATE <= seen, sorted(READ_STATE - seen)
