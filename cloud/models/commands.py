"""Commands sent to stations and the replies ingest stored for them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class CommandLog(Base):
    __tablename__ = "commands"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"), index=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[int] = mapped_column(default=now_ms)
    expires_at: Mapped[int]
    status: Mapped[str] = mapped_column(
        String(16), default="sent"
    )  # sent | replied | timeout | unsent
    ok: Mapped[bool | None] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any] | None]
    replied_at: Mapped[int | None]
