"""Where the home figures come from, and the one owner-scope condition every report query
carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func, literal_column

from cloud.drivers.models import Driver
from cloud.ledger.models import LedgerEntry, LedgerTransaction
from cloud.models import ChargingSession
from cloud.orders.models import Order
from cloud.reports.periods import Window

Sids = set[str] | frozenset[str] | None


def scoped(col: Any, sids: Sids) -> ColumnElement[bool] | None:
    """The one owner-scope condition every report query carries (None: no condition)."""
    if sids is None:
        return None
    if not sids:
        return false()
    return col.in_(sorted(sids))


def hour_bucket(ts: Any, start: int) -> ColumnElement[int]:
    """Whole hours since `start`, as an integer: literal SQL (no bound parameters), so that
    PostgreSQL sees the GROUP BY expression equal to the selected one."""
    return (ts - literal_column(str(int(start)))).self_group().op("/")(literal_column("3600000"))


def where_all(*conds: ColumnElement[bool] | None) -> list[ColumnElement[bool]]:
    return [c for c in conds if c is not None]


def in_window(ts: Any, w: Window) -> ColumnElement[bool]:
    return ts < w.end if w.start is None else and_(ts >= w.start, ts < w.end)


@dataclass(frozen=True)
class Source:
    """Where home figures come from: a time column, what to sum, the rows, and the station
    column (None: figures that belong to no station)."""

    ts: Any
    values: dict[str, Any]
    froms: Any
    where: tuple[ColumnElement[bool], ...]
    sid: Any
    # conditions on the time column's own table: its earliest row is one index lookup
    own: tuple[ColumnElement[bool], ...] = ()


def sources() -> list[Source]:
    cs, tx = ChargingSession, LedgerTransaction
    energy = case((cs.energy_start_wh.is_(None), 0),
                  else_=func.coalesce(cs.energy_stop_wh, cs.energy_wh, cs.energy_start_wh) - cs.energy_start_wh)
    hours = case((cs.started_at.is_(None), 0), else_=cs.ended_at - cs.started_at)
    return [
        Source(Order.settled_at, {"charging_fen": Order.total_fen}, Order,
               (Order.settled_at.is_not(None),), Order.sid),
        Source(cs.ended_at, {"sessions": 1, "energy_wh": energy, "charging_ms": hours}, cs,
               (cs.ended_at.is_not(None),), cs.sid),
        Source(Driver.created_at, {"new_accounts": 1}, Driver, (), None),
        # A top-up's one negative leg is its payment-clearing leg (cloud/ledger/service.py:
        # top_up): summing it needs no join to the accounts, whose one hot platform row
        # misleads PostgreSQL's estimates (2 s instead of 7 ms at 300,000 top-ups).
        Source(tx.created_at, {"recharge_fen": -LedgerEntry.amount},
               tx.__table__.join(LedgerEntry, LedgerEntry.txn_id == tx.id),
               (tx.kind == "top_up", LedgerEntry.amount < 0), None, (tx.kind == "top_up",)),
    ]
