"""The owner's side of a private pile through the driver API (the real app on SQLite and
PostgreSQL, WeChat login and WeChat Pay both the local fake), every answer checked against
docs/api/cloud.openapi.yaml and every operation marked `x-walked-in` here walked: register
with a pairing code (wrong, reused, another owner's gun, a locked-out guesser), windows,
price, the switch, earnings per order to the fen after another driver's session, a
withdrawal paid through the fake WeChat Pay; another driver's pile answers as a missing one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.sharing import pairing
from cloud.stations import service as stations
from tests.apiqa.support import build_app, start_fake
from tests.charging.test_openapi_walk import Walk
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE, auth, token_of

SPEC = load_spec("cloud")
HERE = Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == HERE}
PILES = f"{BASE}/shared-piles"


@pytest.fixture(scope="module")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def fake(keys: FakeKeys) -> Iterator[FakeServer]:
    server = start_fake(keys)
    yield server
    server.close()


@pytest.fixture
def app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, keys: FakeKeys, fake: FakeServer
) -> Iterator[Flask]:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = build_app(tmp_path, db_url, keys, fake)
    yield app
    with app.app_context():
        db.engine.dispose()


def _seed(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "HOME", name="家")
        stations.set_gun(s, "HOME", "P1-1", code="HOME-P1-1")
        stations.set_station(s, "PARK", name="小区")
        for gun in ("P1-1", "P1-2"):
            stations.set_gun(s, "PARK", gun, code=f"PARK-{gun}")


def _code(app: Flask, sid: str, gun: str, **kw: Any) -> str:
    with app.app_context(), db.transaction() as s:
        return pairing.issue(s, sid, gun, issued_by="test", **kw)[0]


def _settled_order(app: Flask, driver_id: int, order_id: str) -> None:
    """Another driver's session on the pile, billed: electricity 1,005, service 333, idle 35 fen."""
    with app.app_context(), db.transaction() as s:
        ledger.top_up(s, str(driver_id), 5_000, key=f"t-{order_id}")
        orders.create(
            s,
            order_id=order_id,
            driver_id=str(driver_id),
            sid="HOME",
            gun="P1-1",
            limit_mode="amount",
            limit_value=3_000,
            hold_fen=3_000,
        )
        orders.apply(s, order_id, Event.START_SENT)
        orders.apply(s, order_id, Event.SESSION_STARTED, session_id=f"sess-{order_id}")
        orders.apply(s, order_id, Event.SESSION_ENDED)
        orders.apply(
            s,
            order_id,
            Event.BILLED,
            lines=[
                orders.Line("electricity", 1005, "flat", 1000),
                orders.Line("service", 333, "flat", 1000),
                orders.Line("idle", 35),
            ],
        )


