"""The operators' weights of the recommendation terms: one row (`name` "default"), in
percent (100 = the term as is, 0 = ignored), changed from the console and audited."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms

TERM_COLUMNS = ("distance_pct", "price_pct", "wait_pct", "power_pct", "history_pct", "rating_pct")


class RecommendWeights(Base):
    __tablename__ = "recommend_weights"
    __table_args__ = tuple(CheckConstraint(f"{c} BETWEEN 0 AND 1000", name=c) for c in TERM_COLUMNS)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    distance_pct: Mapped[int] = mapped_column(default=100)
    price_pct: Mapped[int] = mapped_column(default=100)
    wait_pct: Mapped[int] = mapped_column(default=100)
    power_pct: Mapped[int] = mapped_column(default=100)
    history_pct: Mapped[int] = mapped_column(default=100)
    rating_pct: Mapped[int] = mapped_column(default=100)
    updated_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[int] = mapped_column(default=now_ms)
