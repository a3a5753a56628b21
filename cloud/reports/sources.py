"""Where the home figures come from, and the one owner-scope condition every report query
carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, false, func

from cloud.drivers.models import Driver
from cloud.ledger.accounts import Kind
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
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
        Source(tx.created_at, {"recharge_fen": -LedgerEntry.amount},
               tx.__table__.join(LedgerEntry, LedgerEntry.txn_id == tx.id)
               .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id),
               (tx.kind == "top_up", LedgerAccount.kind == Kind.CLEARING.value), None),
    ]