def test_every_owner_operation_as_documented(app: Flask, fake: FakeServer) -> None:
    x = Walk(app.test_client())
    _seed(app)
    h = auth(token_of(x.client, fake, "owner"))
    h2 = auth(token_of(x.client, fake, "neighbour"))
    driver2 = x("GET", f"{BASE}/me", 200, headers=h2)["id"]
    walked: set[tuple[str, str]] = set()

    def go(method: str, path: str, expect: int, code: str | None = None, **kw: Any) -> Any:
        bare = path.split("?")[0]
        walked.update(
            (p, method.lower())
            for p, _ in MINE
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), bare)
        )
        return x(method, path, expect, code, **kw)

    # register: the pairing code is the proof, for its gun only, once
    code = _code(app, "HOME", "P1-1")
    go("POST", PILES, 400, "invalid_request", json={"gun_code": "HOME-P1-1"}, headers=h)
    go(
        "POST",
        PILES,
        404,
        "gun_not_found",
        json={"gun_code": "NOPE", "pairing_code": code},
        headers=h,
    )
    go(
        "POST",
        PILES,
        403,
        "pairing_code_invalid",
        json={"gun_code": "PARK-P1-1", "pairing_code": code},
        headers=h,
    )
    r = x.client.post(
        PILES,
        json={"gun_code": "HOME-P1-1", "pairing_code": "WRONG0CODE"},
        headers={**h, "Accept-Language": "en"},
    )
    assert r.status_code == 403 and "pairing code is wrong" in r.json["error"]["message"]
    pretty = f"{code[:4].lower()}-{code[4:8]} {code[8:]}"  # as read out: case, hyphens and spaces do not matter
    pile = go("POST", PILES, 201, json={"gun_code": "HOME-P1-1", "pairing_code": pretty}, headers=h)
    assert (pile["sid"], pile["gun"], pile["open"], pile["windows"]) == ("HOME", "P1-1", False, [])
    pid = pile["pile_id"]
    go(
        "POST",
        PILES,
        403,
        "pairing_code_invalid",
        json={"gun_code": "HOME-P1-1", "pairing_code": code},
        headers=h2,
    )
    other = _code(app, "HOME", "P1-1")  # even with a live code, a gun has one owner
    go(
        "POST",
        PILES,
        409,
        "already_shared",
        json={"gun_code": "HOME-P1-1", "pairing_code": other},
        headers=h2,
    )

    # reading: one's own piles only
    assert [p["pile_id"] for p in go("GET", PILES, 200, headers=h)["piles"]] == [pid]
    assert go("GET", PILES, 200, headers=h2)["piles"] == []
    assert go("GET", f"{PILES}/{pid}", 200, headers=h)["pile_id"] == pid
    for who, path in ((h2, f"{PILES}/{pid}"), (h, f"{PILES}/{pid + 1000}"), (h, f"{PILES}/abc")):
        go("GET", path, 404, "not_found", headers=who)

    # windows, price, switch (another driver: 404, nothing changed)
    week = {
        "windows": [
            {
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "start": "00:00",
                "end": "24:00",
            }
        ]
    }
    go("PUT", f"{PILES}/{pid}/windows", 404, "not_found", json=week, headers=h2)
    go(
        "PUT",
        f"{PILES}/{pid}/windows",
        400,
        "invalid_window",
        json={"windows": [{"days": ["mon"], "start": "18:00", "end": "08:00"}]},
        headers=h,
    )
    assert len(go("PUT", f"{PILES}/{pid}/windows", 200, json=week, headers=h)["windows"]) == 7
    price = {
        "periods": [
            {
                "start": "00:00",
                "end": "24:00",
                "name": "flat",
                "energy_price_e4": 8000,
                "service_price_e4": 2000,
            }
        ]
    }
    go("PUT", f"{PILES}/{pid}/price", 404, "not_found", json=price, headers=h2)
    go("PUT", f"{PILES}/{pid}/price", 400, "invalid_tariff", json={"periods": []}, headers=h)
    assert (
        go("PUT", f"{PILES}/{pid}/price", 200, json=price, headers=h)["tariff_id"]
        == f"share-{pid}-v1"
    )
    go("POST", f"{PILES}/{pid}/open", 404, "not_found", json={"open": True}, headers=h2)
    go("POST", f"{PILES}/{pid}/open", 400, "invalid_request", json={"open": "yes"}, headers=h)
    opened = go("POST", f"{PILES}/{pid}/open", 200, json={"open": True}, headers=h)
    assert opened["open"] is True and opened["open_now"] is True
    park = go(
        "POST",
        PILES,
        201,
        json={"gun_code": "PARK-P1-2", "pairing_code": _code(app, "PARK", "P1-2")},
        headers=h,
    )
    go(
        "PUT",
        f"{PILES}/{park['pile_id']}/price",
        409,
        "price_not_own_station",
        json=price,
        headers=h,
    )

    # earnings per order, to the fen (10 %: owner 1,236, platform 137 of 1,373)
    _settled_order(app, driver2, "share-o1")
    e = go("GET", f"{BASE}/sharing/earnings", 200, headers=h)
    assert (e["balance_fen"], e["withdrawing_fen"], e["debt_fen"]) == (1236, 0, 0)
    [row] = e["sessions"]
    assert (
        row["order_id"],
        row["total_fen"],
        row["owner_fen"],
        row["platform_fen"],
        row["owner_net_fen"],
    ) == ("share-o1", 1373, 1236, 137, 1236)
    assert go("GET", f"{BASE}/sharing/earnings?limit=5", 200, headers=h2)["sessions"] == []
    go("GET", f"{BASE}/sharing/earnings?limit=0", 400, "invalid_request", headers=h)

    # withdrawals: held, transferred by the fake WeChat Pay, paid
    go(
        "POST",
        f"{BASE}/sharing/withdrawals",
        400,
        "invalid_amount",
        json={"amount_fen": 0},
        headers=h,
    )
    go(
        "POST",
        f"{BASE}/sharing/withdrawals",
        409,
        "insufficient_earnings",
        json={"amount_fen": 1237},
        headers=h,
    )
    go(
        "POST",
        f"{BASE}/sharing/withdrawals",
        409,
        "insufficient_earnings",
        json={"amount_fen": 1},
        headers=h2,
    )
    w = go("POST", f"{BASE}/sharing/withdrawals", 201, json={"amount_fen": 1000}, headers=h)
    assert w["state"] == "paid" and fake.pay.transfers[w["out_bill_no"]].amount == 1000
    listed = go("GET", f"{BASE}/sharing/withdrawals", 200, headers=h)["withdrawals"]
    assert [v["withdrawal_id"] for v in listed] == [w["withdrawal_id"]]
    assert go("GET", f"{BASE}/sharing/withdrawals?limit=3", 200, headers=h2)["withdrawals"] == []
    assert go("GET", f"{BASE}/sharing/earnings", 200, headers=h)["balance_fen"] == 236
    one = f"{BASE}/sharing/withdrawals/{w['withdrawal_id']}"
    assert go("GET", one, 200, headers=h)["state"] == "paid"
    assert go("GET", one, 200, headers=h)["confirm_params"] is None
    go("GET", one, 404, "not_found", headers=h2)  # another's withdrawal: as a missing one
    go("GET", f"{BASE}/sharing/withdrawals/x1", 404, "not_found", headers=h)

    # a transfer WeChat holds for the payee's confirmation: the parameters for
    # wx.requestMerchantTransfer while it waits, then paid once the payee's WeChat confirmed it
    fake.pay.transfer_outcome = "WAIT_USER_CONFIRM"
    w2 = go("POST", f"{BASE}/sharing/withdrawals", 201, json={"amount_fen": 100}, headers=h)
    assert w2["state"] == "sending" and w2["package_info"]
    assert w2["confirm_params"] == {
        "mchId": fake.pay.mchid,
        "appId": fake.pay.appid,
        "package": w2["package_info"],
    }
    one = f"{BASE}/sharing/withdrawals/{w2['withdrawal_id']}"
    assert go("GET", one, 200, headers=h)["confirm_params"] == w2["confirm_params"]
    listed = go("GET", f"{BASE}/sharing/withdrawals", 200, headers=h)["withdrawals"]
    assert [v["confirm_params"] for v in listed] == [w2["confirm_params"], None]
    confirm = fake.url + "/fake/request-merchant-transfer"
    refused = requests.post(confirm, json={**w2["confirm_params"], "user": "neighbour"}, timeout=10)
    assert refused.status_code == 403 and "requestMerchantTransfer:fail" in refused.json()["errMsg"]
    wrong = requests.post(
        confirm, json={**w2["confirm_params"], "appId": "wxother", "user": "owner"}, timeout=10
    )
    assert wrong.status_code == 400
    assert go("GET", one, 200, headers=h)["state"] == "sending"
    ok = requests.post(confirm, json={**w2["confirm_params"], "user": "owner"}, timeout=10)
    assert ok.json() == {"errMsg": "requestMerchantTransfer:ok", "out_bill_no": w2["out_bill_no"]}
    paid = go("GET", one, 200, headers=h)
    assert (paid["state"], paid["package_info"], paid["confirm_params"]) == ("paid", None, None)
    assert go("GET", f"{BASE}/sharing/earnings", 200, headers=h)["balance_fen"] == 136

    # the switch closes the pile at once
    assert (
        go("POST", f"{PILES}/{pid}/open", 200, json={"open": False}, headers=h)["open_now"] is False
    )
    assert walked == MINE, MINE - walked


