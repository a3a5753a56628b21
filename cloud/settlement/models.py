"""Settlement tables: owners' shares per station (every version kept), the periods (one per
local day) and whether each is closed, the ledger's revenue postings as each landed in a
period, and the closed periods' frozen lines."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class SettlementShare(Base):
    """From `effective_day` (a local date, YYYY-MM-DD) on, the owner of `sid` gets these
    basis points of each fee type, less the platform's commission (split.py)."""

    __tablename__ = "settlement_shares"
    __table_args__ = (Index("ix_settlement_shares_sid_day", "sid", "effective_day", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    effective_day: Mapped[str] = mapped_column(String(10))
    electricity_bp: Mapped[int]
    service_bp: Mapped[int]
    idle_bp: Mapped[int]
    commission_bp: Mapped[int]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class SettlementPeriod(Base):
    """A closed period (a local day): its lines are frozen in settlement_lines. A day without
    a row is open."""

    __tablename__ = "settlement_periods"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    closed_at: Mapped[int]
    closed_by: Mapped[str] = mapped_column(String(64))


class SettlementItem(Base):
    """One ledger transaction that moved revenue, the station it belongs to (its order's) and
    the period it landed in: the day it was booked, or the next open day when that one had
    closed before the item was taken in."""

    __tablename__ = "settlement_items"
    __table_args__ = (Index("ix_settlement_items_day_sid", "day", "sid"),)
    txn_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sid: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64))
    day: Mapped[str] = mapped_column(String(10))
    booked_at: Mapped[int]
    electricity_fen: Mapped[int]
    service_fen: Mapped[int]
    idle_fen: Mapped[int]


class SettlementLine(Base):
    """A closed period's split of one station's revenue of one fee type (never changed)."""

    __tablename__ = "settlement_lines"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    fee: Mapped[str] = mapped_column(String(16), primary_key=True)
    revenue_fen: Mapped[int]
    owner_fen: Mapped[int]
    commission_fen: Mapped[int]
    platform_fen: Mapped[int]
    share_bp: Mapped[int]
    commission_bp: Mapped[int]


class SettlementPayout(Base):
    """What one owner is owed for one closed period, made payable in the ledger (revenue →
    owner_payable, `payable_txn_id`) and then paid (owner_payable → bank, `paid_txn_id`, by
    `method` with the transfer's `reference`). One per day and owner."""

    __tablename__ = "settlement_payouts"
    __table_args__ = (Index("ix_settlement_payouts_day_owner", "day", "owner_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    day: Mapped[str] = mapped_column(String(10), ForeignKey("settlement_periods.day"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("operators.id"), index=True)
    amount_fen: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))  # payable | paid
    payable_txn_id: Mapped[int]
    paid_txn_id: Mapped[int | None]
    method: Mapped[str | None] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int]
    created_by: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[int | None]
    paid_by: Mapped[str | None] = mapped_column(String(64))


class SettlementPayoutStation(Base):
    """A station's owed share of a closed day, in the payout that carries it: a station's day
    is paid to one owner once, even if the station changes hands afterwards."""

    __tablename__ = "settlement_payout_stations"
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("settlement_payouts.id"))
    owner_fen: Mapped[int]
