"""Statements as CSV and Excel, streamed like the other exports (cloud/reports/export.py):
one row per day, station and fee type of the days asked for, in the caller's scope (`sids`:
an owner's own stations), frozen lines for closed days and the split so far for open ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from cloud.reports.export import Column, yuan
from cloud.settlement.service import DEFAULT_TZ, Sids, statement

MAX_DAYS = 366  # one export covers at most a year of days
STATEMENT_COLUMNS: list[Column] = [
    ("day", "日期", "Day"), ("closed", "已关账", "Closed"), ("sid", "电站", "Station"), ("fee", "费用类型", "Fee"),
    ("revenue_yuan", "收入(元)", "Revenue (CNY)"), ("share_pct", "业主分成(%)", "Owner's share (%)"),
    ("commission_pct", "平台佣金(%)", "Commission (%)"), ("gross_yuan", "业主分成额(元)", "Owner's gross (CNY)"),
    ("commission_yuan", "佣金(元)", "Commission (CNY)"), ("owner_yuan", "应付业主(元)", "To owner (CNY)"),
    ("platform_yuan", "平台留存(元)", "Platform (CNY)"),
]
FEE_NAMES = {"zh": {"electricity": "电费", "service": "服务费", "idle": "占位费"},
             "en": {"electricity": "electricity", "service": "service", "idle": "idle"}}


def statement_rows(s: Session, first: date, last: date, sids: Sids, tz: str = DEFAULT_TZ,
                   lang: str = "zh") -> Iterator[tuple[Any, ...]]:
    """Rows of the statements of days first..last (inclusive, oldest first): the same lines
    the statement pages show, so an export adds up to them and to the ledger as they do."""
    if (last - first).days >= MAX_DAYS:
        raise ValueError(f"at most {MAX_DAYS} days in one export")
    names = FEE_NAMES["en" if lang.startswith("en") else "zh"]
    d = first
    while d <= last:
        st = statement(s, d, sids, tz)
        for ln in st.lines:
            p = ln.part
            yield (st.day, "Y" if st.closed else "N", ln.sid, names[ln.fee], yuan(p.revenue),
                   yuan(ln.share_bp), yuan(ln.commission_bp), yuan(p.gross), yuan(p.commission), yuan(p.owner),
                   yuan(p.platform))
        d += timedelta(days=1)
