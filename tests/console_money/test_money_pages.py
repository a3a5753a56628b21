"""The console's tariffs, orders and money pages through Flask's test client: every page and
action, role denials, owner scoping on every list and export, CSRF refused, an export's rows
checked against the database, an abnormal order settled by force with the ledger right."""

from __future__ import annotations

import csv
import io

from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import func, select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES
from cloud.orders.models import Order, OrderLine
from cloud.tariffs import service as tariffs
from tests.console.support import csrf_of, login

WINDOW = {"from": "2025-12-01", "to": "2025-12-31"}
TARIFF_FORM = {"code": "std", "name": "标准", "start0": "00:00", "end0": "08:00", "name0": "valley",
               "energy0": "0.3125", "service0": "0.4", "start1": "08:00", "end1": "00:00", "name1": "peak",
               "energy1": "1.0234", "service1": "0.8", "idle_grace_min": "15", "idle_step_min": "30",
               "idle_fen_per_step": "100", "idle_cap_fen": "2000"}


def client_as(app: Flask, who: str):  # noqa: ANN201
    c = app.test_client()
    assert login(c, who).status_code in (302, 303)
    return c


def audit_of(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_tariff_versions_assignment_and_schedule(app: Flask) -> None:
    c = client_as(app, "root")
    assert c.get("/tariffs/").status_code == 200
    r = c.post("/tariffs/new", data={**TARIFF_FORM, "csrf_token": csrf_of(c, "/tariffs/new")})
    assert r.status_code == 303
    r = c.post("/tariffs/new", data={**TARIFF_FORM, "energy1": "1.1", "reservation_fee": "2",
                                     "reservation_per_minute": "0.0125", "csrf_token": csrf_of(c, "/tariffs/new")})
    assert r.status_code == 303
    with app.app_context():
        v1, v2 = tariffs.get(db.session, "std-v1"), tariffs.get(db.session, "std-v2")
        assert v1 is not None and v2 is not None  # both versions kept: a change never edits one
        p = {x["name"]: x for x in v1.body["periods"]}
        assert p["peak"]["energy_price_e4"] == 10234 and p["valley"]["service_price_e4"] == 4000
        assert v1.body["idle"] == {"grace_min": 15, "step_min": 30, "fen_per_step": 100, "cap_fen": 2000}
        assert {x["name"]: x for x in v2.body["periods"]}["peak"]["energy_price_e4"] == 11000
        # the reservation fee: none on v1 (free), 2 CNY + 0.0125 CNY a minute on v2, beside the body
        assert tariffs.reservation_of(v1) == {"fee_e4": 0, "per_minute_e4": 0}
        assert tariffs.reservation_of(v2) == {"fee_e4": 20_000, "per_minute_e4": 125}
        assert "reservation" not in v2.body
    page = c.get("/tariffs/").text
    assert "std-v1" in page and "std-v2" in page and "1.0234" in page
    assert "每次 2.0000 元 + 每分钟 0.0125 元" in page and "免预约费" in page
    # a new version from v2 starts with its fee; a fee with a fifth decimal is refused
    assert 'name="reservation_per_minute" inputmode="decimal" value="0.0125"' in c.get("/tariffs/new?from=std-v2").text
    r = c.post("/tariffs/new", data={**TARIFF_FORM, "reservation_per_minute": "0.00125",
                                     "csrf_token": csrf_of(c, "/tariffs/new")})
    assert r.status_code == 400 and "reservation fee" in r.text
    # a price with a fifth decimal is refused, not rounded
    r = c.post("/tariffs/new", data={**TARIFF_FORM, "energy0": "0.31255", "csrf_token": csrf_of(c, "/tariffs/new")})
    assert r.status_code == 400 and 'id="error"' in r.text
    # assign now, and schedule v2 for a future instant (调价任务)
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "std-v1", "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 303
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "std-v2", "effective_from": "2099-01-01T00:00",
                                        "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 303
    with app.app_context():
        sched = tariffs.schedule(db.session, "S1")
        assert [a.tariff_id for a in sched] == ["std-v1", "std-v2"]
        # the push job sends the one in force, and a scheduled one ahead when allowed to
        assert [a.tariff_id for a in tariffs.due_pushes(db.session)] == ["std-v1"]
        assert [a.tariff_id for a in tariffs.due_pushes(db.session, ahead_ms=100 * 366 * 86_400_000)] == \
            ["std-v1", "std-v2"]
    assert 'id="scheduled"' in c.get("/tariffs/").text and "2099" in c.get("/tariffs/").text
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "std-v2", "effective_from": "2001-01-01T00:00",
                                        "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 400
    r = c.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "std-v2", "effective_from": "nonsense",
                                        "csrf_token": csrf_of(c, "/tariffs/assign")})
    assert r.status_code == 400
    assert [e.target for e in audit_of(app, "tariff.create")] == ["tariff:std-v1", "tariff:std-v2"]
    assert [e.detail["tariff_id"] for e in audit_of(app, "tariff.assign")] == ["std-v1", "std-v2"]


