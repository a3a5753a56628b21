"""Session receipts by WeChat subscribe message: the client against the fake WeChat (which
checks appid, secret, token, template id, keys and openid), the token cached and renewed; and
an order settled by real ingest and billing sends its receipt after the commit, while a failing
WeChat leaves the money settled."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.community import notices
from cloud.drivers.models import Driver
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.wechat.subscribe import SubscribeClient, SubscribeConfig, SubscribeError
from tests.billing.support import deliver, state
from tests.billing.test_service import session, setup

APPID, SECRET, TEMPLATE = "wx00000000000000aa", "secret-of-the-mini-program-0123", "tpl-receipt-1"
KEYS = ("character_string1", "amount2", "thing3", "time4")


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        assert server.subscribe is not None
        server.subscribe.templates[TEMPLATE] = KEYS
        yield server


def _client(fake: FakeServer, secret: str = SECRET) -> SubscribeClient:
    return SubscribeClient(SubscribeConfig(APPID, secret, fake.url, 2.0))


def _code(fn, *a, **kw) -> int | None:  # noqa: ANN001
    with pytest.raises(SubscribeError) as e:
        fn(*a, **kw)
    return e.value.errcode


def test_client_sends_what_wechat_checks_and_keeps_its_token(fake: FakeServer) -> None:
    sub, login = fake.subscribe, fake.login
    assert sub is not None and login is not None
    openid = login.openid_for("alice")
    login.issue_code("alice")
    data = {"character_string1": "o1", "amount2": "9.00元", "thing3": "站S1", "time4": "2026-12-02 20:30"}
    c = _client(fake)
    assert _code(c.send, openid, TEMPLATE, data) == 43101  # not accepted by the user
    sub.accept(openid, TEMPLATE)
    sub.accept(openid, TEMPLATE)
    assert c.send(openid, TEMPLATE, data, page="pages/orders/detail?order_id=o1") > 0
    assert sub.sent[-1] == {"touser": openid, "template_id": TEMPLATE, "page": "pages/orders/detail?order_id=o1",
                            "data": {k: {"value": v} for k, v in data.items()}}
    assert _code(c.send, openid, "tpl-unknown", data) == 40037
    assert _code(c.send, login.openid_for("nobody"), TEMPLATE, data) == 40003
    assert _code(c.send, openid, TEMPLATE, {"amount2": "x"}) == 47003
    assert _code(c.send, openid, TEMPLATE, {**data, "thing3": "长" * 21}) == 47003  # a thing is ≤ 20
    assert _code(c.send, openid, TEMPLATE, {**data, "time4": "tomorrow"}) == 47003
    assert sub.token_requests == 1  # cached
    sub.expire_tokens()
    assert c.send(openid, TEMPLATE, data) > 0  # 40001: a new token, and the message sent
    assert sub.token_requests == 2 and len(sub.sent) == 2
    assert _code(_client(fake, "wrong-secret").access_token) == 40125
    with pytest.raises(ValueError):
        SubscribeConfig(APPID, SECRET, "http://example.com")  # plain http only to the local fake


@pytest.fixture
def notifier(fake: FakeServer) -> Iterator[notices.WechatNotifier]:
    n = notices.WechatNotifier(_client(fake), TEMPLATE)
    notices.configure(n)
    yield n
    notices.configure(None)


def test_settled_order_sends_its_receipt_after_commit(engine: Engine, fake: FakeServer,
                                                      notifier: notices.WechatNotifier) -> None:
    sub, login = fake.subscribe, fake.login
    assert sub is not None and login is not None
    openid = login.openid_for("alice")
    login.issue_code("alice")
    with Session(engine) as s, s.begin():
        s.add(Driver(id=1, appid=APPID, openid=openid))
    sub.accept(openid, TEMPLATE)
    key, t = setup(engine, driver="1")
    assert t is not None
    sim = session(key, t)
    deliver(engine, sim.records)
    assert state(engine, "o1") == ("settled", None)
    notices.drain()
    assert len(sub.sent) == 1
    msg = sub.sent[0]
    assert msg["touser"] == openid and msg["data"]["character_string1"] == {"value": "o1"}
    assert msg["data"]["amount2"] == {"value": notices.yuan(sim.cost_fen)} and msg["page"] == "pages/order/order?id=o1"


def test_wechat_failing_never_touches_the_money(engine: Engine, fake: FakeServer, notifier: notices.WechatNotifier,
                                                caplog: pytest.LogCaptureFixture) -> None:
    login = fake.login
    assert login is not None
    with Session(engine) as s, s.begin():
        s.add(Driver(id=1, appid=APPID, openid=login.openid_for("bob")))  # no login, no acceptance: refused
    key, t = setup(engine, driver="1")
    assert t is not None
    with caplog.at_level(logging.ERROR, logger="jc.notices"):
        deliver(engine, session(key, t).records)
        notices.drain()
    assert state(engine, "o1") == ("settled", None)
    assert "session receipt for order o1 not sent" in caplog.text
    assert fake.subscribe is not None and fake.subscribe.sent == []


class Recorder:
    """A notifier that keeps what it was handed (the interface billing's receipts go through)."""

    def __init__(self) -> None:
        self.receipts: list[notices.Receipt] = []

    def session_receipt(self, receipt: notices.Receipt) -> None:
        self.receipts.append(receipt)


def test_receipts_wait_for_the_outermost_commit_and_skip_what_was_rolled_back(engine: Engine) -> None:
    from tests.community.support import seed_station, settled_order

    rec = Recorder()
    notices.configure(rec)
    try:
        with Session(engine) as s:
            seed_station(s, "S1")
            s.commit()
            with s.begin():
                with s.begin_nested():
                    kept = settled_order(s, "7", "S1")
                    notices.order_settled(s, kept)
                notices.drain()
                assert rec.receipts == []  # a savepoint's release is no commit
                sp = s.begin_nested()
                gone = settled_order(s, "7", "S1")
                notices.order_settled(s, gone)
                sp.rollback()
            notices.drain()
        assert [(r.order_id, r.driver_id, r.sid, r.station_name, r.openid) for r in rec.receipts] == \
            [(kept, "7", "S1", "站S1", None)]
    finally:
        notices.configure(None)
