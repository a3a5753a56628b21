"""What ingest stores: raw records (the evidence) and what it materialises from them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base


class RawRecord(Base):
    """Every durable record exactly as it came, once per (sid, seq).

    flagged: not to be trusted; flag_reason says why (`bad_signature`,
    `no_certificate`, `certificate_not_valid`, `invalid`, `unknown_type`, `store_error`),
    flag_detail says what in words (the schema errors, the bound broken, the database's
    complaint). A record flagged `invalid` is stored in a storable form
    (jcproto.strictjson.storable).
    """

    __tablename__ = "raw_records"
    # No foreign key on the three append-only, high-volume tables: only ingest writes them and
    # it creates the station row first, in the same transaction; the per-row FK check cost
    # PostgreSQL a third of the insert time.
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    ts: Mapped[int]
    payload: Mapped[dict[str, Any]]
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(32))
    flag_detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[int]


class SeqConflict(Base):
    """A record that arrived under a (sid, seq) the cloud already held with other content.

    Kept as evidence only (never merged into sessions); each row is an alarm
    for the operator. The gateway is told (ack `conflicts`/`high`) and renumbers its record.
    """

    __tablename__ = "seq_conflicts"
    __table_args__ = (Index("ix_seq_conflicts_sid_seq", "sid", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[int]


class ChargingSession(Base):
    """A charging session, merged from its records in any order (each type owns its columns)."""

    __tablename__ = "sessions"
    # the console's reports (migration 0011_reports; docs/reports.md)
    __table_args__ = (
        Index("ix_sessions_ended_at", "ended_at"),
        Index("ix_sessions_sid_ended_at", "sid", "ended_at"),
    )
    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), index=True)
    # running | ended | abnormal (an end came that failed validation or its signature:
    # end_problem says why; a subsequent good end makes it `ended`, a subsequent bad one never
    # overwrites a good end)
    status: Mapped[str] = mapped_column(String(16), default="running")
    end_problem: Mapped[str | None] = mapped_column(Text)
    gun: Mapped[str | None] = mapped_column(String(36))
    order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    auth: Mapped[str | None] = mapped_column(String(80))
    limit_mode: Mapped[str | None] = mapped_column(String(16))
    limit_value: Mapped[int | None]
    power_cap_w: Mapped[int | None]
    energy_start_wh: Mapped[int | None]
    energy_wh: Mapped[int | None]  # the gun's register at the latest record
    energy_stop_wh: Mapped[int | None]
    power_w: Mapped[int | None]
    voltage_v: Mapped[float | None] = mapped_column(Float)
    current_a: Mapped[float | None] = mapped_column(Float)
    soc: Mapped[int | None]
    cost_fen: Mapped[int | None]
    started_at: Mapped[int | None]
    ended_at: Mapped[int | None]
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    # None until session_ended arrives; False: its signature did not verify (flagged).
    signature_ok: Mapped[bool | None] = mapped_column(Boolean)
    started_seq: Mapped[int | None]
    progress_seq: Mapped[int | None]
    ended_seq: Mapped[int | None]
    # orderly charging: how the gateway's plan stands, as the newest record carrying it says
    # ({departure_at, energy_wh, status, expected_wh, finish_at}; migration 0020_orderly)
    orderly: Mapped[dict[str, Any] | None]


class StationEvent(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_sid_ts", "sid", "ts"),)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)  # no FK: see RawRecord
    seq: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[int]
    kind: Mapped[str] = mapped_column(String(32))
    gun: Mapped[str | None] = mapped_column(String(36))
    detail: Mapped[dict[str, Any]]


class MeterMinuteRow(Base):
    __tablename__ = "meter_minutes"
    __table_args__ = (Index("ix_meter_minutes_sid_ts", "sid", "ts"),)
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)  # no FK: see RawRecord
    seq: Mapped[int] = mapped_column(primary_key=True)
    ts: Mapped[int]
    p_avg_w: Mapped[int]
    p_max_w: Mapped[int]
    load_pct_max: Mapped[float] = mapped_column(Float)
    energy_import_wh: Mapped[int]