def test_tariff_roles_and_csrf(app: Flask) -> None:
    for who in ("ops", "fin"):
        c = client_as(app, who)
        assert c.get("/tariffs/").status_code == 200
        tok = csrf_of(c, "/tariffs/")
        assert c.post("/tariffs/new", data={**TARIFF_FORM, "csrf_token": tok}).status_code == 403
    own = client_as(app, "own1")
    assert own.get("/tariffs/").status_code == 403
    root = client_as(app, "root")
    assert root.post("/tariffs/new", data=TARIFF_FORM).status_code == 400  # no CSRF token
    assert root.post("/tariffs/assign", data={"sid": "S1", "tariff_id": "x"},
                     headers={"HX-Request": "true"}).status_code == 400
    with app.app_context():
        assert tariffs.get(db.session, "std-v1") is None


def test_orders_lists_detail_and_owner_scope(app: Flask) -> None:
    root = client_as(app, "root")
    page = root.get("/orders/").text
    assert all(o in page for o in ("o-s1", "o-s2", "ab-s1", "ab-s2"))
    queue = root.get("/orders/abnormal").text
    assert "ab-s1" in queue and "ab-s2" in queue and "o-s1<" not in queue and "timeout" in queue
    d = root.get("/orders/o-s1").text
    assert "peak" in d and "12.34" in d and "3.21" in d
    assert 'id="records"' in root.get("/orders/ab-s1").text
    own = client_as(app, "own1")
    page = own.get("/orders/").text
    assert "o-s1" in page and "o-s2" not in page and "ab-s2" not in page
    assert "ab-s2" not in own.get("/orders/abnormal").text
    assert "ab-s2" not in own.get("/orders/?sid=S2").text
    assert own.get("/orders/o-s2").status_code == 404
    assert own.get("/orders/o-s1").status_code == 200
    assert root.get("/orders/?state=nonsense&page=x").status_code == 200
    assert root.get("/orders/nope").status_code == 404


def test_forced_settlement_to_the_fen(app: Flask) -> None:
    c = client_as(app, "ops")
    with app.app_context():
        before = ledger.balances(db.session, "d1")
        rev = {k: ledger.platform_balance(db.session, kind) for k, kind in FEE_LINES.items()}
    tok = csrf_of(c, "/orders/ab-s1")
    # a note is required; bad amounts refused
    r = c.post("/orders/ab-s1/resolve", data={"action": "bill", "electricity": "1.00", "csrf_token": tok})
    assert r.status_code == 400 and 'id="error"' in r.text
    r = c.post("/orders/ab-s1/resolve", data={"action": "bill", "electricity": "1.001", "note": "x", "csrf_token": tok})
    assert r.status_code == 400
    r = c.post("/orders/ab-s1/resolve", data={"action": "bill", "electricity": "1.00", "note": "x"})
    assert r.status_code == 400  # without CSRF
    r = c.post("/orders/ab-s1/resolve", data={"action": "bill", "electricity": "12.34", "service": "5.67",
                                              "idle": "0.01", "note": "电表读数核实", "csrf_token": tok})
    assert r.status_code == 303
    with app.app_context():
        o = db.session.get(Order, "ab-s1")
        assert o.state == "settled" and o.total_fen == 1234 + 567 + 1
        after = ledger.balances(db.session, "d1")
        assert after.held == before.held - 5000
        assert after.cash == before.cash + 5000 - 1802
        got = {k: ledger.platform_balance(db.session, kind) - rev[k] for k, kind in FEE_LINES.items()}
        # revenue accounts are credit-normal: booked as negative entries or positive, one sign per kind
        assert {k: abs(v) for k, v in got.items()} == {"electricity": 1234, "service": 567, "idle": 1}
        assert ledger.verify(db.session) == []
        assert sorted((ln.kind, ln.fen) for ln in db.session.scalars(
            select(OrderLine).where(OrderLine.order_id == "ab-s1"))) == [("electricity", 1234), ("idle", 1), ("service", 567)]
    (entry,) = audit_of(app, "order.resolve_bill")
    assert entry.actor == "ops" and entry.target == "order:ab-s1" and entry.detail["note"] == "电表读数核实"
    # resolved once: a second resolution is refused with a message, not a 500
    r = c.post("/orders/ab-s1/resolve", data={"action": "void", "note": "again", "csrf_token": tok})
    assert r.status_code == 400


