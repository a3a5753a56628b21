"""The occupancy forecast per station, refreshed every hour by the jobs (job `occupancy`), so
that a recommendation or a trip plan reads one row per station instead of weeks of sessions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, JsonDoc

NETWORK = "*"  # the sid of the row for every station pooled (the fallback of a station without a row)


class OccupancyProfile(Base):
    """The share of a station's guns busy by slot of the week (`share`, `slot_s`-long slots in
    local time `tz`, Monday 00:00 first) and the weeks-equivalent of its own history behind
    each slot (`evidence`), from `sessions` sessions on `guns` guns, as of `computed_at`."""

    __tablename__ = "occupancy_profiles"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tz: Mapped[str] = mapped_column(String(64))
    slot_s: Mapped[int]
    share: Mapped[list[Any]] = mapped_column(JsonDoc)
    evidence: Mapped[list[Any]] = mapped_column(JsonDoc)
    guns: Mapped[int]
    sessions: Mapped[int]
    computed_at: Mapped[int]
