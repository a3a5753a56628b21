"""Balance refunds: split across the paid top-ups newest first, each part its own
out_refund_no, closed by the fake's refund callback; refused refunds give the money back;
stuck ones are resent with the same number; bonus and held money are never refunded; the
payment password guards it; a driver never sees another's recharges or refunds."""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.fakes.wechatpay import Faults
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.wallet.jobs import refund_job
from cloud.wallet.settings import provider_for
from tests.wallet.support import BASE, auth, balances, error_code, login, verify_ledger, wait_until


def topped_up(client: FlaskClient, fake: FakeServer, token: str, *amounts: int) -> list[str]:
    assert fake.pay is not None
    numbers = []
    for amount in amounts:
        no = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount}, headers=auth(token)).json[
            "recharge_id"]
        fake.pay.pay(no)
        numbers.append(no)
    url = f"{BASE}/wallet/recharges"
    wait_until(lambda: all(r["state"] == "paid" for r in client.get(url, headers=auth(token)).json["recharges"]
                           if r["recharge_id"] in numbers), what="the top-ups' credits")
    return numbers


def refunds(client: FlaskClient, token: str) -> list[dict]:
    return client.get(f"{BASE}/wallet/refunds", headers=auth(token)).json["refunds"]  # type: ignore[no-any-return]


def platform(app: Flask, kind: Kind) -> int:
    with app.app_context():
        try:
            return ledger.platform_balance(db.session, kind)
        finally:
            db.session.rollback()


def test_refund_split_across_top_ups(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "alice")
    first, second, third = topped_up(client, fake, token, 1000, 2000, 3000)
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 4500}, headers=auth(token))
    assert resp.status_code == 202, resp.data
    made = resp.json
    assert made["amount_fen"] == 4500
    assert [(p["out_trade_no"], p["amount_fen"]) for p in made["parts"]] == [(third, 3000), (second, 1500)]
    assert len({p["out_refund_no"] for p in made["parts"]}) == 2
    wait_until(lambda: refunds(client, token)[0]["state"] == "success", what="the refund callbacks")
    assert {d.event_type for d in fake.pay.deliveries if d.ok} >= {"REFUND.SUCCESS"}
    assert {no: r.amount for no, r in fake.pay.refunds.items()} == {p["out_refund_no"]: p["amount_fen"]
                                                                    for p in made["parts"]}
    wallet = client.get(f"{BASE}/wallet", headers=auth(token)).json
    assert wallet["cash_fen"] == 1500 and wallet["refundable_fen"] == 1500
    states = {r["recharge_id"]: r["state"] for r in
              client.get(f"{BASE}/wallet/recharges", headers=auth(token)).json["recharges"]}
    assert states == {first: "paid", second: "refunded_part", third: "refunded"}
    assert platform(app, Kind.REFUNDS_PAYABLE) == 0 and platform(app, Kind.CLEARING) == -1500
    # the rest, by default all that is refundable, comes from what the top-ups have left
    rest = client.post(f"{BASE}/wallet/refunds", json={}, headers=auth(token)).json
    assert [(p["out_trade_no"], p["amount_fen"]) for p in rest["parts"]] == [(second, 500), (first, 1000)]
    wait_until(lambda: all(r["state"] == "success" for r in refunds(client, token)), what="the second refund")
    assert balances(app, driver) == ledger.Balances(0, 0, 0, 0)
    resp = client.post(f"{BASE}/wallet/refunds", headers=auth(token))
    assert resp.status_code == 409 and error_code(resp) == "nothing_to_refund"
    kinds = [e["kind"] for e in client.get(f"{BASE}/wallet/statement", headers=auth(token)).json["entries"]]
    assert kinds.count("refund") == 4 and kinds.count("recharge") == 3
    assert verify_ledger(app) == []


def test_refused_refund_gives_the_money_back(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "bob")
    topped_up(client, fake, token, 2000)
    fake.pay.refund_outcome = "CLOSED"
    client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 1200}, headers=auth(token))
    wait_until(lambda: refunds(client, token)[0]["state"] == "failed", what="the REFUND.CLOSED callback")
    assert balances(app, driver).cash == 2000
    assert client.get(f"{BASE}/wallet", headers=auth(token)).json["refundable_fen"] == 2000
    assert platform(app, Kind.REFUNDS_PAYABLE) == 0 and verify_ledger(app) == []