def test_void_and_role_denials(app: Flask) -> None:
    for who in ("fin", "own1"):
        c = client_as(app, who)
        tok = csrf_of(c, "/orders/")
        r = c.post("/orders/ab-s1/resolve", data={"action": "void", "note": "n", "csrf_token": tok})
        assert r.status_code == 403
    ops = client_as(app, "ops")
    assert ops.get("/money/").status_code == 403  # the operator role has no money area
    tok = csrf_of(ops, "/orders/ab-s2")
    with app.app_context():
        held = ledger.balances(db.session, "d1").held
    assert ops.post("/orders/ab-s2/resolve", data={"action": "void", "note": "无会话", "csrf_token": tok}).status_code == 303
    with app.app_context():
        assert db.session.get(Order, "ab-s2").state == "cancelled"
        assert ledger.balances(db.session, "d1").held == held - 5000
    assert audit_of(app, "order.resolve_void")[0].detail["note"] == "无会话"


def _db_revenue(app: Flask, by_station: bool, sids: set[str] | None = None) -> dict[str, list[int]]:
    with app.app_context():
        q = (select(Order.sid, OrderLine.kind, func.sum(OrderLine.fen)).join(OrderLine, OrderLine.order_id == Order.order_id)
             .where(Order.state == "settled").group_by(Order.sid, OrderLine.kind))
        out: dict[str, list[int]] = {}
        for sid, kind, fen in db.session.execute(q):
            if sids is not None and sid not in sids:
                continue
            row = out.setdefault(sid, [0, 0, 0])
            row[["electricity", "service", "idle"].index(kind)] += fen
        return out


def test_revenue_exports_match_the_database(app: Flask) -> None:
    fin = client_as(app, "fin")
    page = fin.get("/money/", query_string={**WINDOW, "by": "day"})
    assert page.status_code == 200 and "2025-12-02" in page.text and "2025-12-03" in page.text
    r = fin.get("/money/revenue.csv", query_string={**WINDOW, "by": "station"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    got = {row[0]: [int(x) for x in row[2:5]] for row in rows[1:]}
    assert got == _db_revenue(app, True)
    assert all(int(row[5]) == sum(int(x) for x in row[2:5]) for row in rows[1:])
    r = fin.get("/money/revenue.xlsx", query_string={**WINDOW, "by": "station"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data), read_only=True).active
    xrows = list(ws.iter_rows(values_only=True))
    assert {row[0]: list(row[2:5]) for row in xrows[1:]} == _db_revenue(app, True)
    r = fin.get("/money/revenue.csv", query_string={**WINDOW, "by": "month"})
    (month,) = list(csv.reader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))[1:]
    assert month[0] == "2025-12" and int(month[5]) == 1234 + 321 + 100 + 1000 + 200 + 777 + 77


def test_revenue_owner_scope_and_english(app: Flask) -> None:
    own = client_as(app, "own1")
    for by in ("station", "day", "month"):
        r = own.get("/money/revenue.csv", query_string={**WINDOW, "by": by})
        text = r.get_data(as_text=True)
        total = sum(int(row[5]) for row in list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))[1:])
        assert total == 1234 + 321 + 100 + 1000 + 200, by  # S1 only
        assert "S2" not in text
    r = own.get("/money/revenue.xlsx", query_string={**WINDOW, "by": "station"})
    xrows = list(load_workbook(io.BytesIO(r.data), read_only=True).active.iter_rows(values_only=True))
    assert [row[0] for row in xrows[1:]] == ["S1"]
    assert "S2" not in own.get("/money/", query_string={**WINDOW, "by": "station"}).text
    root = client_as(app, "root")
    en = root.get("/money/", query_string=WINDOW, headers={"Accept-Language": "en"})
    assert en.status_code == 200
    assert root.get("/money/", query_string={"from": "junk", "by": "nope"}).status_code == 200


