"""The outbox: durable records waiting for the cloud's acknowledgement.

Three verbs. `append` assigns the next seq in the same transaction as the record (the
counter lives in `outbox_state`, so deleting acknowledged rows never frees a seq);
`batch` returns what to send, in seq order; `ack` deletes everything up to a seq the cloud
has acknowledged. Nothing else removes a record: there is no rebuild on reconnect
(thingsboard-gateway lost and duplicated data that way, its issues #2098 and #2124).

Two more for a replaced or restored store (spec Revision 1.1): `start_above` makes a new,
empty store number its first record after the `high_seq` the cloud gave at provisioning;
`renumber` answers an ack with `conflicts`: in one durable transaction it deletes what the
cloud holds, gives every record whose seq the cloud holds with other content (or may) a
new seq after everything the cloud and this store have numbered, re-signs what is signed,
and records a `seq_conflict` event. A crash leaves either the old numbering or the new.
The size cap may replace an unsent telemetry record by a `pruned` placeholder with the same
seq (prune.py); a fresh store after corruption covers seqs it could not salvage with `lost`
placeholders. Either way the cloud still sees every seq exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .codec import check_ms, dumps, loads
from .lock import StoreError

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("edge.cache")

# Prune classes (column `prunable`): which unsent records the size cap may replace.
KEEP, TELEMETRY, MINOR_EVENT = 0, 1, 2
# Event kinds whose loss costs only diagnostics. Anything not listed (fault_*, load_level,
# kinds added in future versions) is kept: unknown means protected.
MINOR_EVENT_KINDS = frozenset(
    {"gun_state", "pile_lost", "pile_back", "meter_lost", "meter_back", "clock_skew"}
)
_RESERVED = ("seq", "type", "ts")


def prune_class(type_: str, body: dict[str, Any]) -> int:
    if type_ == "meter_minute":
        return TELEMETRY
    if type_ == "event" and body.get("kind") in MINOR_EVENT_KINDS:
        return MINOR_EVENT
    return KEEP


def carries_money(type_: str) -> bool:
    return type_.startswith("session_") or type_ == "gun_released"


@dataclass(frozen=True)
class OutboxRecord:
    seq: int
    type: str
    ts: int
    body: dict[str, Any]  # the record's own fields (without seq, type, ts)
    raw: str = field(repr=False)  # the record as stored: JSON with seq, type, ts first

    def to_wire(self) -> dict[str, Any]:
        """The record as it goes into an `up` message's `records` list."""
        return {"seq": self.seq, "type": self.type, "ts": self.ts, **self.body}

    @property
    def size(self) -> int:
        return len(self.raw.encode())

    @classmethod
    def from_raw(cls, raw: str) -> OutboxRecord:
        data = loads(raw)
        seq, type_, ts = data.pop("seq"), data.pop("type"), data.pop("ts")
        return cls(seq, type_, ts, data, raw)


@dataclass(frozen=True)
class Renumbering:
    """What `Outbox.renumber` did."""

    conflicts: list[int]  # seqs the cloud held with other content
    high: int  # the cloud's highest seq for the station
    held: int  # records found held by the cloud and deleted
    moves: list[tuple[int, int]]  # (old seq, new seq) of every record moved
    acked: int  # the store's acknowledged seq afterwards
    last: int  # its last seq afterwards

    def detail(self) -> dict[str, Any]:
        """The `seq_conflict` event's detail."""
        return {
            "conflicts": self.conflicts[:20], "conflict_count": len(self.conflicts),
            "high": self.high, "moved": len(self.moves),
            "first_moved": self.moves[0][0] if self.moves else None,
            "first_new_seq": self.moves[0][1] if self.moves else None,
        }  # fmt: skip


