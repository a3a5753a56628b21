"""The reports' one table: closed months rolled up per station, so that the home page's
all-time figures read a few thousand rows instead of every order and session."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base

PLATFORM = "*"  # the sid of a month's row of figures that belong to no station


class ReportMonth(Base):
    """One local month (`YYYY-MM` in time zone `tz`) of one station: what its rows summed
    to when `computed_at`; the row with sid "*" holds the month's new accounts and
    recharges, and exists for every month computed (the month's marker)."""

    __tablename__ = "report_months"
    tz: Mapped[str] = mapped_column(String(64), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    charging_fen: Mapped[int] = mapped_column(default=0)
    energy_wh: Mapped[int] = mapped_column(default=0)
    sessions: Mapped[int] = mapped_column(default=0)
    charging_ms: Mapped[int] = mapped_column(default=0)
    new_accounts: Mapped[int] = mapped_column(default=0)
    recharge_fen: Mapped[int] = mapped_column(default=0)
    computed_at: Mapped[int]
