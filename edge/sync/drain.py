"""Store-and-forward: the outbox drained to the cloud in seq order, with a bounded window.

Records leave the outbox only when the cloud's `ack` covers them. Batches go out in seq order
while the unacknowledged span stays under the window; what is not acknowledged within the
timeout is sent again from the last acknowledged seq (the cloud stores by (sid, seq), so a
repeat is harmless); a reconnect starts again from the last ack. Nothing is rebuilt: the
outbox itself is the state (thingsboard-gateway's issues #2098 and #2124 lost and duplicated
data by rebuilding its queue on reconnect).

An ack with `conflicts` (spec Revision 1.1: the cloud already held some of these seqs with
other content, from a replaced or restored store) makes the outbox renumber what is not
acknowledged after the cloud's `high`, re-signing `session_ended` records, and raise a
`seq_conflict` event; then everything is sent again from there.

An ack's `refused` (added by the project: records the cloud holds but would not act on) marks
the pairing codes it names refused, with the reason (`store.pairing`), before the ack itself
is applied; an entry that names no code of this store, or another kind, is logged and left.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from edge.cache import Store
from edge.clock import Clock
from edge.records import Signer, append
from jcproto import Event, RefusedRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrainSettings:
    batch_records: int = 500
    batch_bytes: int = 256 * 1024
    window_records: int = 4000  # most records sent and not yet acknowledged
    ack_timeout_s: float = 15.0  # no ack progress this long while records are out: resend


class Drain:
    def __init__(self, store: Store, clock: Clock, publish: Callable[[str], bool], sid: str,
                 settings: DrainSettings | None = None, signer: Signer | None = None) -> None:
        self.store = store
        self.signer = signer
        self.conflicts = 0  # seq conflicts the cloud reported and this drain resolved
        self.clock = clock
        self.publish = publish
        self.sid = sid
        self.s = settings or DrainSettings()
        self.acked = store.outbox.acked_seq()
        self.sent_high = self.acked
        self.last_progress = clock.monotonic()
        self.last_ack_at_ms: int | None = None
        self.resends = 0
        self.batches = 0
        self.records_sent = 0
        self.refused = 0  # pairing codes the cloud said it refused
        self.refused_ignored = 0  # `refused` entries that named nothing of this store

    def rewind(self, why: str) -> None:
        """Send again everything not acknowledged (after a reconnect or a timeout)."""
        if self.sent_high > self.acked:
            log.info("resending from seq %d (%s)", self.acked + 1, why)
            self.resends += 1
        self.sent_high = self.acked
        self.last_progress = self.clock.monotonic()

    def on_ack(self, seq: int, conflicts: list[int] | None = None, high: int | None = None,
               refused: list[RefusedRecord] | None = None) -> None:
        """The cloud holds everything up to `seq`. Acks from several ingest processes may
        come out of order: the highest wins. With `conflicts`, renumber (see the module).
        `refused` first: its seqs are those the records have now, before any renumbering."""
        if refused:
            self._refused(refused)
        if conflicts:
            self._renumber(seq, conflicts, seq if high is None else high)
            return
        if seq <= self.acked:
            return
        last = self.store.outbox.last_seq()
        if seq > last:
            log.warning("ack %d is beyond the last seq %d: ignored (another station's store?)", seq, last)
            return
        self.store.outbox.ack(seq)
        self.acked = seq
        self.sent_high = max(self.sent_high, seq)
        self.last_progress = self.clock.monotonic()
        self.last_ack_at_ms = int(self.clock.time() * 1000)

    def _refused(self, refused: list[RefusedRecord]) -> None:
        now_ms = int(self.clock.time() * 1000)
        for r in refused[:1000]:
            try:
                if r.kind != "pairing_code":
                    self.refused_ignored += 1
                    log.info("the cloud refused record %d as %r: not a kind this gateway follows", r.seq, r.kind)
                elif (got := self.store.pairing.refuse(r.seq, r.reason, now_ms)) == "refused":
                    self.refused += 1
                    log.warning("the cloud refused the pairing code of record %d: %s", r.seq, r.reason)
                elif got == "known":
                    log.info("the cloud refused the pairing code of record %d again (%s)", r.seq, r.reason)
                else:
                    self.refused_ignored += 1
                    log.info("the cloud refused record %d as a pairing code: no code of this store has it", r.seq)
            except Exception:  # noqa: BLE001 — a refusal is news, never a reason to stop acknowledging
                self.refused_ignored += 1
                log.exception("the cloud's refusal of record %d not stored", r.seq)

    def _renumber(self, seq: int, conflicts: list[int], high: int) -> None:
        now_ms = int(self.clock.time() * 1000)

        def event(detail: dict) -> None:
            append(self.store, Event(seq=0, ts=now_ms, kind="seq_conflict", gun=None, detail=detail))

        done = self.store.outbox.renumber(seq, conflicts, high, resign=self._resign, event=event)
        if done is None:
            return
        self.conflicts += len(done.conflicts)
        log.warning("the cloud holds seqs %s with other content (high %d): %d records renumbered",
                    done.conflicts[:10], high, len(done.moves))
        self.acked = done.acked
        self.sent_high = self.acked
        self.last_progress = self.clock.monotonic()
        self.last_ack_at_ms = now_ms

    def _resign(self, wire: dict) -> dict:
        if wire.get("type") == "session_ended" and self.signer is not None:
            wire["signature"] = self.signer.sign({k: v for k, v in wire.items() if k != "signature"})
        return wire

    def pending(self) -> int:
        return self.store.outbox.last_seq() - self.acked

    def pump(self) -> int:
        """Send what the window allows now; returns the number of records sent."""
        if self.sent_high > self.acked and self.clock.monotonic() - self.last_progress > self.s.ack_timeout_s:
            self.rewind("no acknowledgement in time")
        sent = 0
        while self.sent_high - self.acked < self.s.window_records:
            room = min(self.s.batch_records, self.s.window_records - (self.sent_high - self.acked))
            batch = self.store.outbox.batch(after_seq=self.sent_high, limit=room, max_bytes=self.s.batch_bytes)
            if not batch:
                break
            # The records are stored as the JSON the cloud gets: no re-encoding on the way out.
            payload = '{"v":1,"sid":' + json.dumps(self.sid) + ',"records":[' + ",".join(r.raw for r in batch) + "]}"
            if not self.publish(payload):
                break
            if self.sent_high == self.acked:
                self.last_progress = self.clock.monotonic()
            self.sent_high = batch[-1].seq
            self.batches += 1
            self.records_sent += len(batch)
            sent += len(batch)
        return sent
