"""The mini-program's confirmation of a WeChat merchant transfer that waits for its payee
(商家转账, 用户确认模式; docs/sharing.md): the fake WeChat Pay holds every transfer in
WAIT_USER_CONFIRM; the pile page (miniprogram/pages/pile/pile over clients/core/pages/pile.js)
calls wx.requestMerchantTransfer with the parameters the cloud gave — right after the
withdrawal is made, and from the withdrawal list for one the owner left waiting — and asks the
withdrawal again. wx.requestMerchantTransfer is the test's stand-in for the payee's WeChat
(tests/clients/miniprogram/harness.js): it posts the parameters and the phone's user to the
fake, which checks them and reports the bill SUCCESS. The ledger and the fake's bills are read
back afterwards.

node runs tests/clients/miniprogram/pile_confirm.test.js once for this module; each test here
checks its part of that run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.sharing import service as sharing
from cloud.sharing.models import Withdrawal
from cloud.stations import service as stations
from tests.clients.support import Cloud, check_node_tests, run_node, running_cloud, tap_results
from tests.sharing.support import bill_visitor_session

CONFIRM_TEST = "tests/clients/miniprogram/pile_confirm.test.js"
OWNER = "mp-confirm-owner"


@pytest.fixture(scope="module")
def paying(
    tmp_path_factory: pytest.TempPathFactory, built: None
) -> Iterator[tuple[Cloud, FakeServer]]:
    tmp = tmp_path_factory.mktemp("mpconfirm")
    keys = FakeKeys()
    with (
        pytest.MonkeyPatch.context() as mp,
        FakeServer.for_keys(keys, transfer_outcome="WAIT_USER_CONFIRM") as fake,
    ):
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        with running_cloud(tmp, **keys.settings(keys.write(tmp / "keys"), fake.url)) as cloud:
            yield cloud, fake


@pytest.fixture(scope="module")
def run(paying: tuple[Cloud, FakeServer]) -> dict[str, object]:
    cloud, fake = paying
    code = requests.post(fake.url + "/fake/wx/login", json={"user": OWNER}, timeout=10).json()[
        "code"
    ]
    r = requests.post(cloud.url + "/api/v1/driver/login", json={"code": code}, timeout=10)
    assert r.status_code in (200, 201), r.text
    owner = str(r.json()["driver"]["id"])
    with cloud.app.app_context(), db.transaction() as s:
        stations.set_station(s, "MP-CONF1", name="我家的桩", lat=31.2, lng=121.6)
        stations.set_gun(
            s, "MP-CONF1", "P1-1", code="MP-CONF-1", name="1 号枪", rated_power_w=7000, kind="ac"
        )
        sharing.register(s, owner, "MP-CONF1", "P1-1", commission_bp=1000)
        # a visitor's session, billed: 1,373 fen, the owner's 90 % = 1,236
        ledger.top_up(s, "mp-confirm-visitor", 5_000, key="mp-confirm-visitor-money")
        bill_visitor_session(s, "mp-conf-o1", "mp-confirm-visitor", "MP-CONF1")
        assert ledger.owner_balances(s, owner) == (1236, 0)
    assert fake.pay is not None
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WECHAT_BASE": fake.url,
        "JC_OWNER": OWNER,
        "JC_MCHID": fake.pay.mchid,
        "JC_APPID": fake.pay.appid,
    }
    done = run_node(["--test", "--test-reporter=tap", CONFIRM_TEST], env=env, timeout=120)
    return {
        "results": tap_results(done),
        "output": done.stdout + done.stderr,
        "owner": owner,
        "fake": fake,
        "cloud": cloud,
    }


def test_confirmed_right_after_the_withdrawal(run: dict[str, object]) -> None:
    check_node_tests(run, "confirm: right after the withdrawal")


def test_confirmed_from_the_list(run: dict[str, object]) -> None:
    check_node_tests(run, "confirm: left waiting")


def test_waiting_in_english(run: dict[str, object]) -> None:
    check_node_tests(run, "confirm: in English")
    cloud, fake, owner = run["cloud"], run["fake"], run["owner"]
    assert isinstance(cloud, Cloud) and isinstance(fake, FakeServer) and isinstance(owner, str)
    # two paid once each through the payee's confirmation, one still waiting (its money held)
    with cloud.app.app_context():
        assert ledger.owner_balances(db.session, owner) == (100, 36)
        ws = db.session.scalars(select(Withdrawal).order_by(Withdrawal.id)).all()
        assert [(w.amount_fen, w.state) for w in ws] == [
            (1000, "paid"),
            (100, "paid"),
            (36, "sending"),
        ]
        db.session.rollback()
    assert fake.pay is not None
    assert sorted((t.amount, t.state) for t in fake.pay.transfers.values()) == [
        (36, "WAIT_USER_CONFIRM"),
        (100, "SUCCESS"),
        (1000, "SUCCESS"),
    ]
