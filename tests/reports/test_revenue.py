"""Revenue by day, month and station, split by fee type: equal to the settled orders' lines,
and to the ledger's revenue accounts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.reports.service import ledger_revenue, revenue
from tests.reports.factories import NOW, SH, Seeded

START = int(datetime(2025, 1, 1, tzinfo=SH).timestamp() * 1000)
FEES = ("electricity", "service", "idle")


def expected(s: Session, by: str, sids: list[str] | None) -> dict[str, dict[str, int]]:
    scope = "" if sids is None else "AND o.sid IN (" + ", ".join(f"'{x}'" for x in sids) + ")"
    rows = s.execute(text(f"""SELECT o.order_id, o.sid, o.settled_at, l.kind, l.fen FROM orders o
        JOIN order_lines l ON l.order_id = o.order_id
        WHERE o.state = 'settled' AND o.settled_at >= :a AND o.settled_at < :b {scope}"""),
                     {"a": START, "b": NOW}).all()
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    orders: dict[str, set[str]] = defaultdict(set)
    for oid, sid, at, kind, fen in rows:
        d = datetime.fromtimestamp(at / 1000, SH).date().isoformat()
        key = {"day": d, "month": d[:7], "station": sid}[by]
        out[key][f"{kind}_fen"] += fen
        out[key]["total_fen"] += fen
        orders[key].add(oid)
    return {k: {"key": k, "orders": len(orders[k]), **{f"{f}_fen": v.get(f"{f}_fen", 0) for f in FEES},
                "total_fen": v["total_fen"]} for k, v in out.items()}


@pytest.mark.parametrize("by", ["day", "month", "station"])
@pytest.mark.parametrize("sids", [None, ["ST000", "ST002"]])
def test_revenue_equals_the_orders_lines(seeded: tuple[Session, Seeded], by: str, sids: list[str] | None) -> None:
    s, _ = seeded
    got = revenue(s, None if sids is None else set(sids), START, NOW, by=by, tz="Asia/Shanghai")
    want = expected(s, by, sids)
    assert {r["key"]: r for r in got} == want
    assert [r["key"] for r in got] == sorted(want)
    if sids is not None and by == "station":
        assert {r["key"] for r in got} <= set(sids)


@pytest.mark.parametrize("sids", [None, {"ST001"}])
def test_the_ledger_agrees_with_the_orders(seeded: tuple[Session, Seeded], sids: set[str] | None) -> None:
    s, _ = seeded
    by_station = revenue(s, sids, START, NOW, by="station")
    assert ledger_revenue(s, sids, START, NOW) == {
        f: sum(r[f"{f}_fen"] for r in by_station) for f in FEES}
    assert sum(ledger_revenue(s, sids, START, NOW).values()) > 0


def test_an_unknown_grouping_is_refused(seeded: tuple[Session, Seeded]) -> None:
    with pytest.raises(ValueError):
        revenue(seeded[0], None, START, NOW, by="week")


def test_an_empty_scope_sees_nothing(seeded: tuple[Session, Seeded]) -> None:
    s, _ = seeded
    assert revenue(s, set(), START, NOW, by="day") == []
    assert sum(ledger_revenue(s, set(), START, NOW).values()) == 0
