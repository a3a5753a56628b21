"""Exports stream: CSV chunks and an .xlsx file whose rows equal the database's, under every
scope; a recharge belongs to no station, so an owner's export of them is empty."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.reports import export
from tests.reports.factories import NOW, SH, Seeded

START = int(datetime(2025, 1, 1, tzinfo=SH).timestamp() * 1000)


def local(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, SH).strftime("%Y-%m-%d %H:%M:%S")


def yuan(fen: int | None) -> str:
    return "" if fen is None else str(Decimal(fen) / 100)


def db_orders(s: Session, sids: list[str] | None) -> list[list[str]]:
    scope = "" if sids is None else "AND sid IN (" + ", ".join(f"'{x}'" for x in sids) + ")"
    rows = s.execute(text(f"""SELECT order_id, sid, gun, driver_id, state, created_at, settled_at,
        total_fen, abnormal_reason FROM orders WHERE created_at >= :a AND created_at < :b {scope}
        ORDER BY created_at, order_id"""), {"a": START, "b": NOW}).all()
    lines: dict[str, dict[str, int]] = {}
    energy: dict[str, int] = {}
    for oid, kind, fen, wh in s.execute(text("SELECT order_id, kind, fen, energy_wh FROM order_lines")):
        lines.setdefault(oid, {})[kind] = lines.get(oid, {}).get(kind, 0) + fen
        if kind == "electricity":
            energy[oid] = energy.get(oid, 0) + wh
    out = []
    for oid, sid, gun, driver, state, created, settled, total, reason in rows:
        fees = [yuan(lines.get(oid, {}).get(k, 0)) if settled is not None else ""
                for k in ("electricity", "service", "idle")]
        out.append([oid, sid, gun, driver, state, local(created), local(settled),
                    "" if oid not in energy else str(Decimal(energy[oid]) / 1000), *fees, yuan(total),
                    reason or ""])
    return out


def read_csv(chunks: list[str]) -> list[list[str]]:
    body = "".join(chunks)
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


@pytest.mark.parametrize("sids", [None, ["ST002"]])
def test_orders_csv_rows_equal_the_database(seeded: tuple[Session, Seeded], sids: list[str] | None) -> None:
    s, _ = seeded
    rows = export.order_rows(s, None if sids is None else set(sids), START, NOW, "Asia/Shanghai")
    chunks = list(export.csv_stream(export.ORDER_COLUMNS, rows, lang="zh"))
    got = read_csv(chunks)
    assert got[0][:3] == ["订单号", "电站", "枪"]
    want = db_orders(s, sids)
    assert got[1:] == want and len(want) > 5
    if sids:
        assert {r[1] for r in got[1:]} == set(sids)


def test_csv_comes_in_chunks(seeded: tuple[Session, Seeded], monkeypatch: pytest.MonkeyPatch) -> None:
    s, _ = seeded
    monkeypatch.setattr(export, "CHUNK", 512)
    chunks = list(export.csv_stream(export.ORDER_COLUMNS, export.order_rows(s, None, START, NOW), lang="en"))
    assert len(chunks) > 5 and all(len(c) < 512 + 400 for c in chunks)
    assert read_csv(chunks)[0][0] == "Order"


def test_recharges_xlsx_rows_equal_the_ledger(seeded: tuple[Session, Seeded]) -> None:
    s, data = seeded
    body = b"".join(export.xlsx_stream(export.RECHARGE_COLUMNS,
                                       export.recharge_rows(s, None, START, NOW), lang="en"))
    ws = load_workbook(io.BytesIO(body), read_only=True).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == ["Transaction", "Time", "Driver", "Amount (CNY)", "Idempotency key", "Channel"]
    want = s.execute(text("""SELECT t.id, t.created_at, t.driver_id, -e.amount, t.idem_key
        FROM ledger_transactions t JOIN ledger_entries e ON e.txn_id = t.id
        JOIN ledger_accounts a ON a.id = e.account_id
        WHERE t.kind = 'top_up' AND a.kind = 'clearing' AND t.created_at >= :a AND t.created_at < :b
        ORDER BY t.created_at, t.id"""), {"a": START, "b": NOW}).all()
    # seeded top-ups came through no WeChat Pay payment: no channel (tests/wallet has those)
    assert [[i, local(at), d, Decimal(a) / 100, k, None] for i, at, d, a, k in want] == [
        [r[0], r[1], r[2], Decimal(str(r[3])), r[4], (r + [None])[5]] for r in rows[1:]]  # an empty cell: none
    assert len(want) == sum(1 for t, _ in data.topups if START <= t < NOW)
    assert list(export.recharge_rows(s, {"ST000"}, START, NOW)) == []


def test_revenue_xlsx_by_station(seeded: tuple[Session, Seeded]) -> None:
    s, _ = seeded
    body = b"".join(export.xlsx_stream(export.REVENUE_COLUMNS,
                                       export.revenue_rows(s, {"ST000", "ST001"}, START, NOW, by="station")))
    rows = list(load_workbook(io.BytesIO(body), read_only=True).active.iter_rows(values_only=True))
    assert rows[0][0] == "日期/月份/电站"
    want = s.execute(text("""SELECT o.sid, COUNT(DISTINCT o.order_id), SUM(l.fen) FROM orders o
        JOIN order_lines l ON l.order_id = o.order_id WHERE o.settled_at >= :a AND o.settled_at < :b
        AND o.sid IN ('ST000', 'ST001') GROUP BY o.sid ORDER BY o.sid"""), {"a": START, "b": NOW}).all()
    assert [(r[0], r[1], Decimal(str(r[5]))) for r in rows[1:]] == [
        (sid, n, Decimal(fen) / 100) for sid, n, fen in want]
