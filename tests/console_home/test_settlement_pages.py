"""The settlement pages through Flask's test client on the seeded data: statements equal the
ledger per day, shares set and audited, closing a day (finance), owners read their own only."""

from __future__ import annotations

import re
from datetime import date

from flask import Flask
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from tests.console.support import csrf_of, login
from tests.console_home.test_settlement_service import ledger_revenue
from tests.reports.factories import Seeded

TODAY = date(2026, 3, 15)


def busy_day(data: Seeded, sid: str | None = None) -> date:
    """The past day with the most settled orders (of `sid`) in the seeded data."""
    from collections import Counter

    from cloud.settlement.service import local_day

    days = Counter(local_day(at, "Asia/Shanghai") for _, s, at, _ in data.settled if sid in (None, s))
    return max((d for d in days if d < TODAY), key=lambda d: (days[d], d))


def total(html: str, col: int = 0) -> int:
    row = re.search(r'id="statement-total">(.*?)</tr>', html, re.S).group(1)
    return int(re.findall(r'data-fen="(-?\d+)"', row)[col])


def test_statement_equals_the_ledger_and_closes(seeded_app: tuple[Flask, Seeded]) -> None:
    app, data = seeded_app
    YESTERDAY = busy_day(data)  # noqa: N806
    c = app.test_client()
    login(c, "fin")
    token = csrf_of(c, "/settlement/shares")
    r = c.post("/settlement/shares", data={"sid": "ST000", "effective_day": "2026-01-01", "electricity_bp": "10000",
                                           "service_bp": "7000", "idle_bp": "5000", "commission_bp": "300",
                                           "csrf_token": token})
    assert r.status_code == 303
    bad = c.post("/settlement/shares", data={"sid": "ST000", "effective_day": "2026-01-01", "electricity_bp": "10001",
                                             "service_bp": "0", "idle_bp": "0", "commission_bp": "0", "csrf_token": token})
    assert bad.status_code == 400 and "基点" in bad.text
    assert c.get("/settlement/").status_code == 200
    page = c.get(f"/settlement/{YESTERDAY}").text
    with app.app_context():
        want = sum(ledger_revenue(db.session, sid, YESTERDAY) for sid in ("ST000", "ST001", "ST002"))
    assert want > 0 and total(page) == want and 'id="close-form"' in page
    assert 'id="close-form"' not in c.get(f"/settlement/{TODAY}").text  # not ended yet
    assert c.post(f"/settlement/{TODAY}/close", data={"csrf_token": token}).status_code == 303
    assert c.post(f"/settlement/{YESTERDAY}/close", data={"csrf_token": token}).status_code == 303
    closed = c.get(f"/settlement/{YESTERDAY}").text
    assert total(closed) == want and 'id="close-form"' not in closed
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "fin")))
    assert {"settlement.share", "settlement.close"} <= actions
    assert c.get("/settlement/2026-02-30").status_code == 404


def test_an_owner_reads_its_own_statements_only(seeded_app: tuple[Flask, Seeded]) -> None:
    app, data = seeded_app
    YESTERDAY = busy_day(data, "ST000")  # noqa: N806
    o = app.test_client()
    login(o, "own")
    page = o.get(f"/settlement/{YESTERDAY}").text
    with app.app_context():
        assert total(page) == ledger_revenue(db.session, "ST000", YESTERDAY) > 0
    assert 'data-sid="ST001"' not in page and 'id="owner-pick"' not in page
    assert 'data-sid="ST001"' not in o.get("/settlement/shares").text
    token = csrf_of(o, "/settlement/")
    assert o.post(f"/settlement/{YESTERDAY}/close", data={"csrf_token": token}).status_code == 403
    assert o.post("/settlement/shares", data={"sid": "ST000", "csrf_token": token}).status_code == 403
    # finance picks that owner: the same statement
    f = app.test_client()
    login(f, "fin")
    with app.app_context():
        from cloud.operators.models import Operator

        oid = db.session.scalars(select(Operator.id).where(Operator.login == "own")).one()
    assert total(f.get(f"/settlement/{YESTERDAY}?owner={oid}").text) == total(page)
