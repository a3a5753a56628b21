"""The reports' one table: closed days rolled up per station and for all stations, so that
the home page reads a few hundred rollup rows and today's rows instead of every order."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base

ALL = "*"  # the sid of a day's row for all stations together (and the platform's figures)


class ReportDay(Base):
    """One local day (`YYYY-MM-DD` in time zone `tz`) of one station: what its rows summed to
    when `computed_at`. The row with sid "*" sums every station and holds the day's new
    accounts and recharges; it exists for every day computed (the day's marker)."""

    __tablename__ = "report_days"
    __table_args__ = (Index("ix_report_days_tz_day", "tz", "day"),)
    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    charging_fen: Mapped[int] = mapped_column(default=0)
    energy_wh: Mapped[int] = mapped_column(default=0)
    sessions: Mapped[int] = mapped_column(default=0)
    charging_ms: Mapped[int] = mapped_column(default=0)
    new_accounts: Mapped[int] = mapped_column(default=0)
    recharge_fen: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[int]
