"""Withdrawals of a pile owner's earnings through our signed WeChat Pay client against the
fake WeChat Pay (which checks the signature and the documented fields): held, then paid or
released in the ledger, never more than the earnings, never paid twice — also when several
workers send the same withdrawal or several requests race (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.payments.errors import InvalidPaymentRequest
from cloud.payments.provider import TransferProvider, TransferRequest
from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig
from cloud.sharing import withdrawals
from cloud.sharing.models import Withdrawal
from cloud.sharing.service import SharingError
from tests.cloud.support import migrated_engine

OWNER, OPENID, SCENE = "1", "o-owner-openid-1", "1005"
EARNED = 1236


@pytest.fixture(scope="module")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def fake(keys: FakeKeys) -> Iterator[FakeServer]:
    with FakeServer.for_keys(keys) as server:
        yield server


@pytest.fixture
def client(keys: FakeKeys, fake: FakeServer, tmp_path: Path) -> WechatPayClient:
    return WechatPayClient(WechatPayConfig.from_settings(keys.settings(keys.write(tmp_path / "keys"), fake.url)))


def _earn(engine: Engine, fen: int = EARNED) -> None:
    with Session(engine) as s, s.begin():
        ledger.post_owner(s, "test-earned", "owner_share", OWNER, {Kind.REVENUE_SERVICE: -fen, Kind.OWNER_EARNINGS: fen})


def _request(engine: Engine, fen: int) -> int:
    with Session(engine) as s, s.begin():
        return withdrawals.request(s, OWNER, fen, OPENID).id


def _send(engine: Engine, client: TransferProvider, wid: int) -> dict:
    return withdrawals.send(sessionmaker(engine).begin, client, wid, scene_id=SCENE)


def _owner(engine: Engine) -> tuple[int, int]:
    with Session(engine) as s:
        assert ledger.verify(s) == []
        return ledger.owner_balances(s, OWNER)


def _clearing(engine: Engine) -> int:
    with Session(engine) as s:
        return ledger.platform_balance(s, Kind.CLEARING)


def test_the_client_is_a_transfer_provider(client: WechatPayClient) -> None:
    assert isinstance(client, TransferProvider)


def test_a_withdrawal_is_held_then_paid_once(engine: Engine, fake: FakeServer, client: WechatPayClient) -> None:
    _earn(engine)
    wid = _request(engine, 1000)
    assert _owner(engine) == (EARNED - 1000, 1000)
    v = _send(engine, client, wid)
    assert v["state"] == "paid"
    assert _owner(engine) == (EARNED - 1000, 0)
    assert _clearing(engine) == 1000 and fake.pay.transferred(OPENID) == 1000
    rec = fake.pay.transfers[v["out_bill_no"]]
    assert (rec.request["transfer_amount"], rec.request["openid"], rec.request["appid"]) == (1000, OPENID,
                                                                                               fake.pay.appid)
    assert rec.request["transfer_scene_id"] == SCENE and rec.request["transfer_scene_report_infos"]
    assert _send(engine, client, wid)["state"] == "paid"  # again: nothing asked, nothing moved
    assert len(fake.pay.transfers) == 1 and _clearing(engine) == 1000


def test_more_than_the_earnings_is_refused_with_nothing_moved(engine: Engine) -> None:
    _earn(engine)
    for bad, code in ((EARNED + 1, "insufficient_earnings"), (0, "invalid_amount"), ("5", "invalid_amount")):
        with pytest.raises(SharingError) as e:
            _request(engine, bad)  # type: ignore[arg-type]
        assert e.value.code == code
    assert _owner(engine) == (EARNED, 0)
    with Session(engine) as s:
        assert s.query(Withdrawal).count() == 0


def test_a_failed_transfer_releases_the_money_back(engine: Engine, fake: FakeServer, client: WechatPayClient) -> None:
    _earn(engine)
    fake.pay.transfer_outcome = "FAIL"
    wid = _request(engine, 700)
    v = _send(engine, client, wid)
    assert (v["state"], v["failure"]) == ("released", "FAIL")  # the creation answer carries no reason
    assert _owner(engine) == (EARNED, 0) and _clearing(engine) == 0 and fake.pay.transferred(OPENID) == 0


def test_a_pending_or_unconfirmed_transfer_is_followed_to_its_end(engine: Engine, fake: FakeServer,
                                                                  client: WechatPayClient) -> None:
    _earn(engine)
    fake.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    wid = _request(engine, 300)
    v = _send(engine, client, wid)
    assert v["state"] == "sending" and v["package_info"]
    tx = sessionmaker(engine).begin
    assert withdrawals.follow(tx, client, wid)["state"] == "sending"  # not confirmed yet
    assert _owner(engine) == (EARNED - 300, 300)
    fake.pay.confirm_transfer(v["out_bill_no"])
    assert withdrawals.follow(tx, client, wid)["state"] == "paid"
    assert _owner(engine) == (EARNED - 300, 0) and fake.pay.transferred(OPENID) == 300
    fake.pay.transfer_outcome, fake.pay.transfer_pending = "SUCCESS", True
    wid = _request(engine, 36)
    assert _send(engine, client, wid)["state"] == "sending"
    assert withdrawals.follow(tx, client, wid)["state"] == "paid"
    assert _owner(engine) == (EARNED - 336, 0)


def test_an_unverified_request_moves_nothing_and_can_be_sent_again(engine: Engine, fake: FakeServer,
                                                                   client: WechatPayClient, tmp_path: Path) -> None:
    _earn(engine)
    wid = _request(engine, 500)
    stranger = FakeKeys()  # another merchant key: the fake's signature check refuses it (401)
    wrong = WechatPayClient(WechatPayConfig.from_settings(stranger.settings(stranger.write(tmp_path / "k2"),
                                                                            fake.url)))
    assert _send(engine, wrong, wid)["state"] == "held"
    assert ("POST", "/v3/fund-app/mch-transfer/transfer-bills", 401) in fake.pay.requests_seen
    assert fake.pay.transfers == {} and _owner(engine) == (EARNED - 500, 500)
    assert _send(engine, client, wid)["state"] == "paid"
    assert fake.pay.transferred(OPENID) == 500


def test_the_fake_refuses_a_reused_bill_number_and_bad_fields(fake: FakeServer, client: WechatPayClient) -> None:
    req = TransferRequest(out_bill_no="W1", openid=OPENID, amount_fen=100, remark="x", scene_id=SCENE,
                          scene_report=(("岗位类型", "桩主"),))
    assert client.transfer(req).state.value == "SUCCESS"
    assert client.transfer(req).transfer_bill_no == fake.pay.transfers["W1"].transfer_bill_no
    from cloud.payments.errors import ProviderError

    with pytest.raises(ProviderError) as e:
        client.transfer(TransferRequest(**{**req.__dict__, "amount_fen": 200}))
    assert e.value.status == 400
    assert fake.pay.transferred(OPENID) == 100
    q = client.query_transfer("W1")
    assert (q.amount_fen, q.state.value) == (100, "SUCCESS")
    for bad in ({"out_bill_no": "W-1"}, {"remark": "x" * 33}, {"amount_fen": 0}, {"scene_report": ()}):
        with pytest.raises(InvalidPaymentRequest):
            client.transfer(TransferRequest(**{**req.__dict__, **bad}))


@pytest.mark.postgres
def test_concurrent_sends_and_requests_pay_once_and_never_overdraw(pg_url: str, fake: FakeServer,
                                                                   client: WechatPayClient) -> None:
    engine = migrated_engine(pg_url)
    try:
        _earn(engine)
        wid = _request(engine, 1000)
        with ThreadPoolExecutor(6) as pool:
            states = list(pool.map(lambda _i: _send(engine, client, wid)["state"], range(6)))
        assert set(states) <= {"paid", "held", "sending"} and "paid" in states
        assert fake.pay.transferred(OPENID) == 1000 and len(fake.pay.transfers) == 1
        assert _owner(engine) == (EARNED - 1000, 0) and _clearing(engine) == 1000

        def ask(_i: int) -> str:
            try:
                _request(engine, 100)
                return "held"
            except SharingError as e:
                return e.code

        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(ask, range(6)))
        assert outcomes.count("held") == 2 and outcomes.count("insufficient_earnings") == 4
        assert _owner(engine) == (EARNED - 1200, 200)
    finally:
        engine.dispose()
