"""The console's community pages through Flask's test client: the moderation queue (hide and
show, ban and unban, in zh-CN and English), the sensitive-word list refusing a driver's post at
once, photos only in scope, and roles."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.community import service as community
from cloud.db import db
from cloud.fakes.server import FakeServer
from tests.charging.support import new_driver, seed
from tests.community.support import seed_station, settled_order
from tests.console.support import csrf_of, login, make_operator
from tests.drivers_api.support import BASE


def test_moderation_queue_hide_ban_and_words(app: Flask, wechat: FakeServer) -> None:
    d = app.test_client()
    h, me = new_driver(d, wechat, "writer")
    seed(app, seed_station, "S1")
    order = seed(app, settled_order, str(me), "S1")
    review = d.post(f"{BASE}/stations/S1/reviews", json={"order_id": order, "stars": 2, "text": "排队太久"},
                    headers=h).json
    post = d.post(f"{BASE}/stations/S1/posts", json={"text": "有人在吗"}, headers=h).json

    make_operator(app, "op", "operator")
    c = app.test_client()
    login(c, "op")
    page = c.get("/community/")
    assert page.status_code == 200
    assert f'data-review="{review["review_id"]}"' in page.text and "排队太久" in page.text and "社区管理" in page.text
    token = csrf_of(c, "/community/")
    en = app.test_client()
    login(en, "op")
    en.post("/lang", data={"lang": "en", "next": "/community/", "csrf_token": csrf_of(en, "/")})
    english = en.get("/community/").text
    assert '<html lang="en">' in english and "Community moderation" in english and "Ban author" in english
    r = c.post("/community/hide", data={"kind": "review", "id": review["review_id"], "hidden": "1", "csrf_token": token})
    assert r.status_code == 303
    assert d.get(f"{BASE}/stations/S1/reviews", headers=h).json["reviews"] == []
    hidden = c.get("/community/?state=hidden").text
    assert f'data-review="{review["review_id"]}"' in hidden and f'data-post="{post["post_id"]}"' not in hidden
    assert c.post("/community/hide", data={"kind": "review", "id": "999999", "hidden": "1",
                                           "csrf_token": token}).status_code == 404
    assert c.post("/community/hide", data={"kind": "nope", "id": "1", "hidden": "1",
                                           "csrf_token": token}).status_code == 404

    assert c.post("/community/ban", data={"driver_id": str(me), "reason": "spam", "csrf_token": token}).status_code == 303
    assert d.post(f"{BASE}/stations/S1/posts", json={"text": "again"}, headers=h).json["error"]["code"] == \
        "community_banned"
    assert "已禁言" in c.get("/community/").text
    c.post("/community/ban", data={"driver_id": str(me), "unban": "1", "csrf_token": token})
    assert d.post(f"{BASE}/stations/S1/posts", json={"text": "again"}, headers=h).status_code == 201

    words = c.get("/community/words")
    assert words.status_code == 200 and "敏感词" in words.text
    assert c.post("/community/words", data={"word": "  ", "csrf_token": token}).status_code == 400
    assert c.post("/community/words", data={"word": "Spam", "csrf_token": token}).status_code == 303
    assert "<td>spam</td>" in c.get("/community/words").text
    refused = d.post(f"{BASE}/stations/S1/posts", json={"text": "SPAM here"}, headers=h)
    assert refused.status_code == 422 and refused.json["error"]["code"] == "sensitive_word"
    c.post("/community/words", data={"remove": "spam", "csrf_token": token})
    assert "<td>spam</td>" not in c.get("/community/words").text

    with app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("community.%"))
                                          .order_by(AuditEntry.id)))
    assert actions == ["community.review.hide", "community.ban", "community.unban", "community.word.add",
                       "community.word.remove"]
    assert c.post("/community/words", data={"word": "x"}).status_code in (400, 403)  # no CSRF token

    make_operator(app, "fin", "finance")
    f = app.test_client()
    login(f, "fin")
    assert f.get("/community/").status_code == 200  # finance reads every area but operators
    assert f.post("/community/words", data={"word": "y", "csrf_token": csrf_of(f, "/community/words")}).status_code == 403
    make_operator(app, "own", "owner", stations=("S1",))
    o = app.test_client()
    login(o, "own")
    assert o.get("/community/").status_code == 403
    with app.app_context():
        assert community.words(db.session) == []
    assert re.search(r'<a[^>]+href="/community/"', c.get("/").text)  # in the navigation