def test_order_refund_to_balance_and_original_route(app: Flask) -> None:
    fin = client_as(app, "fin")
    d = fin.get("/orders/o-s1")
    assert 'id="refund-form"' in d.text
    nonce = d.text.split('name="nonce" value="')[1].split('"')[0]
    tok = csrf_of(fin, "/orders/o-s1")
    with app.app_context():
        cash = ledger.balances(db.session, "d1").cash
        elec = ledger.platform_balance(db.session, FEE_LINES["electricity"])
    form = {"route": "balance", "r_electricity": "2.34", "note": "计量偏差", "nonce": nonce, "csrf_token": tok}
    assert fin.post("/orders/o-s1/refund", data={**form, "note": ""}).status_code == 400
    assert fin.post("/orders/o-s1/refund", data=form).status_code == 303
    assert fin.post("/orders/o-s1/refund", data=form).status_code == 303  # the same form twice: once
    with app.app_context():
        assert ledger.balances(db.session, "d1").cash == cash + 234
        assert ledger.platform_balance(db.session, FEE_LINES["electricity"]) - elec in (-234, 234)
        assert ledger.verify(db.session) == []
    # never more than the line still holds (12.34 - 2.34 = 10.00 left)
    r = fin.post("/orders/o-s1/refund", data={**form, "nonce": "n2", "r_electricity": "10.01"})
    assert r.status_code == 400 and 'id="error"' in r.text
    # original route: this driver paid through no WeChat payment, refused with a message
    r = fin.post("/orders/o-s1/refund", data={**form, "nonce": "n3", "route": "original", "r_electricity": "1.00"})
    assert r.status_code == 400
    (entry,) = audit_of(app, "order.refund")
    assert entry.detail["note"] == "计量偏差" and entry.detail["lines"]["electricity"] == 234
    for who in ("ops", "own1"):  # money: admin and finance change it
        c = client_as(app, who)
        assert c.post("/orders/o-s1/refund", data={**form, "csrf_token": csrf_of(c, "/orders/")}).status_code == 403
    assert fin.post("/orders/ab-s1/refund", data={**form, "nonce": "n4"}).status_code == 400  # not settled


def test_payments_and_refunds_pages(app: Flask) -> None:
    for who in ("root", "fin", "own1"):
        c = client_as(app, who)
        assert c.get("/money/payments").status_code == 200
        assert c.get("/money/payments?purpose=wallet&page=2").status_code == 200
        assert c.get("/money/refunds").status_code == 200
    assert client_as(app, "ops").get("/money/payments").status_code == 403


def test_payments_owner_scope(app: Flask) -> None:
    from cloud.drivers.models import Driver
    from cloud.wallet.models import WalletPayment, WalletRefund

    with app.app_context(), db.transaction() as s:
        d = Driver(appid="wx1", openid="op1")
        s.add(d)
        s.flush()
        s.add_all([WalletPayment(out_trade_no="RC-1", driver_id=d.id, purpose="wallet", amount_fen=5000,
                                 state="paid", expires_at=0),
                   WalletPayment(out_trade_no="PP-S1", driver_id=d.id, purpose="session", order_id="o-s1",
                                 amount_fen=3000, state="paid", expires_at=0),
                   WalletPayment(out_trade_no="PP-S2", driver_id=d.id, purpose="session", order_id="o-s2",
                                 amount_fen=3000, state="paid", expires_at=0),
                   WalletRefund(refund_no="RF-1", driver_id=d.id, amount_fen=100)])
    root = client_as(app, "root").get("/money/payments").text
    assert all(n in root for n in ("RC-1", "PP-S1", "PP-S2"))
    own = client_as(app, "own1")
    mine = own.get("/money/payments").text
    assert "PP-S1" in mine and "PP-S2" not in mine and "RC-1" not in mine
    assert "RF-1" not in own.get("/money/refunds").text
    assert "RF-1" in client_as(app, "fin").get("/money/refunds").text


