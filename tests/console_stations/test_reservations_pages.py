"""The station page's reservations (cloud/web/pages/reservations.py) through Flask's test
client: the rules form saved and audited, a bad rule refused with its field, read-only roles
and other owners kept out, and the station's reservations and no-shows listed in Chinese
and English."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.models import now_ms
from cloud.reservations import service
from cloud.reservations.models import Reservation
from tests.console.support import csrf_of, login

FORM = {"enabled": "on", "max_minutes": "45", "fee_mode": "fixed", "fee_fen": "300", "refund_on_start": "on",
        "keep_on_no_show": "on", "no_show_limit": "3", "suspend_days": "7"}


def _as(client: FlaskClient, who: str) -> FlaskClient:
    assert login(client, who).status_code == 303
    return client


def test_rules_form_saves_audited_rules(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "ops")
    page = client.get("/stations/ST-A").text
    assert 'id="rules-form"' in page and "允许车主在本站预约充电枪" in page and 'id="no-reservations"' in page
    token = csrf_of(client, "/stations/ST-A")
    r = client.post("/stations/ST-A/reservation-rules", data={**FORM, "csrf_token": token}, headers={"HX-Request": "1"})
    assert r.status_code == 200 and "预约规则已保存。" in r.text
    with app.app_context():
        rule = service.get_rule(db.session, "ST-A")
        assert (rule.enabled, rule.max_minutes, rule.fee_mode, rule.fee_fen) == (True, 45, "fixed", 300)
        assert (rule.refund_on_start, rule.refund_on_cancel, rule.keep_on_no_show) == (True, False, True)
        assert (rule.no_show_limit, rule.suspend_days) == (3, 7)
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "reservation_rules.set")).all()
        assert entry.actor == "ops" and entry.target == "ST-A" and entry.detail["changed"]["max_minutes"] == [30, 45]
    # the form shows what is saved
    page = client.get("/stations/ST-A").text
    assert 'id="r-max" value="45"' in page and '<option value="fixed" selected>' in page
    # a bad value: refused with its field, nothing changed
    r = client.post("/stations/ST-A/reservation-rules", data={**FORM, "max_minutes": "2", "csrf_token": token})
    assert r.status_code == 400 and "max_minutes" in r.text
    r = client.post("/stations/ST-A/reservation-rules", data={**FORM, "fee_fen": "0", "csrf_token": token})
    assert r.status_code == 400 and "fee_fen" in r.text
    r = client.post("/stations/ST-A/reservation-rules", data=FORM)  # no CSRF token
    assert r.status_code == 400
    with app.app_context():
        assert service.get_rule(db.session, "ST-A").max_minutes == 45
    # the fee from the tariff's own reservation fee (set in the tariff editor)
    assert '<option value="tariff" >按电价中的预约费计</option>' in client.get("/stations/ST-A").text
    r = client.post("/stations/ST-A/reservation-rules", data={**FORM, "fee_mode": "tariff", "csrf_token": token})
    assert r.status_code == 200
    with app.app_context():
        assert service.get_rule(db.session, "ST-A").fee_mode == "tariff"
    assert "按电价中的预约费计" in client.get("/stations/ST-A").text


def test_read_only_roles_and_other_owners_cannot_change_rules(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "fin")
    page = client.get("/stations/ST-A").text
    assert 'id="rules-form"' not in page and 'id="rules-view"' in page and "本站不接受预约。" in page
    r = client.post("/stations/ST-A/reservation-rules", data={**FORM, "csrf_token": csrf_of(client, "/stations/ST-A")})
    assert r.status_code == 403
    other = app.test_client()
    _as(other, "owner-b")
    r = other.post("/stations/ST-A/reservation-rules", data={**FORM, "csrf_token": csrf_of(other, "/stations/ST-B")})
    assert r.status_code in (403, 404)
    with app.app_context():
        assert service.get_rule(db.session, "ST-A").enabled is False


def test_reservations_and_no_shows_listed_in_both_languages(app: Flask, client: FlaskClient, seeded: dict) -> None:
    now = now_ms()
    with app.app_context(), db.transaction() as s:
        s.add_all([
            Reservation(reservation_id="rv-noshow-1", driver_id="77", sid="ST-A", gun="P1-2", created_at=now - 3600_000,
                        until=now - 3000_000, state="expired", fee_fen=300, fee_state="kept", ended_at=now - 3000_000,
                        no_show=True, offline_at_end=True, release="pending"),
            Reservation(reservation_id="rv-used-1", driver_id="78", sid="ST-A", gun="P1-2", created_at=now - 600_000,
                        until=now + 600_000, state="used", fee_fen=300, fee_state="refunded", ended_at=now - 500_000,
                        order_id="ORD-A1"),
            Reservation(reservation_id="rv-other", driver_id="79", sid="ST-B", gun="P1-1", created_at=now - 600_000,
                        until=now - 1, state="expired", fee_fen=0, no_show=True, release="confirmed"),
        ])
    _as(client, "owner-a")
    page = client.get("/stations/ST-A").text
    assert 'data-reservation="rv-noshow-1"' in page and 'data-reservation="rv-used-1"' in page
    assert "rv-other" not in page  # another station's
    assert "已过期（爽约）" in page and "结束时站点离线" in page and "已使用" in page
    assert page.split('data-driver="77"')[1].split('class="ns-count">')[1].startswith("1<")
    assert 'data-driver="79"' not in page
    client.post("/lang", data={"lang": "en", "csrf_token": csrf_of(client, "/stations/ST-A"), "next": "/stations/ST-A"})
    page = client.get("/stations/ST-A").text
    assert "expired (no-show)" in page and "station offline at the end" in page and "No-shows in the last 30 days" in page
