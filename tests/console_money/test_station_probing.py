"""A station owner cannot tell another owner's station from one that does not exist (audit
finding: /alarms/recipients answered them differently): every console endpoint taking a
station id — in its path (found in the URL map, so a new one is covered too) or as a
parameter — answers both with the same status and the same body, station id aside."""

from __future__ import annotations

import re

from flask import Flask

from cloud.db import db
from cloud.models.station import Gun
from tests.console.support import csrf_of, make_operator
from tests.console_money.test_money_pages import client_as

THEIRS, NOWHERE = "S2", "S404"  # another owner's station, and none at all
FILL = {"gun": "P1-1", "booking_id": "b1", "pile": "P1", "alarm_id": "1"}
# endpoints taking the station id as a query or form field: (method, path, fields)
BY_FIELD = [
    ("GET", "/alarms/recipients", {"sid": "{sid}"}),
    ("POST", "/alarms/recipients", {"sid": "{sid}", "phone": "13800138000", "name": "x"}),
    ("POST", "/alarms/recipients", {"sid": "{sid}", "remove": "13800138000"}),
    ("GET", "/alarms/", {"sid": "{sid}"}),
    ("GET", "/orders/", {"sid": "{sid}"}),
    ("GET", "/orders/export.csv", {"sid": "{sid}"}),
    ("POST", "/tariffs/assign", {"sid": "{sid}", "tariff_id": "x"}),
    ("POST", "/settlement/shares", {"sid": "{sid}", "electricity_bp": "1000", "service_bp": "1000",
                                    "idle_bp": "1000", "commission_bp": "0", "effective_day": "2099-01-01"}),
    ("POST", "/sharing/pairing", {"sid": "{sid}", "gun": "P1-1"}),
    ("POST", "/archives/tokens", {"sid": "{sid}"}),
]
CSRF = re.compile(r'(name="csrf_token" value=|"X-CSRFToken": ?|csrf-token" content=)"[^"]*"')


def normal(body: bytes, sid: str) -> str:
    text = body.decode("utf-8", "replace").replace(sid, "<sid>")
    return CSRF.sub(r"\1<csrf>", text)


def answer(c, method: str, path: str, fields: dict[str, str], sid: str, token: str) -> tuple[int, str]:
    data = {k: v.format(sid=sid) for k, v in fields.items()}
    if method == "GET":
        r = c.get(path.format(sid=sid), query_string=data)
    else:
        r = c.post(path.format(sid=sid), data={**data, "csrf_token": token})
    with r:
        return r.status_code, normal(r.get_data(), sid)


def path_endpoints(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if "sid" not in rule.arguments or rule.rule.startswith(("/api/", "/app/")):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:\w+:)?{name}>", "{sid}" if name == "sid" else FILL.get(name, "1"), path)
        for method in sorted(rule.methods & {"GET", "POST"}):
            out.append((method, path))
    return out


def test_another_owners_station_looks_like_none(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        s.add_all([Gun(sid=sid, gun_id="P1-1", pile_id="P1") for sid in ("S1", "S2")])
    make_operator(app, "own2", "owner", ("S2",))
    c = client_as(app, "own1")
    token = csrf_of(c, "/alarms/recipients")
    endpoints = [(m, p, {}) for m, p in path_endpoints(app)] + BY_FIELD
    assert len(endpoints) >= 20 and any("/stations/{sid}" in p for _, p, _ in endpoints)
    differ = []
    for method, path, fields in endpoints:
        theirs = answer(c, method, path, fields, THEIRS, token)
        nowhere = answer(c, method, path, fields, NOWHERE, token)
        if theirs != nowhere:
            differ.append((method, path, fields, theirs[0], nowhere[0]))
        if method == "GET" and (not fields or path == "/alarms/recipients"):
            # a page about one station: "no such station", whoever's it is
            assert theirs[0] == 404, (method, path, theirs[0])
        # and what was answered leaks nothing of the other owner's station
        assert "西门站" not in theirs[1], (method, path)
    assert differ == [], differ
    # the owner's own station is answered (the endpoints work: the 404s above are not by accident)
    assert c.get("/alarms/recipients", query_string={"sid": "S1"}).status_code == 200
    assert c.get("/stations/S1").status_code == 200 and c.get("/guns/S1/P1-1").status_code == 200
