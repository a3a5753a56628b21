"""The driver API with private piles (the real app, SQLite and PostgreSQL): a shared gun's
open-now in the station details and the QR scan (answers checked against
docs/api/cloud.openapi.yaml), and starts of others refused with the documented codes in
zh-CN and English while the owner's own start gets past the sharing check."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from cloud.fakes.server import FakeServer
from cloud.sharing import service as sharing
from tests.charging.support import ORDERS, ORIGIN, new_driver, seed, seed_station, top_up
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.drivers_api.support import BASE, error_code

SPEC = load_spec("cloud")
ALWAYS = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}
]


def _get(client: FlaskClient, path: str, h: dict[str, str]) -> dict:
    r = client.get(path, headers=h)
    assert r.status_code == 200, r.json
    ResponseChecker(SPEC)(
        path=path, method="GET", status=200, content_type=r.content_type, body=r.json
    )
    return r.json


def test_shared_gun_marks_and_refusals(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    owner_h, owner = new_driver(client, wechat, "owner")
    other_h, other = new_driver(client, wechat, "other")
    lat, lng = ORIGIN
    seed(
        app,
        lambda s: seed_station(s, "HOME", lat, lng, guns={"P1-1": "plugged", "P1-2": "plugged"}),
    )
    pile_id = seed(
        app, lambda s: sharing.register(s, str(owner), "HOME", "P1-1", commission_bp=1000).id
    )
    top_up(app, other, 10_000)
    top_up(app, owner, 10_000)

    guns = {g["gun"]: g for g in _get(client, f"{BASE}/stations/HOME", other_h)["guns"]}
    assert (
        guns["P1-1"]["shared"] == {"open_now": False, "windows": []}
        and guns["P1-2"]["shared"] is None
    )
    start = {"gun_code": "HOME-P1-1", "limit": {"mode": "amount", "value": 2000}}
    r = client.post(ORDERS, json=start, headers=other_h)
    assert (r.status_code, error_code(r)) == (409, "pile_closed")
    assert "暂停共享" in r.json["error"]["message"]
    r = client.post(ORDERS, json=start, headers={**other_h, "Accept-Language": "en"})
    assert "closed it to others" in r.json["error"]["message"]

    seed(app, lambda s: sharing.set_windows(s, str(owner), pile_id, ALWAYS))
    seed(app, lambda s: sharing.set_open(s, str(owner), pile_id, True))
    scan = _get(client, f"{BASE}/guns/HOME-P1-1", other_h)
    assert scan["gun"]["shared"]["open_now"] is True and len(scan["gun"]["shared"]["windows"]) == 7
    seed(app, lambda s: sharing.set_windows(s, str(owner), pile_id, []))
    r = client.post(ORDERS, json=start, headers=other_h)
    assert (r.status_code, error_code(r)) == (409, "pile_outside_hours")
    # the owner is never refused for sharing reasons (the start goes on to the station)
    r = client.post(ORDERS, json=start, headers=owner_h)
    assert error_code(r) not in ("pile_closed", "pile_outside_hours"), r.json


def test_the_station_list_filter_shared_open_now(
    app: Flask, client: FlaskClient, wechat: FakeServer
) -> None:
    """`shared=1` keeps the stations with a private pile open to others now: not while its
    switch is off, not outside its windows; with `free=1` and a point too. Answers checked
    against the OpenAPI document, a malformed value refused as documented."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    owner_h, owner = new_driver(client, wechat, "filter-owner")
    other_h, _ = new_driver(client, wechat, "filter-other")
    lat, lng = ORIGIN
    seed(app, lambda s: seed_station(s, "HOME", lat, lng, guns={"P1-1": "available"}))
    seed(app, lambda s: seed_station(s, "NEAR", lat + 0.001, lng, guns={"P1-1": "available"}))
    pile_id = seed(
        app, lambda s: sharing.register(s, str(owner), "HOME", "P1-1", commission_bp=1000).id
    )

    def listed(query: str) -> list[str]:
        path = f"{BASE}/stations"
        r = client.get(f"{path}?{query}", headers=other_h)
        assert r.status_code == 200, r.json
        ResponseChecker(SPEC)(
            path=path, method="GET", status=200, content_type=r.content_type, body=r.json
        )
        return [v["sid"] for v in r.json["stations"]]

    assert listed("shared=0") == ["HOME", "NEAR"]
    assert listed("shared=1") == []  # registered, closed
    seed(app, lambda s: sharing.set_windows(s, str(owner), pile_id, ALWAYS))
    assert listed("shared=1") == []  # hours, switch still off
    seed(app, lambda s: sharing.set_open(s, str(owner), pile_id, True))
    assert listed("shared=1") == ["HOME"]
    assert listed(f"shared=true&free=1&lat={lat}&lng={lng}") == ["HOME"]
    assert listed(f"lat={lat}&lng={lng}&free=1") == ["HOME", "NEAR"]
    # open, but today is outside its only window (another weekday)
    today = datetime.now(ZoneInfo("Asia/Shanghai")).weekday()
    other_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(today + 3) % 7]
    seed(
        app,
        lambda s: sharing.set_windows(
            s, str(owner), pile_id, [{"days": [other_day], "start": "00:00", "end": "24:00"}]
        ),
    )
    assert listed("shared=1") == []
    r = client.get(f"{BASE}/stations?shared=yes", headers=other_h)
    assert (r.status_code, error_code(r), r.json["error"].get("field")) == (
        400,
        "invalid_request",
        "shared",
    )
    ResponseChecker(SPEC)(
        path=f"{BASE}/stations", method="GET", status=400, content_type=r.content_type, body=r.json
    )