def test_a_scheduled_change_shows_the_gateways_acknowledgement_and_can_be_cancelled(app: Flask) -> None:
    with app.app_context():
        with db.transaction() as s:
            body = {"currency": "CNY", "periods": [{"start": "00:00", "end": "24:00", "name": "flat",
                                                    "energy_price_e4": 6000, "service_price_e4": 4000}]}
            v1 = tariffs.create(s, body, code="std").tariff_id
            v2 = tariffs.create(s, body, code="std").tariff_id
            now = tariffs.assign(s, "S1", v1)
            sent = tariffs.assign(s, "S1", v2, effective_from=4_070_908_800_000)  # 2099-01-01
            waiting = tariffs.assign(s, "S2", v2, effective_from=4_070_908_800_000)
            tariffs.mark_pushed(s, sent.id, 1_780_272_000_000)
        ids = (now.id, sent.id, waiting.id)
    root = client_as(app, "root")
    page = root.get("/tariffs/").text  # zh-CN by default
    assert "网关已于" in page and "网关尚未确认" in page and "取消此调价" in page
    page = root.get("/tariffs/", headers={"Accept-Language": "en"}).text
    row = page.split(f'id="scheduled-{ids[1]}"', 1)[1].split("</tr>", 1)[0]
    assert "Acknowledged at" in row and f'id="cancel-{ids[1]}"' in row
    assert "Not yet acknowledged" in page.split(f'id="scheduled-{ids[2]}"', 1)[1].split("</tr>", 1)[0]
    assert root.post(f"/tariffs/assignments/{ids[1]}/cancel").status_code == 400  # no CSRF token
    for who in ("ops", "fin"):  # may read tariffs, not change them
        c = client_as(app, who)
        assert c.post(f"/tariffs/assignments/{ids[1]}/cancel",
                      data={"csrf_token": csrf_of(c, "/tariffs/")}).status_code == 403
    r = root.post(f"/tariffs/assignments/{ids[1]}/cancel", data={"csrf_token": csrf_of(root, "/tariffs/")})
    assert r.status_code == 303
    page = root.get("/tariffs/", headers={"Accept-Language": "en"}).text
    row = page.split(f'id="scheduled-{ids[1]}"', 1)[1].split("</tr>", 1)[0]
    assert "Cancelled by root" in row and "Withdrawal not yet acknowledged" in row and "cancel-" not in row
    with app.app_context():
        assert [a.id for a in tariffs.due_cancels(db.session)] == [ids[1]]
        assert [a.tariff_id for a in tariffs.schedule(db.session, "S1")] == [v1]
    [entry] = audit_of(app, "tariff.cancel")
    assert entry.actor == "root" and entry.target == "station:S1"
    assert entry.detail == {"tariff_id": v2, "effective_from": 4_070_908_800_000, "assignment_id": ids[1],
                            "pushed_at": 1_780_272_000_000}
    # cancelled already, or in force already: refused with the reason, nothing recorded
    for aid, msg in ((ids[1], "This scheduled change is cancelled already."),
                     (ids[0], "This change is in force already")):
        r = root.post(f"/tariffs/assignments/{aid}/cancel", data={"csrf_token": csrf_of(root, "/tariffs/")})
        assert r.status_code == 303 and "error=" in r.headers["Location"]
        assert msg in root.get(r.headers["Location"], headers={"Accept-Language": "en"}).text
    assert len(audit_of(app, "tariff.cancel")) == 1
