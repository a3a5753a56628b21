"""The community routes of the driver API, every answer (errors included) checked against
docs/api/cloud.openapi.yaml; and the proof of the broken-gun report: reported through the API,
the alarm is on the console's alarms page (Flask test client, an operator logged in), the
operator acknowledges it with a resolution, and the driver sees the report closed."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from flask import Flask

from cloud.fakes.server import FakeServer
from tests.charging.support import new_driver, seed
from tests.charging.test_openapi_walk import Walk
from tests.community.support import png, seed_station, settled_order
from tests.console.support import csrf_of, login, make_operator
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE

SPEC = load_spec("cloud")
HERE = Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == HERE}


def test_every_community_operation_as_documented(app: Flask, wechat: FakeServer) -> None:
    x = Walk(app.test_client())
    h, me = new_driver(x.client, wechat, "reviewer")
    h2, other = new_driver(x.client, wechat, "stranger")
    seed(app, seed_station, "S1")
    seed(app, seed_station, "S2")
    order = seed(app, settled_order, str(me), "S1")
    elsewhere = seed(app, settled_order, str(me), "S2")

    img = base64.b64encode(png()).decode()
    photo = x("POST", f"{BASE}/photos", 201, json={"content_base64": img}, headers=h)
    assert photo["mime"] == "image/png"
    x("POST", f"{BASE}/photos", 400, "photo_invalid", json={"content_base64": base64.b64encode(b"GIF89a" * 20).decode()},
      headers=h)
    x("POST", f"{BASE}/photos", 400, "photo_invalid", json={"content_base64": "%%%not base64"}, headers=h)
    x("POST", f"{BASE}/photos", 400, "invalid_request", json={"content": img}, headers=h)
    x("POST", f"{BASE}/photos", 401, "unauthorized", json={"content_base64": img})

    reviews = f"{BASE}/stations/S1/reviews"
    x("POST", reviews, 403, "review_not_allowed", json={"order_id": elsewhere, "stars": 5, "text": "x"}, headers=h)
    x("POST", reviews, 403, "review_not_allowed", json={"order_id": order, "stars": 5, "text": "x"}, headers=h2)
    x("POST", reviews, 400, "invalid_request", json={"order_id": order, "stars": 9, "text": "x"}, headers=h)
    x("POST", f"{BASE}/stations/NOPE/reviews", 404, "not_found", json={"order_id": order, "stars": 5, "text": "x"},
      headers=h)
    made = x("POST", reviews, 201, json={"order_id": order, "stars": 5, "text": "快又稳",
                                          "photo_ids": [photo["photo_id"]]}, headers=h)
    x("POST", reviews, 409, "review_exists", json={"order_id": order, "stars": 4, "text": "again"}, headers=h)
    listed = x("GET", reviews + "?limit=5", 200, headers=h2)
    assert listed["count"] == 1 and listed["reviews"][0]["review_id"] == made["review_id"]
    x("GET", reviews + "?limit=0", 400, "invalid_request", headers=h2)
    x("GET", f"{BASE}/stations/NOPE/reviews", 404, "not_found", headers=h2)
    pic = x.client.get(f"{reviews}/photos/{photo['photo_id']}", headers=h2)
    assert pic.status_code == 200 and pic.mimetype == "image/png" and pic.data == png()
    x.check(path=f"{BASE}/stations/{{sid}}/reviews/photos/{{photo_id}}", method="GET", status=200,
            content_type=pic.content_type, body=pic.data.decode("latin-1"))
    x("GET", f"{BASE}/stations/S2/reviews/photos/{photo['photo_id']}", 404, "not_found", headers=h2)

    posts = f"{BASE}/stations/S1/posts"
    post = x("POST", posts, 201, json={"text": "夜里能充吗？"}, headers=h2)
    reply = x("POST", posts, 201, json={"text": "可以", "parent_id": post["post_id"]}, headers=h)
    assert reply["parent_id"] == post["post_id"]
    x("POST", posts, 404, "not_found", json={"text": "x", "parent_id": reply["post_id"]}, headers=h)
    x("POST", posts, 400, "invalid_request", json={"text": ""}, headers=h)
    got = x("GET", posts, 200, headers=h)
    assert [(p["text"], [r["text"] for r in p["replies"]]) for p in got["posts"]] == [("夜里能充吗？", ["可以"])]

    from cloud.community import service

    seed(app, lambda s: service.add_word(s, "广告", actor="test"))
    err = x("POST", posts, 422, "sensitive_word", json={"text": "加我看广告"}, headers={**h, "Accept-Language": "en"})
    assert "广告" in err["error"]["message"]
    seed(app, lambda s: service.ban(s, str(other), reason="spam", actor="test"))
    x("POST", posts, 403, "community_banned", json={"text": "hello"}, headers=h2)

    gun = f"{BASE}/gun-reports"
    x("POST", gun, 404, "not_found", json={"gun_code": "NOPE", "reason": "no_power"}, headers=h2)
    x("POST", gun, 400, "invalid_request", json={"gun_code": "S1-P1-1", "reason": "meh"}, headers=h2)
    rep = x("POST", gun, 201, json={"gun_code": "S1-P1-1", "reason": "no_power", "text": "屏幕黑"}, headers=h2)
    assert rep["state"] == "open"
    assert x("GET", gun, 200, headers=h2)["reports"][0]["report_id"] == rep["report_id"]
    assert x("GET", gun, 200, headers=h)["reports"] == []
    x("GET", f"{gun}/{rep['report_id']}", 200, headers=h2)
    x("GET", f"{gun}/{rep['report_id']}", 404, "not_found", headers=h)
    # a report's photo: to the driver who filed it only
    shot = x(
        "POST",
        f"{BASE}/photos",
        201,
        json={"content_base64": base64.b64encode(png(3, 2)).decode()},
        headers=h,
    )
    mine = x(
        "POST",
        gun,
        201,
        json={"gun_code": "S1-P1-1", "reason": "cable_damaged", "photo_id": shot["photo_id"]},
        headers=h,
    )
    assert mine["photo_id"] == shot["photo_id"]
    pic = x.client.get(f"{gun}/{mine['report_id']}/photo", headers=h)
    assert pic.status_code == 200 and pic.mimetype == "image/png" and pic.data == png(3, 2)
    assert pic.headers["X-Content-Type-Options"] == "nosniff"
    x.check(
        path=f"{BASE}/gun-reports/{{report_id}}/photo",
        method="GET",
        status=200,
        content_type=pic.content_type,
        body=pic.data.decode("latin-1"),
    )
    # another driver's report, then one filed without a photo
    x("GET", f"{gun}/{mine['report_id']}/photo", 404, "not_found", headers=h2)
    x("GET", f"{gun}/{rep['report_id']}/photo", 404, "not_found", headers=h2)
    x("GET", f"{gun}/gr-nope/photo", 404, "not_found", headers=h)
    x("GET", f"{gun}/{mine['report_id']}/photo", 401, "unauthorized")
    # nor is it a review photo anyone may fetch
    x("GET", f"{BASE}/stations/S1/reviews/photos/{shot['photo_id']}", 404, "not_found", headers=h)

    seen = {(p, m.lower()) for p, m, c in x.check.seen if 200 <= c < 300}
    assert MINE and MINE <= seen, sorted(MINE - seen)


def test_broken_gun_report_is_an_alarm_on_the_console_and_closes_with_its_resolution(
        app: Flask, wechat: FakeServer) -> None:
    driver = app.test_client()
    h, _ = new_driver(driver, wechat, "reporter")
    seed(app, seed_station, "S1")
    photo = driver.post(f"{BASE}/photos", json={"content_base64": base64.b64encode(png()).decode()}, headers=h).json
    rep = driver.post(f"{BASE}/gun-reports", json={"gun_code": "S1-P1-1", "reason": "cable_damaged",
                                                   "text": "线缆破皮", "photo_id": photo["photo_id"]}, headers=h).json
    assert rep["state"] == "open", rep

    make_operator(app, "op", "operator")
    console = app.test_client()
    login(console, "op")
    page = console.get("/alarms/?state=active").text
    ids = re.findall(r'<tr data-id="(\d+)"', page)
    assert len(ids) == 1 and "driver_report" in page and "S1" in page
    detail = console.get(f"/alarms/{ids[0]}").text
    assert "cable_damaged: 线缆破皮" in detail and f"/community/photos/{photo['photo_id']}" in detail
    shot = console.get(f"/community/photos/{photo['photo_id']}")
    assert shot.status_code == 200 and shot.data == png()

    r = console.post(f"/alarms/{ids[0]}/ack", data={"note": "已更换线缆", "csrf_token": csrf_of(console, "/alarms/")})
    assert r.status_code == 303
    assert re.findall(r'<tr data-id="(\d+)"', console.get("/alarms/?state=active").text) == []
    closed = driver.get(f"{BASE}/gun-reports/{rep['report_id']}", headers=h).json
    assert (closed["state"], closed["resolution"]) == ("closed", "已更换线缆") and closed["closed_at"]
