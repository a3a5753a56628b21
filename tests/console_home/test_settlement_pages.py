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


def _export_rows(client, path: str) -> list[list[str]]:  # noqa: ANN001
    import csv
    import io

    r = client.get(path)
    assert r.status_code == 200 and r.mimetype == "text/csv", r.status_code
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_statements_export_payouts_and_owner_scope(seeded_app: tuple[Flask, Seeded]) -> None:
    """Finance exports statements (CSV and Excel) that equal the ledger, closes a day, makes
    the owner's share payable and records the bank transfer; the owner sees that payout and
    exports only its own stations' lines; another owner sees neither; owners cannot pay."""
    from decimal import Decimal
    from io import BytesIO

    from openpyxl import load_workbook

    from cloud.ledger.accounts import Kind
    from cloud.ledger.service import platform_balance, verify
    from cloud.operators.models import Operator
    from tests.console.support import make_operator

    app, data = seeded_app
    from cloud.settlement.service import local_day

    taken = {busy_day(data), busy_day(data, "ST000")}  # the days the other tests close
    day = max(d for d in {local_day(at, "Asia/Shanghai") for _, sid, at, _ in data.settled if sid == "ST000"}
              if d < TODAY and d not in taken)
    make_operator(app, "own-b", "owner", stations=("ST001",))
    with app.app_context():
        oid = db.session.scalars(select(Operator.id).where(Operator.login == "own")).one()
        want = {sid: ledger_revenue(db.session, sid, day) for sid in ("ST000", "ST001", "ST002")}
        db.session.rollback()
    assert want["ST000"] > 0

    f = app.test_client()
    login(f, "fin")
    token = csrf_of(f, "/settlement/shares")
    assert f.post("/settlement/shares", data={"sid": "ST000", "effective_day": "2025-01-01", "electricity_bp": "8000",
                                              "service_bp": "6000", "idle_bp": "5000", "commission_bp": "500",
                                              "csrf_token": token}).status_code == 303
    rows = _export_rows(f, f"/settlement/statements.csv?from={day}&to={day}")
    assert rows[0][:4] == ["日期", "已关账", "电站", "费用类型"]
    for sid, fen in want.items():
        assert sum(Decimal(r[4]) for r in rows[1:] if r[2] == sid) * 100 == fen
    xlsx = f.get(f"/settlement/statements.xlsx?from={day}&to={day}")
    assert xlsx.status_code == 200
    sheet = load_workbook(BytesIO(xlsx.data), read_only=True)["statements"]
    cells = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert [str(c) for c in cells[1][:3]] == rows[1][:3] and len(cells) == len(rows)
    assert f.get("/settlement/statements.csv?from=2026-03-10&to=2026-03-01").status_code == 400
    assert f.get("/settlement/statements.csv?from=2024-01-01&to=2026-03-01").status_code == 400

    # close the day; the owner's share becomes payable, then paid with its reference
    assert f.post(f"/settlement/{day}/close", data={"csrf_token": token}).status_code == 303
    page = f.get(f"/settlement/{day}?owner={oid}").text
    assert 'id="payable-form"' in page
    owed = total(page, 1)
    assert owed > 0
    assert f.post(f"/settlement/{day}/payable", data={"owner": str(oid), "csrf_token": token}).status_code == 303
    page = f.get(f"/settlement/{day}?owner={oid}").text
    assert 'data-state="payable"' in page and f'data-fen="{owed}"' in page
    listing = f.get("/settlement/payouts").text
    pid = re.search(r'<tr data-id="(\d+)" data-state="payable">', listing).group(1)
    refused = f.post(f"/settlement/payouts/{pid}/paid", data={"reference": "", "csrf_token": token})
    assert refused.status_code == 303 and "转账流水号" in f.get(refused.location).text
    assert f.post(f"/settlement/payouts/{pid}/paid",
                  data={"reference": "ICBC-0042", "csrf_token": token}).status_code == 303
    listing = f.get("/settlement/payouts").text
    assert f'<tr data-id="{pid}" data-state="paid">' in listing and "ICBC-0042" in listing
    with app.app_context():
        assert platform_balance(db.session, Kind.BANK) >= owed and verify(db.session) == []
        db.session.rollback()

    # the owner: its payout, its own lines only, no paying
    o = app.test_client()
    login(o, "own")
    mine = o.get("/settlement/payouts").text
    assert f'<tr data-id="{pid}" data-state="paid">' in mine and "paid-form" not in mine
    own_rows = _export_rows(o, f"/settlement/statements.csv?from={day}&to={day}")
    assert {r[2] for r in own_rows[1:]} == {"ST000"}
    assert sum(Decimal(r[4]) for r in own_rows[1:]) * 100 == want["ST000"]
    sheet = load_workbook(BytesIO(o.get(f"/settlement/statements.xlsx?from={day}&to={day}").data),
                          read_only=True)["statements"]
    assert {r[2] for r in list(sheet.iter_rows(values_only=True))[1:]} == {"ST000"}
    # ?owner= is finance's pick: an owner asking for another's stations still gets its own
    assert {r[2] for r in _export_rows(o, f"/settlement/statements.csv?from={day}&to={day}&owner=999")[1:]} == {"ST000"}
    otoken = csrf_of(o, "/settlement/")
    assert o.post(f"/settlement/payouts/{pid}/paid", data={"reference": "X", "csrf_token": otoken}).status_code == 403
    assert o.post(f"/settlement/{day}/payable", data={"owner": str(oid), "csrf_token": otoken}).status_code == 403

    b = app.test_client()
    login(b, "own-b")
    assert f'data-id="{pid}"' not in b.get("/settlement/payouts").text
    assert {r[2] for r in _export_rows(b, f"/settlement/statements.csv?from={day}&to={day}")[1:]} <= {"ST001"}
