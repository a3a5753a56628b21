"""Keeping the store under its size cap.

When the live pages exceed the cap, prune down to 90% of it (so that the next few appends do
not prune again), in this order, oldest first within each step:

1. what is already sent or purely local: expired command replies; ended sessions whose
   session_ended record the cloud has acknowledged; local event history; minute samples
   (these three interleaved by age);
2. unsent `meter_minute` records: each is replaced by a placeholder with the same seq,
   `{"seq":N,"type":"pruned","ts":<its ts>,"of":"meter_minute"}`, so seqs stay gapless;
3. unsent events of minor kinds (outbox.MINOR_EVENT_KINDS), replaced the same way
   (`"of":"event"`).

Never pruned: unsent `session_*` and `gun_released` records, sessions whose car has not left
the gun yet, unsent events of any other kind (fault_raised,
fault_cleared, load_level, …), open or unacknowledged sessions, cards, settings, alarms.
If only those are left the store grows past its cap; the report says so and the
`store_full` alarm is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .outbox import MINOR_EVENT, TELEMETRY

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("edge.cache")

TARGET_RATIO = 0.9
CHUNK = 64


@dataclass
class PruneReport:
    cap_bytes: int
    before_bytes: int
    after_bytes: int = 0
    removed: dict[str, int] = field(
        default_factory=lambda: {"replies": 0, "sessions": 0, "events": 0, "samples": 0}
    )
    replaced: dict[str, int] = field(default_factory=lambda: {"meter_minute": 0, "event": 0})
    over_cap: bool = False  # still over after pruning everything allowed

    @property
    def changed(self) -> bool:
        return any(self.removed.values()) or any(self.replaced.values())


_ACKED_SESSIONS = (
    "state = 'ended' AND reported = 1 AND ended_seq IS NOT NULL AND ended_seq <= ? "
    "AND release_pending = 0"
)


def prune(store: Store, cap: int, now_ms: int) -> PruneReport:
    report = PruneReport(cap, store.used_bytes())
    report.removed["replies"] = store.settings.expire_replies(now_ms)
    if report.before_bytes > cap:
        target = int(cap * TARGET_RATIO)
        for step in (_history, _replace(TELEMETRY, "meter_minute"), _replace(MINOR_EVENT, "event")):
            while store.used_bytes() > target:
                if not step(store, report):
                    break
        store.vacuum()
    report.after_bytes = store.used_bytes()
    report.over_cap = report.after_bytes > cap
    if report.changed:
        log.warning("store pruned to its cap: %s", report)
    if report.over_cap:
        store.alarms.raise_(
            "store_full",
            f"local store holds {report.after_bytes} bytes of unsent records it may not prune "
            f"(cap {cap}); the cloud has been unreachable for long",
            now_ms,
        )
    elif store.alarms.get("store_full") is not None:
        store.alarms.clear("store_full", now_ms)
    return report


def _history(store: Store, report: PruneReport) -> bool:
    """Delete a chunk from whichever of sessions/events/samples has the oldest row."""
    acked = store.outbox.acked_seq()
    heads = {
        "sessions": store.scalar(
            f"SELECT min(ended_at) FROM sessions WHERE {_ACKED_SESSIONS}", (acked,)
        ),
        "events": store.scalar("SELECT min(ts) FROM events"),
        "samples": store.scalar("SELECT min(minute_ts) FROM samples"),
    }
    candidates = {k: v for k, v in heads.items() if v is not None}
    if not candidates:
        return False
    table = min(candidates, key=lambda k: candidates[k])
    sql = {
        "sessions": f"DELETE FROM sessions WHERE session_id IN (SELECT session_id FROM sessions "
        f"WHERE {_ACKED_SESSIONS} ORDER BY ended_at LIMIT ?)",
        "events": "DELETE FROM events WHERE id IN (SELECT id FROM events ORDER BY id LIMIT ?)",
        "samples": "DELETE FROM samples WHERE minute_ts IN "
        "(SELECT minute_ts FROM samples ORDER BY minute_ts LIMIT ?)",
    }[table]
    params = (acked, CHUNK) if table == "sessions" else (CHUNK,)
    with store.transaction():
        n = store.execute(sql, params).rowcount
    report.removed[table] += n
    return n > 0


def _replace(prunable: int, of: str) -> Callable[[Store, PruneReport], bool]:
    def step(store: Store, report: PruneReport) -> bool:
        with store.transaction():
            rows = store.execute(
                "SELECT seq, ts FROM outbox WHERE prunable = ? ORDER BY seq LIMIT ?",
                (prunable, CHUNK),
            ).fetchall()
            n = store.outbox._put_placeholders(rows, "pruned", of=of)
        report.replaced[of] += n
        return n > 0

    return step
