"""Alarms, their evidence (the station records that raised, repeated or cleared them), who is
told by SMS at each station, and every notification with its outcome (times in epoch ms)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms

# At most one open alarm per station and key: the database holds the rule, so two ingest
# processes applying records of one station at once cannot open it twice.
_OPEN = text("cleared_at IS NULL")


class Alarm(Base):
    """One occurrence of a condition at a station, from raise to clear.

    `key` names the condition (`fault:P1-1`, `meter_lost`, `gw:meter_stale`, `offline`, …);
    `source` says who saw it: `event` (a record the station sent), `gateway` (the alarm list
    in its telemetry) or `cloud` (offline by liveness). `raise_seq`/`clear_seq` are the seqs of
    the records that raised and cleared it (null for the other sources). One-shot kinds
    (`seq_conflict`, `start_refused`, `clock_skew`) stay active until acknowledged;
    `count` says how many records repeated them meanwhile."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_open_key", "sid", "key", unique=True,
              sqlite_where=_OPEN, postgresql_where=_OPEN),
        Index("ix_alarms_sid_raised_at", "sid", "raised_at"),
        Index("ix_alarms_raised_at", "raised_at"),
        Index("ix_alarms_cleared_at_raised_at", "cleared_at", "raised_at"),
    )  # fmt: skip
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    key: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    gun: Mapped[str | None] = mapped_column(String(36))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]]
    count: Mapped[int] = mapped_column(default=1)
    raised_at: Mapped[int]
    raise_seq: Mapped[int | None]
    cleared_at: Mapped[int | None]
    clear_seq: Mapped[int | None]
    acknowledged_at: Mapped[int | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    ack_note: Mapped[str | None] = mapped_column(Text)
    # The highest severity rank SMS was considered for (0: not yet): notifications go out once
    # per alarm, and again only when it escalates.
    notified_rank: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class AlarmEvidence(Base):
    """A station record (`events` row, by (sid, seq)) that raised, repeated or cleared an
    alarm. Its key makes applying the same record twice a no-op.

    A clear that came before its raise (records arrive in any order) waits here with
    `alarm_id` null under its `key`; the raise it belongs to then opens the alarm cleared."""

    __tablename__ = "alarm_evidence"
    __table_args__ = (
        Index("ix_alarm_evidence_alarm_id", "alarm_id"),
        Index("ix_alarm_evidence_sid_key", "sid", "key"),
    )
    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"))
    role: Mapped[str] = mapped_column(String(8))  # raise | repeat | clear
    ts: Mapped[int]


class AlarmRecipient(Base):
    """A phone told by SMS of the station's alarms."""

    __tablename__ = "alarm_recipients"
    __table_args__ = (UniqueConstraint("sid", "phone"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    phone: Mapped[str] = mapped_column(String(20))
    name: Mapped[str | None] = mapped_column(String(64))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)


class AlarmNotification(Base):
    """One SMS about one alarm to one phone, and what became of it.

    status: `pending` (to send), `sent`, `failed` (the provider refused or was unreachable;
    sent again at `next_attempt_at`), `given_up` (a permanent refusal, or out of attempts),
    `suppressed` (rate limit: the same station and kind told this phone recently)."""

    __tablename__ = "alarm_notifications"
    __table_args__ = (
        Index("ix_alarm_notifications_due", "status", "next_attempt_at"),
        Index("ix_alarm_notifications_rate", "sid", "kind", "phone", "created_at"),
        Index("ix_alarm_notifications_alarm_id", "alarm_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"))
    sid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(20))
    template_code: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]]
    provider: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(64))  # Aliyun's BizId
    created_at: Mapped[int] = mapped_column(default=now_ms)
    sent_at: Mapped[int | None]
