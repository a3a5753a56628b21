"""The battery-swap console pages (cloud/web/pages/swap.py) through Flask's test client: bays,
packs by type and state and bookings shown in Chinese and English; the bay and pack forms
saved and audited, a bad value refused with nothing changed; a booking's swap marked done
(fee by the rules, the pack handed out charging); read-only roles and other owners kept out."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.ledger import service as ledger
from cloud.models import now_ms
from cloud.reservations import service as reservations
from cloud.swap import service
from cloud.swap.models import SwapBay, SwapBooking, SwapPack
from tests.console.support import csrf_of, login

SLOT = 600_000


def _as(client: FlaskClient, who: str) -> FlaskClient:
    assert login(client, who).status_code == 303
    return client


def _swap_station(app: Flask) -> str:
    """ST-A made a swap station with a bay, a ready pack, and a driver's booking of it."""
    with app.app_context(), db.transaction() as s:
        service.set_swap_station(s, "ST-A", actor="t")
        service.set_bay(s, "ST-A", "B1", "free", actor="t")
        service.set_pack_type(s, "NIO-75", name="75 kWh", kwh=75, charge_minutes=45, actor="t")
        service.set_pack(s, "ST-A", "PK1", type_code="NIO-75", state="ready", actor="t")
        reservations.set_rule(s, "ST-A", {"enabled": True, "max_minutes": 60, "fee_mode": "fixed", "fee_fen": 300,
                                          "refund_on_start": False}, actor="t")
        ledger.top_up(s, "d-swap", 1000, "t:d-swap")
    with app.app_context():
        t = now_ms()
        b = service.book(db.transaction, driver_id="d-swap", sid="ST-A", type_code="NIO-75",
                         slot_start=t - t % SLOT + SLOT)
    return b["booking_id"]


def test_page_shows_bays_packs_and_bookings_in_both_languages(app: Flask, client: FlaskClient, seeded: dict) -> None:
    bid = _swap_station(app)
    _as(client, "ops")
    assert 'id="swap-link"' in client.get("/stations/").text
    page = client.get("/swap").text
    assert 'data-sid="ST-A"' in page and "换电站" in page and 'data-sid="ST-B"' not in page
    page = client.get("/swap/ST-A").text
    assert 'data-bay="B1"' in page and "空闲" in page
    assert '<tr data-type="NIO-75">' in page and '<td class="t-ready">1</td>' in page and '<td class="t-booked">1</td>' in page
    assert f'data-booking="{bid}"' in page and "已预约" in page and "换电完成" in page
    en = client.get("/swap/ST-A", headers={"Accept-Language": "en"}).text
    assert "Battery-swap station" in en and "Swap done" in en and ">free<" in en
    assert client.get("/swap/ST-B").status_code == 404  # not a swap station


def test_forms_save_audited_stock_and_refuse_bad_values(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _swap_station(app)
    _as(client, "ops")
    token = csrf_of(client, "/swap/ST-A")
    r = client.post("/swap/ST-A/bays", data={"bay_id": "B1", "state": "maintenance", "csrf_token": token})
    assert r.status_code == 303
    r = client.post("/swap/ST-A/packs", data={"pack_id": "PK2", "type_code": "NIO-75", "state": "charging",
                                              "soc_pct": "30", "ready_in_min": "20", "csrf_token": token})
    assert r.status_code == 303
    r = client.post("/swap/ST-A/packs", data={"pack_id": "PK3", "type_code": "NIO-75", "state": "charging",
                                              "soc_pct": "30", "ready_in_min": "", "csrf_token": token})
    assert r.status_code == 400 and "ready_at" in r.text
    for odd in ({"ready_in_min": "²"}, {"soc_pct": "³⁰", "ready_in_min": "20"}):  # digits int() refuses: 400, not 500
        r = client.post("/swap/ST-A/packs", data={"pack_id": "PK3", "type_code": "NIO-75", "state": "charging",
                                                  "soc_pct": "30", **odd, "csrf_token": token})
        assert r.status_code == 400, (odd, r.status_code)
    r = client.post("/swap/ST-A/bays", data={"bay_id": "B1", "state": "broken", "csrf_token": token})
    assert r.status_code == 400
    assert client.post("/swap/ST-A/bays", data={"bay_id": "B1", "state": "free"}).status_code == 400  # no CSRF
    with app.app_context():
        assert db.session.get(SwapBay, ("ST-A", "B1")).state == "maintenance"
        pk2 = db.session.get(SwapPack, "PK2")
        assert pk2 is not None and pk2.state == "charging" and pk2.ready_at > now_ms() + 19 * 60_000
        assert db.session.get(SwapPack, "PK3") is None
        actions = [(e.actor, e.action, e.target) for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.actor == "ops", AuditEntry.action.like("swap.%")).order_by(AuditEntry.id))]
        assert actions == [("ops", "swap.bay", "ST-A/B1"), ("ops", "swap.pack", "ST-A/PK2")]


