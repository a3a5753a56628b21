"""Charging sessions at the edge: one row per session, keyed by the gateway's UUID.

Every write here carries money, so it is committed durably (see Store.transaction). At most
one open (starting/active) session per gun: a partial unique index enforces it.
Ending a session is one transaction with its record:

    with store.transaction(durable=True):
        seq = store.outbox.append("session_ended", body, ts)
        store.sessions.update(sid, state="ended", ended_at=ts, stop_reason="local",
                              cost_fen=cost, reported=True, ended_seq=seq)
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from edge.gunstate import StopReason

from .codec import check_int, check_ms, check_text, dumps, loads

if TYPE_CHECKING:
    from .store import Store


class SessionState(StrEnum):
    STARTING = "starting"  # start sent to the pile, not yet confirmed charging
    ACTIVE = "active"
    ENDED = "ended"


@dataclass
class SessionRow:
    session_id: str
    gun: str
    state: str
    auth: str  # "remote", "card:<id>", "free"
    order_id: str | None = None
    limit: dict[str, Any] | None = None  # {"mode": ..., "value": ...}
    power_cap_w: int | None = None
    energy_start_wh: int | None = None
    energy_last_wh: int | None = None
    started_at: int | None = None
    ended_at: int | None = None
    stop_reason: str | None = None
    cost_fen: int = 0
    cost_state: dict[str, Any] | None = None  # the cost meter's own state, opaque here
    pile_session_counter: int | None = None
    session_tag: str | None = None
    reported: bool = False  # session_ended appended to the outbox
    ended_seq: int | None = None  # its seq: once acked, the row may be pruned
    updated_at: int | None = None
    # After the end, until the car leaves the gun and gun_released is in the outbox:
    release_pending: bool = False
    released_at: int | None = None
    idle_fen: int | None = None
    plugged_seen_at: int | None = None  # the last instant the car was seen still plugged
    # Charging time counted for a time limit (monotonic clock), and when it was written.
    elapsed_ms: int | None = None
    elapsed_at: int | None = None


_FIELDS = {f.name for f in fields(SessionRow)}
_INTS = {
    "power_cap_w",
    "energy_start_wh",
    "energy_last_wh",
    "cost_fen",
    "pile_session_counter",
    "ended_seq",
    "idle_fen",
    "elapsed_ms",
}
_TIMES = {"started_at", "ended_at", "updated_at", "released_at", "plugged_seen_at", "elapsed_at"}
_BOOLS = ("reported", "release_pending")


def _validate(values: dict[str, Any]) -> None:
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValueError(f"unknown session fields: {sorted(unknown)}")
    for name, value in values.items():
        if name == "session_id":
            check_text(value, name)
            uuid.UUID(value)  # raises ValueError for anything else
        elif name == "state":
            SessionState(value)
        elif name == "stop_reason" and value is not None:
            StopReason(value)
        elif name in ("gun", "auth"):
            check_text(value, name)
        elif name in ("order_id", "session_tag"):
            check_text(value, name, optional=True)
        elif name in _INTS:
            check_int(value, name, optional=name != "cost_fen")
        elif name in _TIMES and value is not None:
            check_ms(value, name)
        elif name in ("limit", "cost_state") and value is not None and not isinstance(value, dict):
            raise ValueError(f"{name} must be a dict or None")
        elif name in _BOOLS and not isinstance(value, bool):
            raise ValueError(f"{name} must be a bool")


def _to_db(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "limit" in out:
        limit = out.pop("limit")
        out["limit_json"] = None if limit is None else dumps(limit)
    if "cost_state" in out:
        out["cost_state"] = None if out["cost_state"] is None else dumps(out["cost_state"])
    for name in _BOOLS:
        if name in out:
            out[name] = int(out[name])
    return out


def _from_db(row: dict[str, Any]) -> SessionRow:
    values = {k: row[k] for k in _FIELDS if k in row and k != "limit"}
    values["limit"] = loads(row["limit_json"])
    values["cost_state"] = loads(row["cost_state"])
    for name in _BOOLS:
        values[name] = bool(row[name])
    return SessionRow(**values)


class Sessions:
    def __init__(self, store: Store) -> None:
        self._s = store

    def upsert(self, row: SessionRow) -> SessionRow:
        """Insert or replace the whole row."""
        values = asdict(row)
        _validate(values)
        values["updated_at"] = row.updated_at if row.updated_at is not None else self._s.now_ms()
        with self._s.transaction(durable=True):
            self._s.db.table("sessions").upsert(_to_db(values), pk="session_id")
            return self._get(row.session_id)

    def update(self, session_id: str, **fields: Any) -> SessionRow:
        """Change the named fields; KeyError for an unknown session. An ended session stays
        ended (a late 'active' from a slow poll must not reopen it)."""
        _validate(fields)
        fields.setdefault("updated_at", self._s.now_ms())
        with self._s.transaction(durable=True):
            current = self.get(session_id)
            if current is None:
                raise KeyError(f"no session {session_id}")
            if current.state == SessionState.ENDED and fields.get("state", "ended") != "ended":
                raise ValueError(f"session {session_id} has ended; it cannot become {fields['state']}")
            self._s.db.table("sessions").update(session_id, _to_db(fields))
            return self._get(session_id)

    def discard(self, session_id: str) -> bool:
        """Delete a start that never happened (state 'starting', nothing reported), e.g. one
        the pile refused. Any other row is money history and is refused. True if deleted."""
        with self._s.transaction(durable=True):
            row = self.get(session_id)
            if row is None:
                return False
            if row.state != SessionState.STARTING or row.reported:
                raise ValueError(f"session {session_id} is {row.state}: only a start that "
                                 "never happened may be discarded")
            self._s.execute("DELETE FROM sessions WHERE session_id = ?", (session_id,))
        return True

    def get(self, session_id: str) -> SessionRow | None:
        rows = self._s.query("SELECT * FROM sessions WHERE session_id = ?", (session_id,))
        return _from_db(rows[0]) if rows else None

    def _get(self, session_id: str) -> SessionRow:
        row = self.get(session_id)
        assert row is not None
        return row

    def for_gun(self, gun: str) -> SessionRow | None:
        """The open (starting or active) session on a gun, if any."""
        rows = self._s.query("SELECT * FROM sessions WHERE gun = ? AND state != 'ended'", (gun,))
        return _from_db(rows[0]) if rows else None

    def open_sessions(self) -> list[SessionRow]:
        rows = self._s.query("SELECT * FROM sessions WHERE state != 'ended' ORDER BY started_at, gun")
        return [_from_db(r) for r in rows]

    def unreported(self) -> list[SessionRow]:
        """Ended sessions whose session_ended record is not in the outbox yet."""
        rows = self._s.query(
            "SELECT * FROM sessions WHERE state = 'ended' AND reported = 0 ORDER BY ended_at"
        )
        return [_from_db(r) for r in rows]

    def pending_release(self) -> list[SessionRow]:
        """Ended sessions whose car has not left the gun yet (no gun_released record)."""
        rows = self._s.query(
            "SELECT * FROM sessions WHERE release_pending = 1 ORDER BY ended_at, gun"
        )
        return [_from_db(r) for r in rows]

    # -- recorded progress: the readings a lost cost state is recomputed from ---------------

    def add_point(self, session_id: str, ts_ms: int, energy_wh: int) -> None:
        """One recorded reading (the lifetime register at ts) of an open session."""
        check_ms(ts_ms, "ts")
        check_int(energy_wh, "energy_wh")
        with self._s.transaction(durable=True):
            self._s.execute(
                "INSERT OR REPLACE INTO session_points (session_id, ts, energy_wh) VALUES (?, ?, ?)",
                (session_id, ts_ms, energy_wh),
            )

    def points(self, session_id: str) -> list[tuple[int, int]]:
        """(ts, energy_wh) readings recorded for a session, oldest first."""
        rows = self._s.query(
            "SELECT ts, energy_wh FROM session_points WHERE session_id = ? ORDER BY ts",
            (session_id,),
        )
        return [(r["ts"], r["energy_wh"]) for r in rows]

    def drop_points(self, session_id: str) -> int:
        with self._s.transaction(durable=True):
            return self._s.execute(
                "DELETE FROM session_points WHERE session_id = ?", (session_id,)
            ).rowcount

    def recent(self, limit: int = 50, gun: str | None = None) -> list[SessionRow]:
        sql = "SELECT * FROM sessions"
        params: list[Any] = []
        if gun is not None:
            sql += " WHERE gun = ?"
            params.append(gun)
        sql += " ORDER BY COALESCE(started_at, updated_at) DESC LIMIT ?"
        params.append(limit)
        return [_from_db(r) for r in self._s.query(sql, params)]
