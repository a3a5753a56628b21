"""The console's sharing pages through Flask's test client, in zh-CN and English: the shared
piles with owner, state, windows and money to the fen, the withdrawals with their state
(administrators and finance; a station owner sees its stations' piles and no withdrawals;
an operator not the page), and a pairing code issued by an operator (audited, CSRF checked)
that then registers the gun through the driver API's own function."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.ledger import service as ledger
from cloud.sharing import pairing, withdrawals
from cloud.sharing import service as sharing
from cloud.stations import service as stations
from tests.console.conftest import cheap_argon2, make_app  # noqa: F401  (fixture)
from tests.console.support import csrf_of, login, make_operator
from tests.sharing.support import bill_visitor_session

OWNER = "42"


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "HOME", name="家")
        stations.set_gun(s, "HOME", "P1-1", code="HOME-P1-1")
        stations.set_station(s, "PARK", name="小区")
        stations.set_gun(s, "PARK", "P1-1", code="PARK-P1-1")
        pile = sharing.register(s, OWNER, "HOME", "P1-1", commission_bp=1000)
        sharing.set_windows(
            s, OWNER, pile.id, [{"days": ["mon", "tue"], "start": "08:00", "end": "18:00"}]
        )
        sharing.set_open(s, OWNER, pile.id, True)
        ledger.top_up(s, "d1", 10_000, key="t")
        bill_visitor_session(s, "o1", "d1", "HOME", hold_fen=5000)
        withdrawals.request(s, OWNER, 236, "o-openid")
    for name, role, sts in (
        ("root", "admin", ()),
        ("fin", "finance", ()),
        ("ops", "operator", ()),
        ("own", "owner", ("PARK",)),
    ):
        make_operator(app, name, role, sts)
    return app


def _as(app: Flask, who: str, lang: str = "zh-CN"):  # noqa: ANN202
    c = app.test_client()
    c.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    assert login(c, who).status_code in (302, 303)
    return c


def test_the_lists_show_piles_and_withdrawals_to_the_fen(app: Flask) -> None:
    for who in ("root", "fin"):
        page = _as(app, who).get("/sharing")
        assert page.status_code == 200, who
        html = page.text
        assert "私桩共享" in html and 'data-pile="' in html and "周一 08:00–18:00" in html
        assert (
            "¥12.36" in html and "¥1.37" in html
        )  # the owner's share and the platform's of 1,373 fen
        assert (
            "¥10.00" in html and 'data-state="held"' in html and "冻结中" in html
        )  # earnings left, the withdrawal
    en = _as(app, "root", "en").get("/sharing").text
    assert (
        "Shared private piles" in en and "Mon 08:00–18:00" in en and "held" in en and "open" in en
    )
    # a station owner: only its stations' piles (none here), no withdrawals; an operator: not the page
    own = _as(app, "own").get("/sharing")
    assert (
        own.status_code == 200
        and 'id="no-shared-piles"' in own.text
        and 'id="withdrawals"' not in own.text
    )
    assert _as(app, "ops").get("/sharing").status_code == 403
    # the money tabs lead here
    assert 'id="tab-sharing"' in _as(app, "fin").get("/money/refunds").text


def test_an_operator_issues_a_pairing_code_that_registers_the_gun(app: Flask) -> None:
    ops = _as(app, "ops")
    form = ops.get("/sharing/pairing")
    assert form.status_code == 200 and 'id="pairing-form"' in form.text
    refused = ops.post("/sharing/pairing", data={"sid": "PARK", "gun": "P1-1"})  # no CSRF token
    assert refused.status_code in (400, 403) and 'id="pairing-code"' not in refused.text
    token = csrf_of(ops, "/sharing/pairing")
    bad = ops.post("/sharing/pairing", data={"sid": "PARK", "gun": "P9-9", "csrf_token": token})
    assert bad.status_code == 404 and 'id="error"' in bad.text
    r = ops.post("/sharing/pairing", data={"sid": "PARK", "gun": "P1-1", "csrf_token": token})
    assert r.status_code == 200
    code = r.text.split('id="pairing-code">', 1)[1].split("<", 1)[0]
    assert len(code) == pairing.LENGTH
    with app.app_context():
        [entry] = db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sharing.pairing_code")
        ).all()
        assert (
            entry.actor == "ops"
            and entry.target == "gun:PARK/P1-1"
            and code not in str(entry.detail)
        )
        db.session.rollback()
        pid = pairing.register_with_code(
            db.transaction, "77", "PARK-P1-1", code, commission_bp=1000
        )
        assert sharing.own_pile(db.session, "77", pid).sid == "PARK"
        assert ledger.owner_balances(db.session, OWNER) == (1000, 236)
    # finance reads the form page but may not issue; a station owner neither issues
    assert 'id="pairing-form"' not in _as(app, "fin").get("/sharing/pairing").text
    fin = _as(app, "fin")
    assert (
        fin.post(
            "/sharing/pairing",
            data={"sid": "PARK", "gun": "P1-1", "csrf_token": csrf_of(fin, "/sharing/pairing")},
        ).status_code
        == 403
    )


def test_the_cli_prints_a_code_that_works_once(app: Flask) -> None:
    import json

    out = app.test_cli_runner().invoke(
        args=["sharing", "pairing-code", "PARK", "P1-1", "--hours", "2", "--json"]
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.output)
    assert (got["sid"], got["gun"], len(got["code"])) == ("PARK", "P1-1", pairing.LENGTH)
    with app.app_context():
        pairing.register_with_code(
            db.transaction, "77", "PARK-P1-1", got["code"], commission_bp=1000
        )
        with pytest.raises(Exception) as e:
            pairing.register_with_code(
                db.transaction, "78", "PARK-P1-1", got["code"], commission_bp=1000
            )
        assert getattr(e.value, "code", None) == "pairing_code_invalid"
    bad = app.test_cli_runner().invoke(args=["sharing", "pairing-code", "PARK", "P9-9"])
    assert bad.exit_code != 0 and "no gun" in bad.output
