"""Local event history (for the status page) and alarms.

Events here are the station's own log, bounded to `Store.max_events` rows (the oldest go
first). Sending an event to the cloud is an outbox record; write both in one transaction:

    with store.transaction():
        store.events.add("fault_raised", "P1-1", detail, ts)
        store.outbox.append("event", {"kind": "fault_raised", "gun": "P1-1", "detail": detail}, ts)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import check_ms, check_text, dumps, loads

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class EventRow:
    id: int
    ts: int
    kind: str
    gun: str | None
    detail: dict[str, Any]


class Events:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, kind: str, gun: str | None, detail: dict[str, Any] | None, ts_ms: int) -> int:
        check_text(kind, "kind")
        check_text(gun, "gun", optional=True)
        check_ms(ts_ms, "ts_ms")
        with self._s.transaction():
            new_id = self._s.execute(
                "INSERT INTO events (ts, kind, gun, detail) VALUES (?, ?, ?, ?)",
                (ts_ms, kind, gun, dumps(detail or {})),
            ).lastrowid
            # ids only grow (AUTOINCREMENT), so the bound is one indexed delete.
            self._s.execute("DELETE FROM events WHERE id <= ?", (new_id - self._s.max_events,))
        return int(new_id)

    def recent(
        self, limit: int = 100, *, gun: str | None = None, kind: str | None = None
    ) -> list[EventRow]:
        """Newest first."""
        where, params = [], []
        if gun is not None:
            where.append("gun = ?")
            params.append(gun)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        sql = "SELECT * FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._s.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
        return [EventRow(r["id"], r["ts"], r["kind"], r["gun"], loads(r["detail"])) for r in rows]

    def count(self) -> int:
        return int(self._s.scalar("SELECT count(*) FROM events"))


@dataclass(frozen=True)
class Alarm:
    key: str
    message: str
    raised_at: int
    cleared_at: int | None
    active: bool


class Alarms:
    """Standing conditions by key ("meter_lost", "store_corrupt", …): raised until cleared."""

    def __init__(self, store: Store) -> None:
        self._s = store

    def raise_(self, key: str, message: str, ts_ms: int) -> bool:
        """Raise (or re-word) an alarm. True when it was not active before."""
        check_text(key, "key")
        check_ms(ts_ms, "ts_ms")
        with self._s.transaction():
            before = self.get(key)
            if before is not None and before.active:
                self._s.execute("UPDATE alarms SET message = ? WHERE key = ?", (message, key))
                return False
            self._s.execute(
                "INSERT INTO alarms (key, message, raised_at, cleared_at, active) "
                "VALUES (?, ?, ?, NULL, 1) ON CONFLICT (key) DO UPDATE SET "
                "message = excluded.message, raised_at = excluded.raised_at, "
                "cleared_at = NULL, active = 1",
                (key, message, ts_ms),
            )
        return True

    def clear(self, key: str, ts_ms: int) -> bool:
        """True when an active alarm was cleared."""
        check_ms(ts_ms, "ts_ms")
        with self._s.transaction():
            cur = self._s.execute(
                "UPDATE alarms SET active = 0, cleared_at = ? WHERE key = ? AND active = 1",
                (ts_ms, key),
            )
        return cur.rowcount == 1

    def get(self, key: str) -> Alarm | None:
        rows = self._s.query("SELECT * FROM alarms WHERE key = ?", (key,))
        return _alarm(rows[0]) if rows else None

    def active(self) -> list[Alarm]:
        rows = self._s.query("SELECT * FROM alarms WHERE active = 1 ORDER BY raised_at, key")
        return [_alarm(r) for r in rows]


def _alarm(r: dict[str, Any]) -> Alarm:
    return Alarm(r["key"], r["message"], r["raised_at"], r["cleared_at"], bool(r["active"]))
