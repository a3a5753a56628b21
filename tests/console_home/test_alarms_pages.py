"""The alarms pages through Flask's test client: active and past lists with raise and clear
times, filters, acknowledge with a note (audited), SMS recipients; owner scope; refusals."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from cloud.alarms import service as alarms
from cloud.alarms.models import Alarm
from cloud.audit.models import AuditEntry
from cloud.db import db
from tests.console.support import csrf_of, login
from tests.reports.factories import NOW, Seeded


@pytest.fixture(scope="module")
def with_alarms(seeded_app: tuple[Flask, Seeded]) -> Flask:
    app, _ = seeded_app
    with app.app_context(), db.transaction() as s:
        ev = alarms.EventIn
        alarms.apply_events(s, [
            ev("ST000", 9001, NOW - 600_000, "fault_raised", "P0-1", {"faults": ["over_temp"]}),
            ev("ST000", 9002, NOW - 300_000, "fault_cleared", "P0-1", {}),
            ev("ST001", 9003, NOW - 200_000, "meter_lost", None, {"error": "timeout"}),
        ])
    return app


def ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-id="(\d+)"', html)]


def test_active_and_past_with_filters_and_owner_scope(with_alarms: Flask) -> None:
    c = with_alarms.test_client()
    login(c, "root")
    with with_alarms.app_context():
        meter = db.session.scalars(select(Alarm).where(Alarm.key == "meter_lost")).one()
        fault = db.session.scalars(select(Alarm).where(Alarm.key == "fault:P0-1")).one()
    assert ids(c.get("/alarms/").text) == [meter.id]
    past = c.get("/alarms/?state=past").text
    assert ids(past) == [fault.id] and "over_temp" in past
    assert ids(c.get("/alarms/?state=all&sid=ST000").text) == [fault.id]
    assert ids(c.get("/alarms/?state=all&severity=critical").text) == []
    detail = c.get(f"/alarms/{fault.id}").text
    assert 'id="raised"' in detail and 'id="cleared"' in detail and "<td>raise</td>" in detail

    o = with_alarms.test_client()
    login(o, "own")  # owns ST000 only
    assert ids(o.get("/alarms/?state=all").text) == [fault.id]
    assert o.get(f"/alarms/{meter.id}").status_code == 404
    r = o.post(f"/alarms/{meter.id}/ack", data={"note": "x", "csrf_token": csrf_of(o, "/alarms/")})
    assert r.status_code == 404
    for bad in ("/alarms/abc", "/alarms/99999999999999999999999", "/alarms/?page=x"):
        assert c.get(bad).status_code in (400, 404), bad


def test_acknowledge_with_a_note_is_audited(with_alarms: Flask) -> None:
    c = with_alarms.test_client()
    login(c, "root")
    with with_alarms.app_context():
        meter = db.session.scalars(select(Alarm).where(Alarm.key == "meter_lost")).one()
    token = csrf_of(c, f"/alarms/{meter.id}")
    assert c.post(f"/alarms/{meter.id}/ack", data={"note": "x"}).status_code == 400  # no CSRF token
    r = c.post(f"/alarms/{meter.id}/ack", data={"note": "电表线松了", "csrf_token": token})
    assert r.status_code == 303
    page = c.get(f"/alarms/{meter.id}").text
    assert "电表线松了" in page and "root" in page
    again = c.post(f"/alarms/{meter.id}/ack", data={"note": "", "csrf_token": token})
    assert again.status_code == 400 and "已确认" in again.text
    too_long = c.post(f"/alarms/{meter.id}/ack", data={"note": "x" * 501, "csrf_token": token})
    assert too_long.status_code == 400
    with with_alarms.app_context():
        e = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alarm.acknowledge")).one()
        assert e.actor == "root" and e.target == f"alarm:{meter.id}" and e.detail["note"] == "电表线松了"
    f = with_alarms.test_client()
    login(f, "fin")  # finance reads alarms, may not acknowledge
    assert f.post(f"/alarms/{meter.id}/ack", data={"csrf_token": csrf_of(f, "/alarms/")}).status_code == 403


def test_sms_recipients_per_station(with_alarms: Flask) -> None:
    o = with_alarms.test_client()
    login(o, "own")
    token = csrf_of(o, "/alarms/recipients?sid=ST000")
    r = o.post("/alarms/recipients", data={"sid": "ST000", "phone": "138 0013 8000", "name": "张工", "csrf_token": token})
    assert r.status_code == 303
    assert "13800138000" in o.get("/alarms/recipients?sid=ST000").text
    bad = o.post("/alarms/recipients", data={"sid": "ST000", "phone": "12345", "csrf_token": token})
    assert bad.status_code == 400 and "手机号无效" in bad.text
    other = o.post("/alarms/recipients", data={"sid": "ST001", "phone": "13800138000", "csrf_token": token})
    assert other.status_code == 404 and "站点不存在" in other.text  # not the owner's: as if none
    r = with_alarms.test_client()
    login(r, "root")
    for sid, status in (("", 400), ("NOPE", 404)):
        refused = r.post("/alarms/recipients", data={"sid": sid, "phone": "13800138000",
                                                     "csrf_token": csrf_of(r, "/alarms/recipients")})
        assert refused.status_code == status and "站点不存在" in refused.text
    assert o.post("/alarms/recipients", data={"sid": "ST000", "remove": "13800138000", "csrf_token": token}).status_code == 303
    assert "13800138000" not in o.get("/alarms/recipients?sid=ST000").text
