"""The mini-program's "my pile" page (miniprogram/pages/pile/pile, over
clients/core/pages/pile.js) in miniprogram-simulate under node against a running cloud whose
WeChat login and WeChat Pay are the local fake (a real merchant's settings, real signed
requests): reached from the settings page; the owner's pile and a visitor's session's split to
the fen; a second gun registered by its QR code (wx.scanCode) and the pairing code an operator
issued (a wrong code refused in the API's words), its hours and price set, opened; the payment
password set on the settings page, then a withdrawal that asks for it, refuses a wrong one and
is paid with the right one through the fake WeChat Pay; English too. The ledger is read back:
the owner's earnings less the one paid withdrawal, the refused attempts moved nothing.

node runs tests/clients/miniprogram/pile.test.js once for this module; each test here checks
its part of that run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import select

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.sharing import pairing
from cloud.sharing import service as sharing
from cloud.sharing.models import SharedPile, Withdrawal
from cloud.stations import service as stations
from tests.clients.support import Cloud, check_node_tests, run_node, running_cloud, tap_results
from tests.sharing.support import bill_visitor_session

PILE_TEST = "tests/clients/miniprogram/pile.test.js"
OWNER = "mp-pile-owner"
GUN1, GUN2 = "MP-HOME-1", "MP-HOME-2"
PASSWORD = "135790"


@pytest.fixture(scope="module")
def paying(
    tmp_path_factory: pytest.TempPathFactory, built: None
) -> Iterator[tuple[Cloud, FakeServer]]:
    tmp = tmp_path_factory.mktemp("mppile")
    keys = FakeKeys()
    with pytest.MonkeyPatch.context() as mp, FakeServer.for_keys(keys) as fake:
        mp.setenv("JC_INSTANCE_PATH", str(tmp / "instance"))
        with running_cloud(tmp, **keys.settings(keys.write(tmp / "keys"), fake.url)) as cloud:
            yield cloud, fake


def _login(cloud: Cloud, wechat_url: str, user: str) -> str:
    code = requests.post(wechat_url + "/fake/wx/login", json={"user": user}, timeout=10).json()[
        "code"
    ]
    r = requests.post(cloud.url + "/api/v1/driver/login", json={"code": code}, timeout=10)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["driver"]["id"])


@pytest.fixture(scope="module")
def run(paying: tuple[Cloud, FakeServer]) -> dict[str, object]:
    cloud, fake = paying
    owner = _login(cloud, fake.url, OWNER)
    with cloud.app.app_context(), db.transaction() as s:
        for sid, gun_code, name in (("MP-HOME1", GUN1, "我家的桩"), ("MP-HOME2", GUN2, "车库的桩")):
            stations.set_station(s, sid, name=name, lat=31.2, lng=121.6)
            stations.set_gun(
                s, sid, "P1-1", code=gun_code, name="1 号枪", rated_power_w=7000, kind="ac"
            )
        sharing.register(s, owner, "MP-HOME1", "P1-1", commission_bp=1000)
        code = pairing.issue(s, "MP-HOME2", "P1-1", issued_by="test")[0]
        # a visitor's session on the first pile, billed: 1,373 fen, the owner's 90 % = 1,236
        ledger.top_up(s, "mp-visitor", 5_000, key="mp-visitor-money")
        bill_visitor_session(s, "mp-pile-o1", "mp-visitor", "MP-HOME1")
        assert ledger.owner_balances(s, owner) == (1236, 0)
    env = {
        "JC_API_BASE": cloud.url,
        "JC_WECHAT_BASE": fake.url,
        "JC_OWNER": OWNER,
        "JC_GUN2": GUN2,
        "JC_PAIRING": code,
        "JC_PASSWORD": PASSWORD,
    }
    done = run_node(["--test", "--test-reporter=tap", PILE_TEST], env=env, timeout=120)
    return {
        "results": tap_results(done),
        "output": done.stdout + done.stderr,
        "owner": owner,
        "fake": fake,
        "cloud": cloud,
    }


def test_reached_from_settings(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: reached from the settings page")


def test_the_owners_pile_and_earnings(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: the owner's pile")


def test_register_by_qr_code_hours_price_open(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: register a gun")
    cloud = run["cloud"]
    assert isinstance(cloud, Cloud)
    with cloud.app.app_context():
        mine = db.session.scalars(
            select(SharedPile).where(SharedPile.owner_id == run["owner"]).order_by(SharedPile.id)
        ).all()
        assert [(p.sid, p.is_open) for p in mine] == [("MP-HOME1", False), ("MP-HOME2", True)]
        db.session.rollback()


def test_station_list_shared_open_now(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: the station list")


def test_spans_and_price_by_period(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: several open-hour spans")
    cloud = run["cloud"]
    assert isinstance(cloud, Cloud)
    with cloud.app.app_context():
        from cloud.models import now_ms
        from cloud.tariffs import service as tariffs

        pile = db.session.scalars(select(SharedPile).where(SharedPile.sid == "MP-HOME2")).one()
        view = sharing.view(db.session, pile)
        assert len(view["windows"]) == 12
        assert {"day": "sun", "start": "10:00", "end": "20:00"} in view["windows"]
        tariff = tariffs.in_force(db.session, "MP-HOME2", now_ms())
        assert tariff is not None
        assert [
            (p.start, p.end, p.name, p.energy_price_e4, p.service_price_e4) for p in tariff.periods
        ] == [("00:00", "08:00", "valley", 3000, 1000), ("08:00", "24:00", "peak", 12000, 3500)]
        db.session.rollback()


def test_withdrawal_with_the_payment_password(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: a withdrawal asks")
    cloud, fake, owner = run["cloud"], run["fake"], run["owner"]
    assert isinstance(cloud, Cloud) and isinstance(fake, FakeServer) and isinstance(owner, str)
    # one withdrawal, paid once by the fake WeChat Pay; the refused attempts held nothing
    with cloud.app.app_context():
        assert ledger.owner_balances(db.session, owner) == (236, 0)
        ws = db.session.scalars(select(Withdrawal)).all()
        assert [(w.owner_id, w.amount_fen, w.state) for w in ws] == [(owner, 1000, "paid")]
        db.session.rollback()
    assert fake.pay is not None
    assert [t.amount for t in fake.pay.transfers.values()] == [1000]


def test_my_pile_in_english(run: dict[str, object]) -> None:
    check_node_tests(run, "pile: my pile in English")
