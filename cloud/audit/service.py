"""Recording and listing audit entries (plain functions, no Flask request objects).

`record` is called inside the transaction of the change it describes, so the entry exists
exactly when the change does. Listing is keyset-paginated (newest first, `before` an id), so
a page costs the same at any depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditEntry
from cloud.models.base import now_ms

MAX_PAGE = 200


def record(s: Session, actor: str, action: str, target: str | None = None,
           detail: Mapping[str, Any] | None = None, ip: str | None = None, *, ts: int | None = None) -> AuditEntry:
    row = AuditEntry(ts=now_ms() if ts is None else ts, actor=actor[:64], action=action[:64],
                     target=None if target is None else target[:128],
                     detail=dict(detail) if detail is not None else None, ip=None if ip is None else ip[:64])
    s.add(row)
    s.flush()
    return row


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    next_before: int | None  # pass as `before` for the next (older) page; None: last page


def listing(s: Session, *, limit: int = 50, before: int | None = None, actor: str | None = None,
            action: str | None = None, target: str | None = None) -> Page:
    """Entries newest first; `action` matches a prefix ("operator." finds all operator changes)."""
    limit = max(1, min(int(limit), MAX_PAGE))
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit + 1)
    if before is not None:
        q = q.where(AuditEntry.id < before)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if target:
        q = q.where(AuditEntry.target == target)
    if action:
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        q = q.where(AuditEntry.action.like(escaped + "%", escape="\\"))
    rows = list(s.scalars(q))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)
