"""Exports that stream: rows come from the database in batches (a server-side cursor on
PostgreSQL) and leave as CSV text chunks or as an Excel file written by openpyxl's write_only
mode, so that memory stays flat however many orders a report holds.

A report is (columns, rows): columns are (key, zh-CN heading, English heading); rows are
tuples in column order. Money is in yuan (Decimal, exact: fen / 100), times local to the
report's time zone. The console's views call these and hand the iterators to a streamed
response.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.ledger.accounts import FEE_LINES
from cloud.ledger.models import LedgerEntry, LedgerTransaction
from cloud.orders.models import Order, OrderLine
from cloud.reports.periods import DEFAULT_TZ, local, zone
from cloud.reports.service import Sids, revenue, scoped
from cloud.wallet.models import WalletPayment

Column = tuple[str, str, str]  # key, zh-CN heading, English heading
BATCH = 1000
CHUNK = 64 * 1024

ORDER_COLUMNS: list[Column] = [
    ("order_id", "订单号", "Order"), ("sid", "电站", "Station"), ("gun", "枪", "Gun"),
    ("driver_id", "用户", "Driver"), ("state", "状态", "State"),
    ("created_at", "创建时间", "Created"), ("settled_at", "结算时间", "Settled"),
    ("energy_kwh", "电量(kWh)", "Energy (kWh)"),
    ("electricity_yuan", "电费(元)", "Electricity (CNY)"), ("service_yuan", "服务费(元)", "Service (CNY)"),
    ("idle_yuan", "占位费(元)", "Idle fee (CNY)"), ("total_yuan", "合计(元)", "Total (CNY)"),
    ("abnormal_reason", "异常原因", "Abnormal reason"),
]
RECHARGE_COLUMNS: list[Column] = [
    ("txn_id", "流水号", "Transaction"), ("created_at", "充值时间", "Time"),
    ("driver_id", "用户", "Driver"), ("amount_yuan", "金额(元)", "Amount (CNY)"),
    ("key", "幂等键", "Idempotency key"), ("channel", "支付渠道", "Channel"),
]
REVENUE_COLUMNS: list[Column] = [
    ("key", "日期/月份/电站", "Day / month / station"), ("orders", "订单数", "Orders"),
    ("electricity_yuan", "电费(元)", "Electricity (CNY)"), ("service_yuan", "服务费(元)", "Service (CNY)"),
    ("idle_yuan", "占位费(元)", "Idle fee (CNY)"), ("total_yuan", "合计(元)", "Total (CNY)"),
]


def yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else Decimal(int(fen)) / 100


def kwh(wh: int | None) -> Decimal | None:
    return None if wh is None else Decimal(int(wh)) / 1000


def when(ms: int | None, z: ZoneInfo) -> str | None:
    return None if ms is None else local(ms, z).strftime("%Y-%m-%d %H:%M:%S")


def headings(columns: list[Column], lang: str = "zh") -> list[str]:
    return [c[2] if lang.startswith("en") else c[1] for c in columns]


# --- the reports' rows -------------------------------------------------------------------------
def order_rows(s: Session, sids: Sids, start: int, end: int, tz: str | ZoneInfo = DEFAULT_TZ
               ) -> Iterator[tuple[Any, ...]]:
    """Every order created in [start, end), oldest first, with its bill split by fee type."""
    z = zone(tz)

    def fee(kind: str) -> Any:
        return (select(func.sum(OrderLine.fen)).where(OrderLine.order_id == Order.order_id,
                                                      OrderLine.kind == kind).scalar_subquery())

    energy = (select(func.sum(OrderLine.energy_wh))
              .where(OrderLine.order_id == Order.order_id, OrderLine.kind == "electricity")
              .scalar_subquery())
    q = (select(Order.order_id, Order.sid, Order.gun, Order.driver_id, Order.state, Order.created_at,
                Order.settled_at, energy, *(fee(k) for k in FEE_LINES), Order.total_fen,
                Order.abnormal_reason)
         .where(Order.created_at >= start, Order.created_at < end, *_scope(Order.sid, sids))
         .order_by(Order.created_at, Order.order_id))
    for r in s.execute(q, execution_options={"yield_per": BATCH}):
        settled = r.settled_at is not None
        fees = [yuan((f or 0) if settled else None) for f in r[8:11]]
        yield (r.order_id, r.sid, r.gun, r.driver_id, r.state, when(r.created_at, z),
               when(r.settled_at, z), kwh(r[7]), *fees, yuan(r.total_fen), r.abnormal_reason)


def recharge_rows(s: Session, sids: Sids, start: int, end: int, tz: str | ZoneInfo = DEFAULT_TZ
                  ) -> Iterator[tuple[Any, ...]]:
    """Every top-up booked in [start, end) (the ledger's top_up transactions: what came in
    from the payment provider), with the channel its payment (key "pay:<out_trade_no>") was
    made through: jsapi, oa_jsapi or h5 (empty: none stored). A recharge belongs to no
    station: an owner's scope has none."""
    if sids is not None:
        return
    z = zone(tz)
    tx = LedgerTransaction
    q = (select(tx.id, tx.created_at, tx.driver_id, -LedgerEntry.amount, tx.idem_key, WalletPayment.channel)
         .join(LedgerEntry, LedgerEntry.txn_id == tx.id)  # its one negative leg: clearing
         .outerjoin(WalletPayment, WalletPayment.out_trade_no == func.substr(tx.idem_key, 5))  # after "pay:"
         .where(tx.kind == "top_up", LedgerEntry.amount < 0, tx.created_at >= start, tx.created_at < end)
         .order_by(tx.created_at, tx.id))
    for txn_id, at, driver, amount, key, channel in s.execute(q, execution_options={"yield_per": BATCH}):
        yield (txn_id, when(at, z), driver, yuan(amount), key, channel)


def revenue_rows(s: Session, sids: Sids, start: int, end: int, *, by: str = "day",
                 tz: str | ZoneInfo = DEFAULT_TZ) -> Iterator[tuple[Any, ...]]:
    for r in revenue(s, sids, start, end, by=by, tz=tz):
        yield (r["key"], r["orders"], yuan(r["electricity_fen"]), yuan(r["service_fen"]),
               yuan(r["idle_fen"]), yuan(r["total_fen"]))


def _scope(col: Any, sids: Sids) -> list[Any]:
    cond = scoped(col, sids)
    return [] if cond is None else [cond]


# --- formats ------------------------------------------------------------------------------------
def _cell(v: Any) -> Any:
    return "" if v is None else v


def csv_stream(columns: list[Column], rows: Iterable[tuple[Any, ...]], lang: str = "zh"
               ) -> Iterator[str]:
    """CSV text in chunks of about 64 KiB, led by a UTF-8 byte-order mark (so that Excel reads
    the Chinese headings) and the headings row."""
    buf = io.StringIO()
    w = csv.writer(buf)
    buf.write("\ufeff")
    w.writerow(headings(columns, lang))
    for row in rows:
        w.writerow([_cell(v) for v in row])
        if buf.tell() >= CHUNK:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue()


def xlsx_stream(columns: list[Column], rows: Iterable[tuple[Any, ...]], lang: str = "zh",
                sheet: str = "report") -> Iterator[bytes]:
    """An .xlsx file's bytes in 64 KiB chunks: openpyxl's write_only workbook takes the rows
    one by one (never a whole sheet in memory) into a temporary file, which is then read out
    and removed."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(headings(columns, lang))
    for row in rows:
        ws.append(list(row))
    fd, path = tempfile.mkstemp(prefix="jc-report-", suffix=".xlsx")
    os.close(fd)
    try:
        wb.save(path)
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