def test_stuck_refund_is_resent_with_the_same_number(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    assert fake.pay is not None
    token, driver = login(client, fake, "carol")
    topped_up(client, fake, token, 3000)
    fake.pay.faults = Faults(fail_with=(500, "SYSTEM_ERROR"))
    made = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 1000}, headers=auth(token)).json
    assert made["state"] == "processing" and not fake.pay.refunds
    assert balances(app, driver).cash == 2000  # accepted: out of the balance, owed to the driver
    fake.pay.faults = Faults()
    fake.pay.refund_delay_s = 0.3  # WeChat answers PROCESSING; its notification comes after
    with app.app_context():
        provider = provider_for(app.config, app.extensions)
        s = db.sessionmaker()()
        try:
            now = int(time.time() * 1000)
            assert refund_job(s, provider, now) == {}  # retried too recently
            assert refund_job(s, provider, now + 601_000) == {"processing": 1}
            wait_until(lambda: refunds(client, token)[0]["state"] == "success", what="the refund")
            assert refund_job(s, provider, now + 1202_000) == {}
        finally:
            s.close()
    assert list(fake.pay.refunds) == [made["parts"][0]["out_refund_no"]]
    assert platform(app, Kind.REFUNDS_PAYABLE) == 0 and verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_bonus_and_held_money_are_not_refunded(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    from cloud.orders import service as orders

    token, driver = login(client, fake, "dave")
    with app.app_context(), db.transaction() as s:
        ledger.grant_bonus(s, str(driver), 800, "bonus:dave")
    resp = client.post(f"{BASE}/wallet/refunds", json={}, headers=auth(token))
    assert resp.status_code == 409 and error_code(resp) == "nothing_to_refund"
    topped_up(client, fake, token, 1000)
    with app.app_context(), db.transaction() as s:  # a running order holds 1200: 800 bonus, 400 cash
        orders.create(s, order_id="O-held", driver_id=str(driver), sid="S1", gun="1", limit_mode="amount",
                      limit_value=1200, hold_fen=1200)
    wallet = client.get(f"{BASE}/wallet", headers=auth(token)).json
    assert wallet == {"balance_fen": 600, "cash_fen": 600, "bonus_fen": 0, "held_fen": 1200, "debt_fen": 0,
                      "refundable_fen": 600}
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 601}, headers=auth(token), )
    assert resp.status_code == 409 and error_code(resp) == "refund_amount_too_large"
    for bad in (0, -1, "5", 1.5, True):
        resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": bad}, headers=auth(token))
        assert resp.status_code == 400 and error_code(resp) == "invalid_request", bad
    assert client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 600}, headers=auth(token)).status_code == 202
    assert balances(app, driver).cash == 0 and verify_ledger(app) == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_payment_password_guards_the_refund(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    token, driver = login(client, fake, "erin")
    topped_up(client, fake, token, 1000)
    assert client.post(f"{BASE}/payment-password", json={"password": "135790"}, headers=auth(token)).status_code == 201
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100}, headers=auth(token, "en"))
    assert resp.status_code == 403 and error_code(resp) == "payment_password_required"
    assert resp.json["error"]["message"].isascii() and "password" in resp.json["error"]["message"]
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100, "payment_password": "246801"},
                       headers=auth(token))
    assert resp.status_code == 403 and error_code(resp) == "payment_password_wrong"
    assert balances(app, driver).cash == 1000
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100, "payment_password": "135790"},
                       headers=auth(token))
    assert resp.status_code == 202 and balances(app, driver).cash == 900


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_a_malformed_refund_amount_spends_no_password_attempt(app: Flask, client: FlaskClient,
                                                              fake: FakeServer) -> None:
    """As a start's limit and a withdrawal's amount: the request's shape is checked before the
    password, so a client's bad amount never locks the driver out."""
    token, driver = login(client, fake, "fay")
    topped_up(client, fake, token, 1000)
    assert client.post(f"{BASE}/payment-password", json={"password": "135790"}, headers=auth(token)).status_code == 201
    max_failures = int(app.config.get("PAYMENT_PASSWORD_MAX_FAILURES", 5))
    for bad in ["100", 0, -5, 1.5, True, 10**20, [100]] * max_failures:
        resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": bad, "payment_password": "246801"},
                           headers=auth(token))
        assert resp.status_code == 400 and error_code(resp) == "invalid_request", (bad, resp.json)
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100, "payment_password": "135790"},
                       headers=auth(token))
    assert resp.status_code == 202 and balances(app, driver).cash == 900


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_a_driver_never_reaches_another_drivers_money(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    alice, _ = login(client, fake, "alice")
    bob, bob_id = login(client, fake, "bob")
    (no,) = topped_up(client, fake, alice, 1000)
    refund = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100}, headers=auth(alice)).json
    for path in (f"{BASE}/wallet/recharges/{no}", f"{BASE}/wallet/recharges/TU20990101FFFFFFFFFFFFFFFF"):
        resp = client.get(path, headers=auth(bob))
        assert resp.status_code == 404 and error_code(resp) == "not_found"
        assert resp.json == client.get(f"{BASE}/wallet/recharges/nope", headers=auth(bob)).json
    assert client.get(f"{BASE}/wallet/recharges", headers=auth(bob)).json == {"recharges": []}
    assert client.get(f"{BASE}/wallet/refunds", headers=auth(bob)).json == {"refunds": []}
    assert client.get(f"{BASE}/wallet/statement", headers=auth(bob)).json == {"entries": []}
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 100}, headers=auth(bob))
    assert resp.status_code == 409 and error_code(resp) == "nothing_to_refund"
    assert client.get(f"{BASE}/wallet", headers=auth(bob)).json["balance_fen"] == 0
    assert balances(app, bob_id).cash == 0 and refund["parts"][0]["out_trade_no"] == no
    assert client.get(f"{BASE}/wallet", headers=auth("jcd_" + "x" * 43)).status_code == 401


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the rule, not the database, is tested
def test_a_refund_never_leaves_a_debt_unpaid(app: Flask, client: FlaskClient, fake: FakeServer) -> None:
    """A session that cost more than its hold left a debt while the driver still had cash
    outside the hold: the balance refund pays the debt first, so the driver can never take
    the cash to WeChat and leave the platform owed."""
    from cloud.orders import service as orders
    from cloud.orders.machine import Event

    token, driver = login(client, fake, "erin")
    topped_up(client, fake, token, 1000)
    with app.app_context(), db.transaction() as s:
        orders.create(s, order_id="O-over", driver_id=str(driver), sid="S1", gun="1", limit_mode="energy",
                      limit_value=5000, hold_fen=300)
        for ev in (Event.START_SENT, Event.START_ACCEPTED, Event.SESSION_STARTED, Event.SESSION_ENDED):
            orders.apply(s, "O-over", ev)
        orders.apply(s, "O-over", Event.BILLED, lines=[orders.Line("electricity", 400, "flat", 500),
                                                       orders.Line("idle", 100)])
    assert (balances(app, driver).cash, balances(app, driver).debt) == (700, 200)
    wallet = client.get(f"{BASE}/wallet", headers=auth(token)).json
    assert wallet["debt_fen"] == 200 and wallet["refundable_fen"] == 500
    resp = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 501}, headers=auth(token))
    assert resp.status_code == 409 and error_code(resp) == "refund_amount_too_large"
    resp = client.post(f"{BASE}/wallet/refunds", json={}, headers=auth(token))
    assert resp.status_code == 202 and resp.json["amount_fen"] == 500
    b = balances(app, driver)
    assert (b.cash, b.debt) == (0, 0) and verify_ledger(app) == []


