"""The payment password over the API: set once, change with the old one, verify; never
returned; stored as argon2id; wrong attempts lock it (and a change's old password counts
too), also when attempts race."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cloud.db import db
from cloud.drivers.models import PaymentPassword
from cloud.fakes.server import FakeServer
from cloud.models import now_ms
from tests.drivers_api.support import BASE, auth, error_code, login, token_of

PP = f"{BASE}/payment-password"


def test_set_change_verify(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    body = login(client, wechat, "alice").json
    tok, driver_id = body["token"], body["driver"]["id"]
    h = auth(tok)
    assert error_code(client.post(f"{PP}/verify", json={"password": "135790"}, headers=h)) == "payment_password_not_set"
    assert client.put(PP, json={"old_password": "135790", "new_password": "246801"}, headers=h).status_code == 409
    resp = client.post(PP, json={"password": "135790"}, headers=h)
    assert resp.status_code == 201 and resp.json == {"has_payment_password": True}
    assert "135790" not in resp.get_data(as_text=True)
    again = client.post(PP, json={"password": "246801"}, headers=h)
    assert again.status_code == 409 and error_code(again) == "payment_password_exists"
    me = client.get(f"{BASE}/me", headers=h).json
    assert me["has_payment_password"] is True and me["payment_password_locked_until"] is None
    assert "135790" not in str(me)
    with app.app_context():
        stored = db.session.scalar(select(PaymentPassword.password_hash).where(PaymentPassword.driver_id == driver_id))
    assert stored.startswith("$argon2id$") and "135790" not in stored

    assert client.post(f"{PP}/verify", json={"password": "135790"}, headers=h).json == {"verified": True}
    wrong = client.post(f"{PP}/verify", json={"password": "135791"}, headers=h)
    assert wrong.status_code == 403 and error_code(wrong) == "payment_password_wrong"
    assert wrong.json["error"]["attempts_left"] == 4
    # change: the old one must be right
    bad = client.put(PP, json={"old_password": "000001", "new_password": "246801"}, headers=h)
    assert bad.status_code == 403 and bad.json["error"]["attempts_left"] == 3
    ok = client.put(PP, json={"old_password": "135790", "new_password": "246801"}, headers=h)
    assert ok.status_code == 200
    assert error_code(client.post(f"{PP}/verify", json={"password": "135790"}, headers=h)) == "payment_password_wrong"
    assert client.post(f"{PP}/verify", json={"password": "246801"}, headers=h).status_code == 200
    # another driver has none: alice's is hers alone
    other = token_of(client, wechat, "bob")
    assert error_code(client.post(f"{PP}/verify", json={"password": "246801"}, headers=auth(other))) == \
        "payment_password_not_set"


def test_form_and_simple_passwords(client: FlaskClient, wechat: FakeServer) -> None:
    h = auth(token_of(client, wechat, "alice"))
    for bad in ("12345", "1234567", "12345a", "１２３４５６", " 13579", 135790, None, ["135790"], "", "1" * 10_000):
        resp = client.post(PP, json={"password": bad}, headers=h)
        assert resp.status_code == 400 and error_code(resp) == "payment_password_format", bad
    for simple in ("000000", "111111", "123456", "654321", "456789", "987654", "012345"):
        resp = client.post(PP, json={"password": simple}, headers=h)
        assert resp.status_code == 400 and error_code(resp) == "payment_password_too_simple", simple
    assert client.post(PP, json={"password": "135790"}, headers=h).status_code == 201
    # malformed guesses spend no attempt
    for _ in range(8):
        assert error_code(client.post(f"{PP}/verify", json={"password": "abc"}, headers=h)) == "payment_password_format"
    resp = client.put(PP, json={"old_password": "135790", "new_password": "111111"}, headers=h)
    assert error_code(resp) == "payment_password_too_simple"
    assert client.post(f"{PP}/verify", json={"password": "135790"}, headers=h).status_code == 200


def test_lockout_and_its_end(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    body = login(client, wechat, "alice").json
    h, driver_id = auth(body["token"], "en"), body["driver"]["id"]
    client.post(PP, json={"password": "135790"}, headers=h)
    left = []
    for _ in range(4):
        resp = client.post(f"{PP}/verify", json={"password": "000001"}, headers=h)
        left.append(resp.json["error"]["attempts_left"])
    assert left == [4, 3, 2, 1]
    fifth = client.put(PP, json={"old_password": "000001", "new_password": "246801"}, headers=h)
    assert fifth.status_code == 403 and fifth.json["error"]["attempts_left"] == 0
    lock_s = app.config["PAYMENT_PASSWORD_LOCK_S"]
    assert lock_s - 5 <= fifth.json["error"]["retry_after_s"] <= lock_s
    assert "locked" in fifth.json["error"]["message"]
    # locked: even the right password is refused, unchecked
    locked = client.post(f"{PP}/verify", json={"password": "135790"}, headers=h)
    assert locked.status_code == 429 and error_code(locked) == "payment_password_locked"
    assert 0 < int(locked.headers["Retry-After"]) <= lock_s
    assert client.put(PP, json={"old_password": "135790", "new_password": "246801"}, headers=h).status_code == 429
    assert client.get(f"{BASE}/me", headers=h).json["payment_password_locked_until"] > now_ms()
    # logging in again does not unlock it
    h2 = auth(token_of(client, wechat, "alice"))
    assert client.post(f"{PP}/verify", json={"password": "135790"}, headers=h2).status_code == 429
    # the lock ends: the right one works and the count starts afresh
    with app.app_context(), db.transaction() as s:
        s.execute(update(PaymentPassword).where(PaymentPassword.driver_id == driver_id)
                  .values(locked_until=now_ms() - 1))
    assert client.get(f"{BASE}/me", headers=h).json["payment_password_locked_until"] is None
    assert client.post(f"{PP}/verify", json={"password": "135790"}, headers=h).status_code == 200
    assert client.post(f"{PP}/verify", json={"password": "000001"}, headers=h).json["error"]["attempts_left"] == 4


def test_racing_wrong_attempts_get_no_more_than_the_limit(app: Flask, wechat: FakeServer) -> None:
    client = app.test_client()
    body = login(client, wechat, "alice").json
    h = auth(body["token"])
    client.post(PP, json={"password": "135790"}, headers=h)

    def guess(n: int) -> tuple[int, str]:
        resp = app.test_client().post(f"{PP}/verify", json={"password": f"{n:06d}"}, headers=h)
        return resp.status_code, error_code(resp)

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(guess, range(100, 116)))
    checked = [o for o in outcomes if o == (403, "payment_password_wrong")]
    assert len(checked) == app.config["PAYMENT_PASSWORD_MAX_FAILURES"], outcomes
    assert all(o in ((403, "payment_password_wrong"), (429, "payment_password_locked")) for o in outcomes)
    assert client.post(f"{PP}/verify", json={"password": "135790"}, headers=h).status_code == 429


def test_racing_sets_keep_one(app: Flask, wechat: FakeServer) -> None:
    client = app.test_client()
    h = auth(token_of(client, wechat, "alice"))

    def put(pw: str) -> int:
        return app.test_client().post(PP, json={"password": pw}, headers=h).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(put, ("135790", "246801", "975310", "864209")))
    assert statuses == [201, 409, 409, 409]


def test_argon2_work_only_where_it_is_needed(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    """Hashing is the expensive part (argon2id, ~0.1-0.2 s and 64 MiB): setting again when one
    is set, a malformed password and a locked one cost none of it."""
    from argon2 import PasswordHasher

    from cloud.drivers import service
    from cloud.drivers.errors import (
        PaymentPasswordExists,
        PaymentPasswordFormat,
        PaymentPasswordLocked,
        PaymentPasswordWrong,
    )
    from cloud.drivers.lockout import Policy

    class Counting(PasswordHasher):
        calls = 0

        def hash(self, *a, **kw):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return super().hash(*a, **kw)

        def verify(self, *a, **kw):  # type: ignore[no-untyped-def]
            Counting.calls += 1
            return super().verify(*a, **kw)

    hasher = Counting(time_cost=1, memory_cost=8, parallelism=1)
    driver_id = login(client, wechat, "alice").json["driver"]["id"]
    policy = Policy(max_failures=2, window_ms=60_000, lock_ms=60_000)
    with app.app_context():
        tx = db.transaction
        service.set_payment_password(tx, driver_id, "135790", 1000, hasher)
        assert Counting.calls == 1
        for call in (lambda: service.set_payment_password(tx, driver_id, "246801", 1000, hasher),
                     lambda: service.verify_payment_password(tx, driver_id, "12345", policy, 1000, hasher)):
            try:
                call()
            except (PaymentPasswordExists, PaymentPasswordFormat):
                pass
        assert Counting.calls == 1
        for _ in range(2):
            try:
                service.verify_payment_password(tx, driver_id, "000001", policy, 2000, hasher)
            except PaymentPasswordWrong:
                pass
        assert Counting.calls == 3
        for _ in range(5):
            try:
                service.verify_payment_password(tx, driver_id, "135790", policy, 3000, hasher)
            except PaymentPasswordLocked:
                pass
        assert Counting.calls == 3
