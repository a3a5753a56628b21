"""Each payment keeps the channel it was made through (audit finding: it was not stored):
mini-program JSAPI, official-account JSAPI, H5. Shown in the driver API's recharge history,
the console's payments list (both languages) and the recharges export."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from cloud.db import db
from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.wallet.models import WalletPayment
from tests.console.conftest import cheap_argon2  # noqa: F401  (fixture)
from tests.console.support import login as console_login
from tests.console.support import make_operator
from tests.wallet.support import BASE, auth, login, wait_until
from tests.wallet.test_h5_channels import oa_login, recharge, state


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite only: a column of text, nothing a database differs on (the migration is checked
    on PostgreSQL by tests/cloud/test_app.py), and the streamed exports under the test client
    keep a PostgreSQL connection past the test."""
    return f"sqlite:///{tmp_path / 'cloud.sqlite'}"


@pytest.fixture
def paid(app: Flask, client: FlaskClient, fake: FakeServer, keys: FakeKeys) -> dict[str, str]:
    """One paid recharge per channel: {channel: recharge_id}; the mini-program's sends none."""
    assert fake.pay is not None
    mini, _ = login(client, fake, "ch-mini")
    r = client.post(f"{BASE}/wallet/recharges", json={"amount_fen": 1100}, headers=auth(mini))
    assert r.status_code == 201
    made = {"jsapi": (mini, r.json["recharge_id"])}
    h5, _ = login(client, fake, "ch-h5")
    made["h5"] = (h5, recharge(client, h5, 2200, "h5")["recharge_id"])
    oa, _ = oa_login(app, fake, keys, "ch-oa")
    made["oa_jsapi"] = (oa, recharge(client, oa, 3300, "oa_jsapi")["recharge_id"])
    for token, no in made.values():
        fake.pay.pay(no)
        wait_until(lambda t=token, n=no: state(client, t, n) == "paid", what="the credit")
    return {ch: no for ch, (_, no) in made.items()}


def test_the_channel_is_stored_and_in_the_recharge_history(app: Flask, client: FlaskClient, fake: FakeServer,
                                                           paid: dict[str, str]) -> None:
    with app.app_context():
        stored = dict(db.session.execute(select(WalletPayment.out_trade_no, WalletPayment.channel)).all())
    assert stored == {no: ch for ch, no in paid.items()}
    for who, ch in (("ch-mini", "jsapi"), ("ch-h5", "h5")):
        token, _ = login(client, fake, who)
        history = client.get(f"{BASE}/wallet/recharges", headers=auth(token)).json
        rows = history["recharges"] if isinstance(history, dict) else history
        assert [(r["recharge_id"], r["channel"]) for r in rows] == [(paid[ch], ch)]
        one = client.get(f"{BASE}/wallet/recharges/{paid[ch]}", headers=auth(token)).json
        assert one["channel"] == ch


@pytest.mark.parametrize(("lang", "labels"), [
    ("en", {"jsapi": "Mini-program (JSAPI)", "oa_jsapi": "Official account (JSAPI)", "h5": "H5 (phone browser)"}),
    ("zh-CN", {"jsapi": "小程序（JSAPI）", "oa_jsapi": "公众号（JSAPI）", "h5": "H5（手机浏览器）"}),
])
def test_the_console_lists_and_exports_the_channel(app: Flask, paid: dict[str, str], lang: str,
                                                   labels: dict[str, str]) -> None:
    make_operator(app, "fin", "finance")
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    assert console_login(c, "fin").status_code in (302, 303)
    page = c.get("/money/payments").text
    for ch, no in paid.items():
        row = page[page.index(no):]
        row = row[:row.index("</tr>")]
        assert f'<td class="channel">{labels[ch]}</td>' in row, row
    window = {"from": "2000-01-01", "to": "2099-12-31"}
    with c.get("/money/recharges.csv", query_string=window) as r:  # closed: the stream's session ends
        rows = list(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert rows[0][-1] == ("Channel" if lang == "en" else "支付渠道")
    assert {(r[4], r[-1]) for r in rows[1:]} == {(f"pay:{no}", ch) for ch, no in paid.items()}
    with c.get("/money/recharges.xlsx", query_string=window) as r:
        ws = load_workbook(io.BytesIO(r.get_data())).active
    got = {(r[4], r[-1]) for r in ws.iter_rows(min_row=2, values_only=True)}
    assert got == {(f"pay:{no}", ch) for ch, no in paid.items()}