def test_a_guesser_is_locked_out_and_a_guessed_code_dies(app: Flask, fake: FakeServer) -> None:
    x = Walk(app.test_client())
    _seed(app)
    code = _code(app, "HOME", "P1-1")
    guesser = auth(token_of(x.client, fake, "guesser"))
    for i in range(pairing.DRIVER_MAX_FAILURES):
        x(
            "POST",
            PILES,
            403,
            "pairing_code_invalid",
            json={"gun_code": "PARK-P1-1", "pairing_code": f"GUESS{i:05d}"},
            headers=guesser,
        )
    r = x.client.post(PILES, json={"gun_code": "HOME-P1-1", "pairing_code": code}, headers=guesser)
    assert r.status_code == 429 and r.json["error"]["code"] == "pairing_locked"
    assert 0 < int(r.headers["Retry-After"]) <= pairing.DRIVER_WINDOW_MS // 1000
    # wrong guesses at one gun by several drivers void its code: the right one then fails too
    for n in range(pairing.CODE_MAX_FAILURES):
        other = auth(token_of(x.client, fake, f"g{n}"))
        x(
            "POST",
            PILES,
            403,
            "pairing_code_invalid",
            json={"gun_code": "HOME-P1-1", "pairing_code": "AAAAAAAAAA"},
            headers=other,
        )
    owner = auth(token_of(x.client, fake, "owner"))
    x(
        "POST",
        PILES,
        403,
        "pairing_code_invalid",
        json={"gun_code": "HOME-P1-1", "pairing_code": code},
        headers=owner,
    )
    # an expired code, then a fresh one
    x(
        "POST",
        PILES,
        403,
        "pairing_code_invalid",
        json={"gun_code": "HOME-P1-1", "pairing_code": _code(app, "HOME", "P1-1", now=1_000)},
        headers=owner,
    )
    x(
        "POST",
        PILES,
        201,
        json={"gun_code": "HOME-P1-1", "pairing_code": _code(app, "HOME", "P1-1")},
        headers=owner,
    )


