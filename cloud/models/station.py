"""Stations, their piles and guns, live state, and the acknowledged-records watermark."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class Station(Base):
    __tablename__ = "stations"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(default=now_ms)
    # The archive drivers see (cloud/stations): coordinates in GCJ-02, as WeChat's map takes them.
    address: Mapped[str | None] = mapped_column(String(255))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    city: Mapped[str | None] = mapped_column(String(64))
    phone: Mapped[str | None] = mapped_column(String(32))
    open_hours: Mapped[str | None] = mapped_column(String(64))
    transformer_kva: Mapped[float | None] = mapped_column(Float)  # the archive's rating (console)


class Pile(Base):
    __tablename__ = "piles"
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    pile_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    model: Mapped[str | None] = mapped_column(String(64))  # the maker's model name
    profile: Mapped[str | None] = mapped_column(String(32))  # the gateway's pile profile


class Gun(Base):
    __tablename__ = "guns"
    __table_args__ = (Index("ix_guns_code", "code", unique=True),)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    gun_id: Mapped[str] = mapped_column(String(36), primary_key=True)  # "<pile>-<n>"
    pile_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str | None] = mapped_column(String(16))  # latest, from telemetry
    state_ts: Mapped[int | None]
    # The archive: `code` is what the gun's QR code carries (unique), `kind` ac | dc.
    code: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(64))
    rated_power_w: Mapped[int | None]
    kind: Mapped[str | None] = mapped_column(String(8))


class StationGunCount(Base):
    """How many of a station's guns are in each state (a NULL state as `unknown`); state ''
    is the station's row: how many guns it has. Kept by triggers on `guns` (migration
    0028_console10), never written by the application: it equals a GROUP BY over `guns`
    after every commit, in a few rows per station. Zero counts stay as rows."""

    __tablename__ = "station_gun_counts"
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)


class StationState(Base):
    """Live view of a station: online from the retained `state` topic and liveness, latest
    telemetry.

    `online` is what the console shows: the last state message said online *and* something
    came from the station within the liveness timeout (ingest sweeps stale ones offline,
    `offline_reason` = `timeout`; the will gives `will`). `claimed_online` is what the last
    applied state message said; a station timed out comes back online with its next message.
    """

    __tablename__ = "station_state"
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    claimed_online: Mapped[bool] = mapped_column(Boolean, default=False)
    offline_reason: Mapped[str | None] = mapped_column(String(16))
    # ts of the connection the last applied state message belongs to (see docs/protocol.md).
    state_ts: Mapped[int | None]
    fw: Mapped[str | None] = mapped_column(String(64))
    cfg_rev: Mapped[str | None] = mapped_column(String(64))
    last_seen: Mapped[int | None]  # cloud receive time of the latest message of any kind
    telemetry: Mapped[dict[str, Any] | None]
    telemetry_ts: Mapped[int | None]


class StationSeq(Base):
    """Per station: every record with seq <= acked_seq is stored (the contiguous high-water)."""

    __tablename__ = "station_seq"
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), primary_key=True)
    acked_seq: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[int] = mapped_column(default=now_ms)
