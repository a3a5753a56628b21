"""WeChat Pay's transfer result callback (商家转账回调通知, MCHTRANSFER.BILL.FINISHED) for a pile
owner's withdrawal, end to end: the real app served over HTTP on SQLite and PostgreSQL, the
withdrawal made through the driver API, the fake WeChat Pay sending the signed, encrypted
callback to the transfer's notify_url when the bill reaches its final state (at once, or once
the payee confirmed on /fake/request-merchant-transfer). SUCCESS pays, FAIL and CANCELLED put
the money back in the earnings — to the fen, once, with no bill query. Duplicates (also six at
once) book once; a forged, tampered, replayed, stale, unknown-bill, wrong-amount, wrong-payee or
other merchant's callback moves nothing, is logged and answered as WeChat documents (checked
against docs/api/cloud.openapi.yaml)."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.ledger.models import LedgerTransaction
from cloud.sharing.models import Withdrawal
from tests.apiqa.support import build_app
from tests.docs.openapi_support import ResponseChecker, load_spec
from tests.wallet.support import BASE, AppServer, auth, login, signed, wait_until

PATH = "/api/v1/pay/wechat/transfer-notify"
EVENT, SUMMARY, ORIGINAL = "MCHTRANSFER.BILL.FINISHED", "商家转账单据终态通知", "mch_payment"
EARNED = 1236
CHECK = ResponseChecker(load_spec("cloud"))


@pytest.fixture(scope="module")
def keys() -> FakeKeys:
    return FakeKeys()


@dataclass
class World:
    app: Flask
    fake: FakeServer
    server: AppServer

    @property
    def pay(self) -> Any:
        assert self.fake.pay is not None
        return self.fake.pay


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, keys: FakeKeys
) -> Iterator[World]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    server = AppServer().start()
    # the callbacks go to this test's app server with the path of the configured notify_url
    with FakeServer.for_keys(keys, retry_scale=0.002, notify_origin=server.url) as fake:
        app = build_app(tmp_path, db_url, keys, fake)
        server.app = app
        try:
            yield World(app, fake, server)
        finally:
            server.close()
            with app.app_context():
                db.engine.dispose()


def _owner(w: World, user: str = "owner") -> tuple[dict[str, str], str]:
    """A driver logged in through the fake WeChat, with EARNED fen of pile earnings."""
    token, did = login(w.app.test_client(), w.fake, user)
    with w.app.app_context(), db.transaction() as s:
        ledger.post_owner(
            s,
            f"test-earned-{did}",
            "owner_share",
            str(did),
            {Kind.REVENUE_SERVICE: -EARNED, Kind.OWNER_EARNINGS: EARNED},
        )
    return auth(token), str(did)


def _withdraw(w: World, h: dict[str, str], fen: int) -> dict[str, Any]:
    r = w.app.test_client().post(f"{BASE}/sharing/withdrawals", json={"amount_fen": fen}, headers=h)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.json  # type: ignore[return-value]


@dataclass(frozen=True)
class Books:
    state: str
    earnings: int
    withdrawing: int
    clearing: int
    txns: int


def _books(w: World, owner: str, wid: int) -> Books:
    with w.app.app_context():
        s = db.session
        try:
            assert ledger.verify(s) == []
            earnings, withdrawing = ledger.owner_balances(s, owner)
            return Books(
                s.get_one(Withdrawal, wid).state,
                earnings,
                withdrawing,
                ledger.platform_balance(s, Kind.CLEARING),
                s.scalar(select(func.count()).select_from(LedgerTransaction)) or 0,
            )
        finally:
            s.rollback()


def _bill_queries(w: World, out_bill_no: str) -> int:
    return sum(1 for m, p, _ in w.pay.requests_seen if m == "GET" and p.endswith(out_bill_no))


def _delivered(w: World, n: int = 1) -> None:
    """Wait until the fake delivered `n` transfer callbacks with a 2xx within WeChat's 5 s."""
    w.pay.notifier.wait_for(lambda ds: sum(d.ok and d.event_type == EVENT for d in ds) >= n, 20)


def _notice(w: World, bill: str, /, **changes: Any) -> bytes:
    """The body WeChat Pay sends for the bill as it is now (with `changes` to its content)."""
    content = {**w.pay.transfer_notification(w.pay.transfers[bill]), **changes}
    return w.pay.notification_body(EVENT, SUMMARY, ORIGINAL, content)[1]