class Outbox:
    def __init__(self, store: Store) -> None:
        self._s = store
        self.refused_acks = 0  # acks beyond the last assigned seq (a confused cloud)

    def append(self, type: str, body: dict[str, Any], ts_ms: int) -> int:
        """Store a record and return its seq. Money records (`session_*`, `gun_released`)
        are committed durably."""
        if not isinstance(type, str) or not type:
            raise ValueError(f"record type must be a non-empty str, got {type!r}")
        check_ms(ts_ms, "ts_ms")
        if not isinstance(body, dict):
            raise ValueError(f"record body must be a dict, got {body.__class__.__name__}")
        clash = [k for k in _RESERVED if k in body]
        if clash:
            raise ValueError(f"record body must not carry {clash}: the outbox sets them")
        with self._s.transaction(durable=carries_money(type)):
            (seq,) = self._s.execute(
                "UPDATE outbox_state SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq"
            ).fetchone()
            raw = dumps({"seq": seq, "type": type, "ts": ts_ms, **body})
            self._s._reserve_seq(seq)
            self._s.execute(
                "INSERT INTO outbox (seq, type, ts, body, prunable) VALUES (?, ?, ?, ?, ?)",
                (seq, type, ts_ms, raw, prune_class(type, body)),
            )
        return int(seq)

    def batch(
        self, after_seq: int = 0, limit: int = 100, max_bytes: int | None = None
    ) -> list[OutboxRecord]:
        """Unacknowledged records with seq > after_seq, in seq order.

        At most `limit` records and, when given, at most `max_bytes` of record JSON, except
        that the first record is always returned (one oversized record must not block the
        queue). Records handed out are durable first: a seq the cloud sees survives power loss.
        """
        if limit < 1:
            raise ValueError("limit must be >= 1")
        if self._s.in_transaction:
            # It would see records not yet committed: sent, then rolled back, then reused.
            raise StoreError("batch() inside a transaction")
        self._s.sync_if_dirty()
        rows = self._s.query(
            "SELECT body FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit)
        )
        out: list[OutboxRecord] = []
        used = 0
        for row in rows:
            rec = OutboxRecord.from_raw(row["body"])
            if max_bytes is not None and out and used + rec.size + 1 > max_bytes:
                break
            used += rec.size + 1  # a comma between records in the message
            out.append(rec)
        return out

    def ack(self, seq: int) -> int:
        """The cloud holds every record <= seq: delete them. Returns how many were deleted.

        Idempotent (an old or repeated ack deletes nothing). An ack beyond the last seq this
        store assigned is refused and logged: applying it would drop records never sent.
        """
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise ValueError(f"ack seq must be an int, got {seq!r}")
        with self._s.transaction():
            last, acked = self._state()
            if seq > last:
                self.refused_acks += 1
                log.warning("ack for seq %d refused: the last seq assigned is %d", seq, last)
                return 0
            if seq <= acked:
                return 0
            deleted = self._s.execute("DELETE FROM outbox WHERE seq <= ?", (seq,)).rowcount
            self._s.execute("UPDATE outbox_state SET acked_seq = ? WHERE id = 1", (seq,))
        return int(deleted)

    def start_above(self, high_seq: int) -> bool:
        """A new, empty store (nothing ever appended) numbers its first record high_seq + 1:
        the cloud already holds the station's records up to high_seq from an earlier store.
        Returns whether the counter moved (a store that numbered anything keeps its own)."""
        if isinstance(high_seq, bool) or not isinstance(high_seq, int) or high_seq < 0:
            raise ValueError(f"high_seq must be an int >= 0, got {high_seq!r}")
        with self._s.transaction(durable=True):
            last, acked = self._state()
            if last != 0 or acked != 0 or high_seq == 0:
                return False
            self._s._reserve_seq(high_seq)
            self._s.execute(
                "UPDATE outbox_state SET last_seq = ?, acked_seq = ? WHERE id = 1",
                (high_seq, high_seq),
            )
        log.info("new store: numbering starts after the cloud's high seq %d", high_seq)
        return True

    def renumber(
        self,
        held: int,
        conflicts: Iterable[int],
        high: int,
        resign: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        event: Callable[[dict[str, Any]], Any] | None = None,
    ) -> Renumbering | None:
        """Answer an ack {seq: held, conflicts, high} (see the module's docstring).

        Records with seq <= held that are not in `conflicts` are held by the cloud: deleted.
        Records with seq <= high that are left (the conflicts, and what the cloud may hold
        from another store) move after max(high, last seq), in their order; records above
        high keep their seq (the cloud holds nothing there but this store's own). The store
        is then acknowledged up to high and gapless above it. `resign(wire_record)` returns
        the record to store (re-signed) for a moved one; `event(detail)` is called inside
        the transaction to append the `seq_conflict` event. None when nothing was to do.
        """
        for name, v in (("held", held), ("high", high)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be an int >= 0, got {v!r}")
        with self._s.transaction(durable=True):
            last, acked = self._state()
            clash = sorted({c for c in conflicts if acked < c <= last})
            if not clash and high <= acked:
                return None  # an old answer: this store was renumbered since
            upto = min(held, last, high)
            clash_set = set(clash)
            kept = self._s.execute(
                "SELECT seq FROM outbox WHERE seq > ? AND seq <= ?", (acked, upto)
            ).fetchall()
            dropped = [r[0] for r in kept if r[0] not in clash_set]
            if dropped:
                self._s.executemany("DELETE FROM outbox WHERE seq = ?", [(q,) for q in dropped])
            rows = self._s.execute(
                "SELECT seq, body, prunable FROM outbox WHERE seq > ? AND seq <= ? ORDER BY seq",
                (acked, high),
            ).fetchall()
            base = max(high, last)
            moves: list[tuple[int, int]] = []
            for i, (old_seq, raw, prunable) in enumerate(rows):
                new_seq = base + 1 + i
                wire = loads(raw)
                wire["seq"] = new_seq
                if resign is not None:
                    wire = resign(wire)
                self._s.execute("DELETE FROM outbox WHERE seq = ?", (old_seq,))
                self._s.execute(
                    "INSERT INTO outbox (seq, type, ts, body, prunable) VALUES (?, ?, ?, ?, ?)",
                    (new_seq, wire["type"], wire["ts"], dumps(wire), prunable),
                )
                moves.append((old_seq, new_seq))
            new_last = base + len(rows)
            new_acked = max(acked, min(high, new_last))
            if new_last > last:
                self._s._reserve_seq(new_last)
            self._s.execute(
                "UPDATE outbox_state SET last_seq = ?, acked_seq = ? WHERE id = 1",
                (new_last, new_acked),
            )
            # A session's end moved with its record: keep the row pointing at it; a pairing
            # code's row too (the cloud's `refused` names the seq it holds the record at).
            self._s.executemany(
                "UPDATE sessions SET ended_seq = ? WHERE ended_seq = ?",
                [(new, old) for old, new in moves],
            )
            self._s.executemany(
                "UPDATE pairing_codes SET seq = ? WHERE seq = ?",
                [(new, old) for old, new in moves],
            )
            result = Renumbering(
                conflicts=clash, high=high, held=len(dropped), moves=moves,
                acked=new_acked, last=new_last,
            )  # fmt: skip
            if event is not None:
                event(result.detail())
        log.warning("seq conflict: %d records renumbered after %d (cloud high %d)",
                    len(moves), base, high)
        return result

    def depth(self) -> int:
        """Records waiting for an ack (seqs are gapless, so the difference is exact)."""
        last, acked = self._state()
        return last - acked

    def last_seq(self) -> int:
        return self._state()[0]

    def acked_seq(self) -> int:
        return self._state()[1]

    def pending_pairing_code(self, gun: str, expires_at: int) -> int | None:
        """The seq of the gun's pairing-code record with this expiry while the cloud has not
        acknowledged it, else None. By content, not by seq: a seq conflict renumbers records
        (and acknowledges the old seqs), so a code's first seq says nothing after one."""
        raw = self._s.scalar(
            "SELECT seq FROM outbox WHERE type = 'event' AND json_extract(body, '$.kind') = 'pairing_code'"
            " AND json_extract(body, '$.detail.gun') = ? AND json_extract(body, '$.detail.expires_at') = ?"
            " ORDER BY seq DESC LIMIT 1",
            (gun, expires_at),
        )
        return None if raw is None else int(raw)

    def get(self, seq: int) -> OutboxRecord | None:
        raw = self._s.scalar("SELECT body FROM outbox WHERE seq = ?", (seq,))
        return None if raw is None else OutboxRecord.from_raw(raw)

    def _state(self) -> tuple[int, int]:
        with self._s._lock:
            row = self._s._conn().execute(
                "SELECT last_seq, acked_seq FROM outbox_state WHERE id = 1"
            ).fetchone()
        return int(row[0]), int(row[1])

    # -- used by recovery and prune ------------------------------------------------------

    def _put_placeholders(self, items: Iterable[tuple[int, int]], type_: str, **extra: Any) -> int:
        """Write `{"seq","type","ts",**extra}` at the given (seq, ts), replacing what is there."""
        n = 0
        for seq, ts in items:
            raw = dumps({"seq": seq, "type": type_, "ts": ts, **extra})
            # Delete then insert (not UPDATE): frees the old record's pages for the size cap.
            self._s.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._s.execute(
                "INSERT INTO outbox (seq, type, ts, body, prunable) VALUES (?, ?, ?, ?, ?)",
                (seq, type_, ts, raw, KEEP),
            )
            n += 1
        return n

    def _cover(self, floor: int, acked_floor: int, reason: str, now_ms: int) -> int:
        """Make last_seq >= floor and acked_seq >= acked_floor; every seq between acked and
        last with no record gets a `lost` placeholder. Returns how many were written."""
        with self._s.transaction(durable=True):
            last, acked = self._state()
            new_acked = max(acked, acked_floor)
            new_last = max(last, floor, new_acked)
            self._s.execute("DELETE FROM outbox WHERE seq <= ?", (new_acked,))
            present = {
                r[0]
                for r in self._s.execute(
                    "SELECT seq FROM outbox WHERE seq > ? AND seq <= ?", (new_acked, new_last)
                ).fetchall()
            }
            missing = (
                (seq, now_ms) for seq in range(new_acked + 1, new_last + 1) if seq not in present
            )
            lost = self._put_placeholders(missing, "lost", reason=reason)
            self._s.execute(
                "UPDATE outbox_state SET last_seq = ?, acked_seq = ? WHERE id = 1",
                (new_last, new_acked),
            )
        return lost
