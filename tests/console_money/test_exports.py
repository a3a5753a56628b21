"""The console's order and recharge exports (issue 10 "export to CSV and Excel"): streamed,
rows equal to the database, an owner's export holding its own stations only, roles refused."""

from __future__ import annotations

import csv
import io

from flask import Flask
from openpyxl import load_workbook
from sqlalchemy import select

from cloud.db import db
from cloud.ledger.models import LedgerTransaction
from cloud.orders.models import Order
from tests.console_money.test_money_pages import WINDOW, client_as


def _csv(resp) -> list[list[str]]:  # noqa: ANN001
    assert resp.status_code == 200 and resp.mimetype == "text/csv", resp.status_code
    assert resp.is_streamed
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))


def _db_orders(app: Flask, sids: set[str] | None = None) -> dict[str, tuple[str, int | None]]:
    with app.app_context():
        q = select(Order.order_id, Order.sid, Order.total_fen)
        if sids is not None:
            q = q.where(Order.sid.in_(sids))
        return {r.order_id: (r.sid, r.total_fen) for r in db.session.execute(q)}


def test_orders_export_rows_equal_the_database(app: Flask) -> None:
    for who in ("root", "ops", "fin"):
        rows = _csv(client_as(app, who).get("/orders/export.csv", query_string=WINDOW))
        assert rows[0][0] == "订单号"
        got = {r[0]: (r[1], r[11]) for r in rows[1:]}
        want = {
            oid: (sid, "" if fen is None else f"{fen / 100:.2f}")
            for oid, (sid, fen) in _db_orders(app).items()
        }
        assert {k: (v[0], v[1] and f"{float(v[1]):.2f}") for k, v in got.items()} == want
    fin = client_as(app, "fin")
    r = fin.get("/orders/export.xlsx", query_string=WINDOW)
    assert r.status_code == 200 and r.is_streamed
    ws = load_workbook(io.BytesIO(r.get_data())).active
    ids = {row[0] for row in ws.iter_rows(min_row=2, values_only=True)}
    assert ids == set(_db_orders(app))
    # the window: nothing created in November
    assert (
        _csv(
            fin.get("/orders/export.csv", query_string={"from": "2025-11-01", "to": "2025-11-30"})
        )[1:]
        == []
    )


def test_orders_export_owner_sees_only_its_stations(app: Flask) -> None:
    own = client_as(app, "own1")
    rows = _csv(own.get("/orders/export.csv", query_string=WINDOW))
    assert {r[0] for r in rows[1:]} == set(_db_orders(app, {"S1"})) and {
        r[1] for r in rows[1:]
    } == {"S1"}
    # asking for another owner's station gives nothing, not that station's orders
    assert _csv(own.get("/orders/export.csv", query_string={**WINDOW, "sid": "S2"}))[1:] == []
    assert {
        r[1]
        for r in _csv(
            client_as(app, "fin").get("/orders/export.csv", query_string={**WINDOW, "sid": "S2"})
        )[1:]
    } == {"S2"}
    ws = load_workbook(
        io.BytesIO(own.get("/orders/export.xlsx", query_string=WINDOW).get_data())
    ).active
    assert {row[1] for row in ws.iter_rows(min_row=2, values_only=True)} == {"S1"}


def test_recharges_export(app: Flask) -> None:
    with app.app_context():
        keys = set(
            db.session.scalars(
                select(LedgerTransaction.idem_key).where(LedgerTransaction.kind == "top_up")
            )
        )
    assert keys
    fin = client_as(app, "fin")
    rows = _csv(
        fin.get(
            "/money/recharges.csv", query_string=WINDOW | {"from": "2000-01-01", "to": "2099-12-31"}
        )
    )
    assert {r[4] for r in rows[1:]} == keys
    r = fin.get("/money/recharges.xlsx", query_string={"from": "2000-01-01", "to": "2099-12-31"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.get_data())).active
    assert {row[4] for row in ws.iter_rows(min_row=2, values_only=True)} == keys
    # a recharge belongs to no station: an owner's export has the headings only
    assert (
        _csv(
            client_as(app, "own1").get("/money/recharges.csv", query_string={"from": "2000-01-01"})
        )[1:]
        == []
    )
    assert client_as(app, "ops").get("/money/recharges.csv").status_code == 403


def test_export_links_on_the_pages(app: Flask) -> None:
    fin = client_as(app, "fin")
    page = fin.get("/orders/?sid=S1").text
    assert (
        "导出本月订单" in page
        and "/orders/export.csv?sid=S1" in page
        and "/orders/export.xlsx" in page
    )
    page = fin.get("/money/payments").text
    assert "导出本月充值记录" in page and "/money/recharges.csv" in page