def _post(w: World, body: bytes, headers: dict[str, str], expect: int) -> Any:
    """One callback through the app, its answer checked against the document and in time."""
    started = time.monotonic()
    r = w.app.test_client().post(PATH, data=body, headers=headers)
    assert time.monotonic() - started < 5.0  # WeChat's limit for the answer
    assert r.status_code == expect, (r.status_code, r.data[:300])
    if expect == 204:
        assert r.data == b""
        CHECK.response(PATH, "post", 204)
        return None
    payload = json.loads(r.data)
    CHECK(path=PATH, method="post", status=r.status_code, content_type=r.content_type, body=payload)
    assert payload["code"] == "FAIL"
    return payload


@pytest.mark.parametrize("how", ["confirmed", "at_once"])
def test_success_is_paid_by_the_callback_without_a_query(world: World, how: str) -> None:
    w = world
    h, owner = _owner(w)
    if how == "confirmed":
        w.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    else:  # WeChat answers PROCESSING and then finishes the bill by itself
        w.pay.transfer_pending = True
    made = _withdraw(w, h, 1000)
    wid, no = made["withdrawal_id"], made["out_bill_no"]
    # the answer said PROCESSING or WAIT_USER_CONFIRM; the callback may already have come
    assert made["state"] in ("sending", "paid")
    sent = w.pay.transfers[no].request
    assert sent["notify_url"] == "https://cloud.example.cn/api/v1/pay/wechat/transfer-notify"
    if how == "confirmed":
        assert _books(w, owner, wid) == Books("sending", EARNED - 1000, 1000, 0, 2)
        ok = requests.post(
            w.fake.url + "/fake/request-merchant-transfer",
            json={**made["confirm_params"], "user": "owner"},
            timeout=10,
        )
        assert ok.json()["errMsg"] == "requestMerchantTransfer:ok"
    _delivered(w)
    assert _books(w, owner, wid) == Books("paid", EARNED - 1000, 0, 1000, 3)
    assert _bill_queries(w, no) == 0  # the callback moved it, not a query
    assert w.pay.transferred(w.pay.transfers[no].openid) == 1000
    with w.app.app_context():
        row = db.session.get_one(Withdrawal, wid)
        assert row.transfer_bill_no == w.pay.transfers[no].transfer_bill_no
        db.session.rollback()
    # the owner's read answers from the database: paid, nothing to confirm
    view = w.app.test_client().get(f"{BASE}/sharing/withdrawals/{wid}", headers=h).json
    assert (view["state"], view["confirm_params"]) == ("paid", None)


@pytest.mark.parametrize("outcome", ["FAIL", "CANCELLED"])
def test_failed_or_cancelled_puts_the_money_back(world: World, outcome: str) -> None:
    w = world
    h, owner = _owner(w)
    if outcome == "FAIL":
        w.pay.transfer_outcome, w.pay.transfer_pending = "FAIL", True
    else:
        w.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    made = _withdraw(w, h, 777)
    wid, no = made["withdrawal_id"], made["out_bill_no"]
    if outcome == "CANCELLED":  # the payee never confirmed: WeChat cancels the bill
        assert _books(w, owner, wid).state == "sending"
        w.pay.cancel_transfer(no, "TRANSFER_TIMEOUT")
    _delivered(w)
    b = _books(w, owner, wid)
    assert b == Books("released", EARNED, 0, 0, 3)  # held, then released: earnings to the fen
    with w.app.app_context():
        assert db.session.get_one(Withdrawal, wid).failure == (
            "PAYEE_ACCOUNT_ABNORMAL" if outcome == "FAIL" else "TRANSFER_TIMEOUT"
        )
        db.session.rollback()
    assert _bill_queries(w, no) == 0 and w.pay.transferred(w.pay.transfers[no].openid) == 0


def test_duplicates_book_once_also_six_at_once(world: World) -> None:
    w = world
    h, owner = _owner(w)
    w.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    made = _withdraw(w, h, 500)
    wid, no = made["withdrawal_id"], made["out_bill_no"]
    rec = w.pay.transfers[no]
    rec.notify_url = ""  # the test delivers this bill's callback itself
    w.pay.confirm_transfer(no)
    body = _notice(w, no)
    url = w.server.url + PATH

    def deliver(_i: int) -> int:
        # WeChat's retries carry the same notification, each signed afresh
        return requests.post(url, data=body, headers=signed(w.fake, body), timeout=10).status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(deliver, range(6))) == [204] * 6
    paid = _books(w, owner, wid)
    assert paid == Books("paid", EARNED - 500, 0, 500, 3)
    # and once more after that, through the fake's own delivery with its retry schedule
    nid = "retry-" + no
    w.pay.notifier.send(nid, EVENT, url, body)
    w.pay.notifier.wait_for(lambda ds: any(d.notification_id == nid and d.ok for d in ds), 20)
    assert _books(w, owner, wid) == paid