def test_a_pairing_code_no_code_could_be_is_a_wrong_code(app: Flask, fake: FakeServer) -> None:
    # "\ud800" is valid JSON (a lone surrogate) that cannot be encoded to be hashed: it was a 500
    x = Walk(app.test_client())
    _seed(app)
    code = _code(app, "HOME", "P1-1")
    h = auth(token_of(x.client, fake, "typo"))
    for typed in ("\ud800", "AAAA\ud800AAAAA", "ＡＡＡＡＡＡＡＡＡＡ", "AAAA\x00AAAAA"):
        x("POST", PILES, 403, "pairing_code_invalid", json={"gun_code": "HOME-P1-1", "pairing_code": typed},
          headers=h)
    raw = b'{"gun_code": "HOME-P1-1", "pairing_code": "\\ud800"}'
    r = x.client.post(PILES, data=raw, headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 403 and r.json["error"]["code"] == "pairing_code_invalid"
    r = x.client.post(PILES, json={"gun_code": "HOME-P1-1", "pairing_code": code}, headers=h)
    assert r.status_code == 429 and r.json["error"]["code"] == "pairing_locked"  # five wrong codes counted
    # five wrong guesses at the gun voided its code, as any; a new one registers the pile
    other, fresh = auth(token_of(x.client, fake, "owner")), _code(app, "HOME", "P1-1")
    assert x.client.post(PILES, json={"gun_code": "HOME-P1-1", "pairing_code": fresh}, headers=other).status_code == 201
