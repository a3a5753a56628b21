"""One row per change made by an operator, the command line or a job."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class AuditEntry(Base):
    """`actor` is an operator's login or "cli"; `action` a dotted verb ("operator.create");
    `target` what was changed ("operator:alice", "station:S1"); `detail` the changed fields
    (never a password or a token)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_actor_id", "actor", "id"), Index("ix_audit_log_target_id", "target", "id"))
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    ts: Mapped[int] = mapped_column(default=now_ms, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[dict[str, Any] | None]
    ip: Mapped[str | None] = mapped_column(String(64))