def test_swap_done_by_the_operator(app: Flask, client: FlaskClient, seeded: dict) -> None:
    bid = _swap_station(app)
    _as(client, "ops")
    token = csrf_of(client, "/swap/ST-A")
    r = client.post(f"/swap/ST-A/bookings/{bid}/used", data={"bay_id": "B1", "csrf_token": token})
    assert r.status_code == 303
    with app.app_context():
        b = db.session.get_one(SwapBooking, bid)
        assert (b.state, b.fee_state, b.bay_id) == ("used", "kept", "B1")
        assert db.session.get_one(SwapPack, "PK1").state == "charging"
        assert ledger.balances(db.session, "d-swap").cash == 700
    r = client.post(f"/swap/ST-A/bookings/{bid}/used", data={"csrf_token": token})
    assert r.status_code == 409 and "reservation_not_active" in r.text


def test_read_only_roles_and_other_owners_are_kept_out(app: Flask, client: FlaskClient, seeded: dict) -> None:
    bid = _swap_station(app)
    _as(client, "fin")
    page = client.get("/swap/ST-A")
    assert page.status_code == 200 and 'id="bay-form"' not in page.text and "换电完成" not in page.text
    token = csrf_of(client, "/swap/ST-A")
    assert client.post("/swap/ST-A/bays", data={"bay_id": "B1", "state": "free", "csrf_token": token}).status_code == 403
    client.get("/logout")
    other = client.application.test_client()
    _as(other, "owner-b")
    assert other.get("/swap/ST-A").status_code == 404
    assert "ST-A" not in other.get("/swap").text
    assert other.post("/swap/ST-A/bays", data={"bay_id": "B1", "state": "free",
                                               "csrf_token": csrf_of(other, "/swap")}).status_code in (403, 404)
    # a booking of ST-A marked done through another swap station's page: not found there
    with app.app_context(), db.transaction() as s:
        service.set_swap_station(s, "ST-B", actor="t")
    _as(client, "ops")
    r = client.post(f"/swap/ST-B/bookings/{bid}/used", data={"csrf_token": csrf_of(client, "/swap/ST-B")})
    assert r.status_code == 404
    with app.app_context():
        assert db.session.get_one(SwapBooking, bid).state == "booked"


def test_menu_entry_for_every_role_that_reads_stations(app: Flask, seeded: dict) -> None:
    """The swap pages are of the stations area: its readers have the entry, marked current there."""
    for who in ("root", "ops", "fin", "owner-a"):
        client = _as(app.test_client(), who)
        home = client.get("/").text
        assert '<a href="/swap" data-area="stations" data-nav="swap">换电站</a>' in home, who
        assert 'data-nav="swap" class="current"' in client.get("/swap").text, who
    en = _as(app.test_client(), "ops").get("/", headers={"Accept-Language": "en"}).text
    assert 'data-nav="swap">Battery-swap stations</a>' in en
