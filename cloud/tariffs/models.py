"""Tariff versions and station assignments (times in epoch ms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class TariffVersion(Base):
    """One immutable tariff body (the protocol's tariff object; its `id` is `tariff_id`).

    `code` names the tariff an operator edits (e.g. "standard"); each edit stores a new row
    with the next `version` and the id `<code>-v<version>`.

    The reservation fee (预约费) is a cloud-side charge, versioned with the tariff but not part
    of the protocol's tariff object (`body`, what the gateway is sent): per reservation and per
    minute reserved, CNY × 10,000 like the tariff's prices; 0 and 0 = free."""

    __tablename__ = "tariff_versions"
    __table_args__ = (UniqueConstraint("code", "version"),)
    tariff_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    code: Mapped[str] = mapped_column(String(48))
    version: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(128))
    body: Mapped[dict[str, Any]]
    created_at: Mapped[int] = mapped_column(default=now_ms)
    created_by: Mapped[str | None] = mapped_column(String(64))
    reservation_fee_e4: Mapped[int] = mapped_column(default=0, server_default="0")
    reservation_per_minute_e4: Mapped[int] = mapped_column(default=0, server_default="0")


class StationTariff(Base):
    """From `effective_from` on (until the station's next assignment), `sid` charges with
    `tariff_id`. `pushed_at`: when the station acknowledged `set_tariff` for it (a scheduled
    one is pushed ahead of its time). A scheduled assignment cancelled before its time is
    kept, marked `cancelled_at`/`cancelled_by`, and no longer counts; `cancel_pushed_at`:
    when the station acknowledged `cancel_tariff` for it."""

    __tablename__ = "station_tariffs"
    __table_args__ = (
        UniqueConstraint("sid", "effective_from"),
        Index("ix_station_tariffs_due", "pushed_at", "effective_from"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    tariff_id: Mapped[str] = mapped_column(String(64), ForeignKey("tariff_versions.tariff_id"))
    effective_from: Mapped[int]
    created_at: Mapped[int] = mapped_column(default=now_ms)
    pushed_at: Mapped[int | None]
    cancelled_at: Mapped[int | None]
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancel_pushed_at: Mapped[int | None]

    @property
    def cancelled(self) -> bool:
        return self.cancelled_at is not None
