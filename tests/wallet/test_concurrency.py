"""Threads against PostgreSQL through the served app over HTTP: one notification delivered
many times at once credits once; refunds racing recharges' notifications (and the refunds'
own callbacks) never credit twice, never refund a top-up beyond its amount, never make a
balance negative, and lose no fen."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient
from sqlalchemy import select

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.wallet.models import WalletPayment, WalletRefundPart
from tests.wallet.conftest import build_app, wallet_settings
from tests.wallet.support import (
    BASE,
    AppServer,
    auth,
    login,
    payment_notification,
    signed,
    wait_until,
)

pytestmark = pytest.mark.postgres


def run_threads(n: int, target) -> None:  # type: ignore[no-untyped-def]
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def body(i: int) -> None:
        try:
            start.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_notifications_and_refunds_racing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_url: str,
                                          keys: FakeKeys, fake: FakeServer, server: AppServer) -> None:
    assert fake.pay is not None
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, pg_url, wallet_settings(keys, tmp_path, fake))
    server.app = app
    client: FlaskClient = app.test_client()
    token, driver = login(client, fake, "alice")
    fake.pay.notify_origin = "http://127.0.0.1:9"  # this test delivers the payment notifications itself

    def recharge(amount: int) -> str:
        no = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": amount}, headers=auth(token)).json[
            "recharge_id"]
        fake.pay.pay(no)
        return str(no)

    # one notification, 8 threads × 4 deliveries (each signed afresh, as WeChat's retries are)
    first = recharge(3000)
    body = payment_notification(fake, first)
    answers: list[int] = []

    def deliver(_i: int) -> None:
        with requests.Session() as http:
            for _ in range(4):
                answers.append(http.post(f"{server.url}/api/v1/pay/wechat/notify", data=body,
                                         headers=signed(fake, body), timeout=30).status_code)

    run_threads(8, deliver)
    assert answers == [204] * 32
    with app.app_context():
        assert ledger.balances(db.session, str(driver)).cash == 3000
        db.session.rollback()

    # refunds racing the notifications of new top-ups; the refunds' callbacks arrive meanwhile
    fake.pay.notify_origin = server.url  # now the fake's own deliveries race ours too
    later = [recharge(amount) for amount in (1000, 2000)]
    bodies = {no: payment_notification(fake, no) for no in later}
    refund_answers: list[tuple[int, int]] = []

    def work(i: int) -> None:
        with requests.Session() as http:
            if i < 4:  # a refund of 1,100 fen each, while the cash is 3,000 .. 6,000
                r = http.post(f"{server.url}{BASE}/wallet/refunds", json={"amount_fen": 1100},
                              headers=auth(token), timeout=30)
                refund_answers.append((r.status_code, r.json().get("amount_fen", 0)))
            else:
                no = later[i % 2]
                for _ in range(3):
                    assert http.post(f"{server.url}/api/v1/pay/wechat/notify", data=bodies[no],
                                     headers=signed(fake, bodies[no]), timeout=30).status_code == 204

    run_threads(8, work)
    assert all(status in (202, 409) for status, _a in refund_answers), refund_answers
    refunded = sum(a for status, a in refund_answers if status == 202)
    assert refunded >= 3 * 1100  # 3,000 fen were there before any of them
    with app.app_context():
        s = db.session

        def settled() -> bool:
            left = s.scalars(select(WalletRefundPart.id).where(WalletRefundPart.state == "processing")).all()
            s.rollback()
            return not left

        wait_until(settled, what="every refund part's callback")
        b = ledger.balances(s, str(driver))
        assert b.cash == 6000 - refunded and b.cash >= 0
        for p in s.scalars(select(WalletPayment)):
            assert 0 <= p.refunded_fen <= p.amount_fen and p.state == "paid"
        parts = s.scalars(select(WalletRefundPart)).all()
        assert sum(p.amount_fen for p in parts) == refunded and {p.state for p in parts} == {"succeeded"}
        assert ledger.verify(s) == []
        s.rollback()
    top_ups = [e for e in client.get(f"{BASE}/wallet/statement?limit=100", headers=auth(token)).json["entries"]
               if e["kind"] == "recharge"]
    assert sorted(e["amount_fen"] for e in top_ups) == [1000, 2000, 3000]
    assert sum(r.amount for r in fake.pay.refunds.values()) == refunded