@pytest.mark.parametrize("spent", [0, 1500])
def test_a_refund_paid_after_it_was_booked_failed_is_taken_back(app: Flask, client: FlaskClient, fake: FakeServer,
                                                                  spent: int) -> None:
    """WeChat says ABNORMAL (the money back in the cash), then the merchant completes the
    refund by hand and WeChat notifies SUCCESS: the driver would have it twice. The cash is
    taken back as far as it goes, the rest is debt; once, whatever is delivered again."""
    from tests.wallet.support import signed

    assert fake.pay is not None
    token, driver = login(client, fake, f"late-{spent}")
    [no] = topped_up(client, fake, token, 2000)
    fake.pay.refund_outcome = "ABNORMAL"
    made = client.post(f"{BASE}/wallet/refunds", json={"amount_fen": 1200}, headers=auth(token)).json
    wait_until(lambda: refunds(client, token)[0]["state"] == "failed", what="the REFUND.ABNORMAL callback")
    assert balances(app, driver).cash == 2000
    if spent:  # a running order holds part of the cash meanwhile
        with app.app_context(), db.transaction() as s:
            ledger.hold(s, str(driver), "o-late-hold", spent)
    out_refund_no = made["parts"][0]["out_refund_no"]
    with fake.pay._lock:  # the merchant completes it in WeChat Pay's console
        rec = fake.pay.refunds[out_refund_no]
        rec.status = "SUCCESS"
        rec.order.refunded += rec.amount
        view = fake.pay.refund_view(rec, for_notification=True)
    for _ in range(2):
        body = fake.pay.notification_body("REFUND.SUCCESS", "退款成功", "refund", view)[1]
        resp = client.post("/api/v1/pay/wechat/refund-notify", data=body, headers=signed(fake, body))
        assert resp.status_code == 204, resp.data
    b = balances(app, driver)
    cash_left = 2000 - spent
    assert b.cash == max(0, cash_left - 1200) and b.debt == max(0, 1200 - cash_left) and b.held == spent
    assert refunds(client, token)[0]["state"] == "success"
    wallet = client.get(f"{BASE}/wallet", headers=auth(token)).json
    assert wallet["refundable_fen"] == max(0, cash_left - 1200)
    recharge = next(r for r in client.get(f"{BASE}/wallet/recharges", headers=auth(token)).json["recharges"]
                    if r["recharge_id"] == no)
    assert recharge["state"] == "refunded_part"
    kinds = [e["kind"] for e in client.get(f"{BASE}/wallet/statement", headers=auth(token)).json["entries"]]
    assert kinds.count("refund_taken_back") >= 1
    assert platform(app, Kind.REFUNDS_PAYABLE) == 0 and verify_ledger(app) == []