def test_hostile_callbacks_move_nothing_and_are_refused_as_documented(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    w = world
    h, owner = _owner(w)
    w.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    made = _withdraw(w, h, 600)
    wid, no = made["withdrawal_id"], made["out_bill_no"]
    rec = w.pay.transfers[no]
    rec.notify_url = ""  # nothing from the fake itself: only what the test sends
    w.pay.confirm_transfer(no)
    before = _books(w, owner, wid)
    assert before == Books("sending", EARNED - 600, 600, 0, 2)
    good = _notice(w, no)
    stranger = FakeKeys().wechatpay_key

    envelope = json.loads(good)
    raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    raw[3] ^= 0x01
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    tampered = json.dumps(envelope, ensure_ascii=False).encode()
    plain = {"Content-Type": "application/json"}

    cases: list[tuple[str, bytes, dict[str, str], int, str]] = [
        ("forged signature", good, signed(w.fake, good, key=stranger), 401, "BAD_SIGNATURE"),
        ("unsigned", good, plain, 401, "SIGNATURE_MISSING"),
        ("stale", good, signed(w.fake, good, ts=int(time.time()) - 900), 401, "STALE_TIMESTAMP"),
        ("tampered ciphertext", tampered, signed(w.fake, tampered), 400, "DECRYPT_FAILED"),
        (
            "unknown bill",
            _notice(w, no, out_bill_no="Wnotours0000000000000000000000a"),
            None,
            404,
            "unknown out_bill_no",
        ),
        ("wrong amount", _notice(w, no, transfer_amount=6000), None, 400, "does not match"),
        ("another payee", _notice(w, no, openid="o-someone-else"), None, 400, "does not match"),
        (
            "another bill",
            _notice(w, no, transfer_bill_no="1330" + "9" * 28),
            None,
            400,
            "does not match",
        ),
        ("another merchant", _notice(w, no, mchid="1900000000"), None, 400, "INVALID_NOTIFICATION"),
        ("not final", _notice(w, no, state="PROCESSING"), None, 400, "INVALID_NOTIFICATION"),
    ]
    for name, body, headers, status, why in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            answer = _post(w, body, headers or signed(w.fake, body), status)
        assert why in answer["message"] or any(why in r.getMessage() for r in caplog.records), name
        assert any(r.levelno >= logging.WARNING for r in caplog.records), f"{name}: not logged"
        assert _books(w, owner, wid) == before, name

    _post(w, b"x" * 70_000, plain, 413)
    assert _books(w, owner, wid) == before
    # WeChat's probe of the signature check: refused, as a merchant must
    probe_id = w.pay.send_probe("https://cloud.example.cn" + PATH)
    w.pay.notifier.wait_for(lambda ds: any(d.notification_id == probe_id for d in ds), 20)
    assert [d.status for d in w.pay.deliveries if d.notification_id == probe_id] == [401]

    # the genuine callback pays it; the very same signed message again is a replay
    headers = signed(w.fake, good)
    _post(w, good, headers, 204)
    paid = _books(w, owner, wid)
    assert paid == Books("paid", EARNED - 600, 0, 600, 3)
    assert _post(w, good, headers, 401)["message"] == "signature refused: REPLAYED"
    # a genuine but contrary one for a paid withdrawal changes nothing either
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        contrary = _notice(w, no, state="FAIL", fail_reason="PAYEE_ACCOUNT_ABNORMAL")
        _post(w, contrary, signed(w.fake, contrary), 204)
    assert any("left as it is" in r.getMessage() for r in caplog.records)
    assert _books(w, owner, wid) == paid
    assert CHECK.template(PATH) == PATH


def test_the_fake_holds_a_transfer_until_the_payee_confirms_and_reports_once(world: World) -> None:
    """The fake's side: a held bill is reported only once it is final, and once."""
    w = world
    h, _owner_id = _owner(w)
    w.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    made = _withdraw(w, h, 100)
    time.sleep(0.1)
    assert not [d for d in w.pay.deliveries if d.event_type == EVENT]
    w.pay.confirm_transfer(made["out_bill_no"])
    w.pay.confirm_transfer(made["out_bill_no"])
    w.pay.cancel_transfer(made["out_bill_no"])  # a final bill stays, nothing more is sent
    _delivered(w)
    time.sleep(0.1)
    assert len([d for d in w.pay.deliveries if d.event_type == EVENT]) == 1
    assert w.pay.transfers[made["out_bill_no"]].state == "SUCCESS"
    wait_until(lambda: _books(w, _owner_id, made["withdrawal_id"]).state == "paid", 10, what="paid")
