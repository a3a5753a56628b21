"""One batch, one transaction: records idempotently by (sid, seq), what they mean, live state.

Materialisation is written so that records may arrive in any order and more than once, and
two ingest processes may work on the same station at the same time: each record type owns
its columns of a session, progress only moves forward by seq, and stops once the session has
ended. Acknowledgements are computed after the commit, from the database, so that every
process agrees on the contiguous high-water mark.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore, lock_stations
from cloud.ingest.decode import Batch, RecordIn
from cloud.ingest.signatures import SIGNATURE_FLAGS, SignatureVerifier
from cloud.models import (
    ChargingSession,
    CommandLog,
    Gun,
    MeterMinuteRow,
    Pile,
    RawRecord,
    SeqConflict,
    Station,
    StationEvent,
    StationSeq,
    StationState,
)
from jcproto import RECORD_TYPES, canonical_json
from jcproto.strictjson import clean_text

log = logging.getLogger("jc.ingest")

RAW = RawRecord.__table__
SESSIONS = ChargingSession.__table__
# The plan as the gateway sent it; an absent one binds as SQL NULL (not JSON null), so that
# coalesce keeps the plan already stored.
_ORDERLY = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
STATE = StationState.__table__
SEQ = StationSeq.__table__


@dataclass
class StoreResult:
    inserted: int = 0
    duplicates: int = 0
    flagged: Counter[str] = field(default_factory=Counter)
    acks: dict[str, int] = field(default_factory=dict)  # sid -> what to acknowledge
    conflicts: dict[str, list[int]] = field(default_factory=dict)  # sid -> seqs held otherwise
    highs: dict[str, int] = field(default_factory=dict)  # sid -> highest seq held (conflicts)
    # Stations that sent a seq the cloud held already: their ack goes no further than the
    # highest seq of the batch, what the cloud could compare (a restored store may still have
    # records in flight that the cloud holds from another store).
    repeated: set[str] = field(default_factory=set)
    errors: int = 0  # records or messages that made the database raise (kept flagged or dropped)
    # sid -> {seq: (kind, reason)}: records held but refused (a gateway's pairing code the cloud
    # made no code of), for the ack's `refused`; a repeat of one finds its refusal again.
    refused: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)

    def merge(self, other: StoreResult) -> None:
        self.inserted += other.inserted
        self.duplicates += other.duplicates
        self.flagged.update(other.flagged)
        self.errors += other.errors
        for sid, seqs in other.conflicts.items():
            self.conflicts.setdefault(sid, []).extend(seqs)
        self.repeated |= other.repeated
        for sid, v in other.highs.items():
            self.highs[sid] = max(self.highs.get(sid, 0), v)
        for sid, got in other.refused.items():
            self.refused.setdefault(sid, {}).update(got)


class Store:
    def __init__(
        self, engine: Engine, verifier: SignatureVerifier | None = None, offline_after_s: float = 90.0
    ) -> None:
        self.engine = engine
        self.verifier = verifier or SignatureVerifier()
        self.offline_after_ms = int(offline_after_s * 1000)
        self._known: set[str] = set()  # sids whose station rows exist (saves an insert per batch)

    def write(self, batch: Batch) -> StoreResult:
        """Store a batch in one transaction. Should the database refuse something in it (a
        value no check foresaw), every record and message is stored on its own: the one that
        fails is kept flagged `store_error` (or, not a record, dropped and counted) and the
        rest goes on. Only a database that is away (OperationalError) fails the call."""
        try:
            result = self._write(batch)
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001 - isolate the culprit, never die on input
            log.warning("a batch failed (%s); storing it one by one", _why(exc))
            result = self._write_one_by_one(batch)
        if batch.records:
            self._finish_acks(result, batch.records)
        return result

    def _write(self, batch: Batch) -> StoreResult:
        result = StoreResult()
        sids = batch.stations | batch.seen | {r.sid for r in batch.records}
        with Session(self.engine) as session, session.begin():
            self._ensure_stations(session, sids, batch.received_at)
            # The stations' rows first, in sid order: two batches of one station (two
            # processes, or a retry beside a fresh batch) queue here instead of locking its
            # guns, sessions and orders in opposite orders (docs/cloud.md "One lock order").
            lock_stations(session, sids)
            if batch.records:
                self._records(session, batch.records, batch.received_at, result)
            self._states(session, batch)
            self._replies(session, batch)
        self._known.update(batch.stations | batch.seen)
        return result

    def _write_one_by_one(self, batch: Batch) -> StoreResult:
        result = StoreResult()
        parts: list[Batch] = []
        for r in batch.records:
            parts.append(Batch(received_at=batch.received_at, records=[r], seen={r.sid}))
        for st in batch.states:
            parts.append(Batch(received_at=batch.received_at, states=[st], stations={st.sid}))
        for sid, tel in batch.telemetry.items():
            parts.append(Batch(received_at=batch.received_at, telemetry={sid: tel}, seen={sid}))
        for rep in batch.replies:
            parts.append(Batch(received_at=batch.received_at, replies=[rep], seen={rep.sid}))
        parts.append(Batch(received_at=batch.received_at, seen=set(batch.seen),
                           stations=set(batch.stations)))
        for part in parts:
            try:
                result.merge(self._write(part))
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001
                result.errors += 1
                why = _why(exc)
                if part.records:
                    self._write_unstorable(part.records[0], part.received_at, why, result)
                else:
                    log.warning("dropped a message the database refused: %s", why)
        return result

    def _write_unstorable(self, r: RecordIn, now: int, why: str, result: StoreResult) -> None:
        """Keep, under its seq, the fact that a record came and could not be stored."""
        evidence = {"seq": r.seq, "type": r.type, "unstorable": clean_text(repr(r.body), 2000)}
        row = {"sid": r.sid, "seq": r.seq, "type": r.type[:32], "ts": r.ts, "payload": evidence,
               "flagged": True, "flag_reason": "store_error", "flag_detail": why,
               "received_at": now}  # fmt: skip
        try:
            with Session(self.engine) as session, session.begin():
                self._known.discard(r.sid)
                self._ensure_stations(session, {r.sid}, now)
                got = insert_or_ignore(session, RAW, [row], returning=(RAW.c.sid, RAW.c.seq))
            result.inserted += len(got)
            result.flagged["store_error"] += len(got)
            if got:
                log.warning("record %s/%d kept flagged store_error: %s", r.sid, r.seq, why)
            else:
                result.repeated.add(r.sid)
        except OperationalError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.error("record %s/%d could not be kept at all (%s); the gateway will resend it",
                      r.sid, r.seq, clean_text(str(exc), 300))

    def _finish_acks(self, result: StoreResult, records: list[RecordIn]) -> None:
        top: dict[str, int] = {}
        for r in records:
            top[r.sid] = max(top.get(r.sid, 0), r.seq)
        marks = self.advance_acks(set(top))
        for sid, mark in marks.items():
            result.acks[sid] = min(mark, top[sid]) if sid in result.repeated else mark
        if result.conflicts:
            result.highs.update(self.high_seqs(set(result.conflicts)))
            for sid in result.conflicts:
                result.conflicts[sid] = sorted(set(result.conflicts[sid]))
        # a seq held with other content is not the gateway's record: its refusal is not its own
        for sid, seqs in result.conflicts.items():
            for seq in seqs:
                result.refused.get(sid, {}).pop(seq, None)
        for sid in [sid for sid, got in result.refused.items() if not got]:
            del result.refused[sid]

    def high_seqs(self, sids: set[str]) -> dict[str, int]:
        """The highest seq the cloud holds for each station (0 when none)."""
        return high_seqs(self.engine, sids)

    # --- stations ---------------------------------------------------------------------------------
    def _ensure_stations(self, session: Session, sids: set[str], now: int) -> None:
        new = sorted(sids - self._known)
        if not new:
            return
        insert_or_ignore(session, Station.__table__, [{"sid": s, "created_at": now} for s in new])
        insert_or_ignore(
            session, STATE, [{"sid": s, "online": False, "claimed_online": False} for s in new]
        )
        insert_or_ignore(session, SEQ, [{"sid": s, "acked_seq": 0, "updated_at": now} for s in new])

    # --- records ----------------------------------------------------------------------------------
    def _records(
        self, session: Session, records: list[RecordIn], now: int, result: StoreResult
    ) -> None:
        # One row per (sid, seq) within the batch too: the first copy wins, like the database.
        unique: dict[tuple[str, int], RecordIn] = {}
        for r in records:
            unique.setdefault((r.sid, r.seq), r)
        self.verifier.prefetch(
            session, {r.sid for r in unique.values() if r.type == "session_ended"}
        )
        for r in unique.values():
            if r.flag is None and r.type not in RECORD_TYPES:
                r.flag = "unknown_type"
            elif r.flag is None and r.type == "session_ended":
                r.flag = self.verifier.check(session, r.sid, r.body)
        rows = [
            {"sid": r.sid, "seq": r.seq, "type": r.type, "ts": r.ts, "payload": r.body,
             "flagged": r.flag is not None, "flag_reason": r.flag, "flag_detail": r.reason,
             "received_at": now}
            for r in unique.values()
        ]  # fmt: skip
        inserted = insert_or_ignore(session, RAW, rows, returning=(RAW.c.sid, RAW.c.seq))
        result.inserted += len(inserted)
        result.duplicates += len(records) - len(inserted)
        fresh = [unique[(sid, seq)] for sid, seq in inserted]
        fresh.sort(key=lambda r: (r.sid, r.seq))
        for r in fresh:
            if r.flag:
                result.flagged[r.flag] += 1
            if r.flag == "invalid" and _is_pairing(r):
                result.refused.setdefault(r.sid, {})[r.seq] = ("pairing_code", "invalid")
        if len(inserted) < len(records):
            self._compare_repeats(session, records, unique, set(inserted), now, result)
            stored = set(inserted)
            self._refused_before(session, [k for k in unique if k not in stored and _is_pairing(unique[k])], result)
        self._materialise(session, fresh, result)

    def _refused_before(self, session: Session, keys: list[tuple[str, int]], result: StoreResult) -> None:
        """Repeats of `pairing_code` records: a refusal the cloud made when it stored one (its
        audit entry, or the record kept flagged `invalid`) is told again, so that an ack lost
        to a restart between the commit and the ack is made good by the gateway's resend."""
        from cloud.audit.models import AuditEntry
        from cloud.sharing.pairing import REFUSED_AUDIT, gateway_refusal

        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for sid, seq, reason in session.execute(
                select(RAW.c.sid, RAW.c.seq, RAW.c.flag_reason).where(tuple_(RAW.c.sid, RAW.c.seq).in_(chunk))
            ):
                if reason == "invalid":
                    result.refused.setdefault(sid, {})[seq] = ("pairing_code", "invalid")
            targets = {f"record:{sid}/{seq}": (sid, seq) for sid, seq in chunk}
            for target, detail in session.execute(
                select(AuditEntry.target, AuditEntry.detail)
                .where(AuditEntry.target.in_(sorted(targets)), AuditEntry.action == REFUSED_AUDIT)
                .order_by(AuditEntry.id)
            ):
                sid, seq = targets[target]
                code = detail.get("reason") if isinstance(detail, dict) else None
                result.refused.setdefault(sid, {})[seq] = ("pairing_code", gateway_refusal(code))

    def _compare_repeats(
        self,
        session: Session,
        records: list[RecordIn],
        unique: dict[tuple[str, int], RecordIn],
        inserted: set[tuple[str, int]],
        now: int,
        result: StoreResult,
    ) -> None:
        """A (sid, seq) seen before: same content (without `signature`) is a plain duplicate;
        other content is a seq conflict, kept as evidence and reported to the gateway."""
        held: dict[tuple[str, int], Any] = {
            k: _content(r.body) for k, r in unique.items() if k in inserted
        }
        old = [k for k in unique if k not in inserted]
        for i in range(0, len(old), 500):
            chunk = old[i : i + 500]
            for sid, seq, payload, reason in session.execute(
                select(RAW.c.sid, RAW.c.seq, RAW.c.payload, RAW.c.flag_reason).where(
                    tuple_(RAW.c.sid, RAW.c.seq).in_(chunk)
                )
            ):
                # What could not be stored cannot be compared: a repeat of it is a duplicate.
                held[(sid, seq)] = None if reason == "store_error" else _content(payload)
        evidence = []
        seen_copy: set[int] = set()
        for r in records:
            key = (r.sid, r.seq)
            if key in inserted and id(r) == id(unique[key]):
                continue
            result.repeated.add(r.sid)  # a repeat, of a record stored before or in this batch
            mine = held.get(key)
            if mine is None or id(r) in seen_copy or r.type in PLACEHOLDERS or _content(r.body) == mine:
                continue
            seen_copy.add(id(r))
            result.conflicts.setdefault(r.sid, []).append(r.seq)
            evidence.append({"sid": r.sid, "seq": r.seq, "type": r.type, "payload": r.body,
                             "received_at": now})  # fmt: skip
        if evidence:
            session.execute(SeqConflict.__table__.insert(), evidence)
            log.warning(
                "seq conflict: %s",
                ", ".join(f"{e['sid']}/{e['seq']}" for e in evidence[:10]),
            )

    def _materialise(self, session: Session, records: list[RecordIn], result: StoreResult) -> None:
        by_type: dict[str, list[RecordIn]] = {}
        for r in records:
            if r.flag is None or r.flag in SIGNATURE_FLAGS:
                by_type.setdefault(r.type, []).append(r)
        started = by_type.get("session_started", [])
        ended = by_type.get("session_ended", [])
        # An end that failed validation still names its session: show that session abnormal.
        broken = [
            r for r in records
            if r.type == "session_ended" and r.flag == "invalid"
            and isinstance(r.body.get("session_id"), str) and UUID_RE.fullmatch(r.body["session_id"])
        ]  # fmt: skip
        # Only the newest progress of a session can win (progress moves forward by seq).
        newest: dict[tuple[str, str], RecordIn] = {}
        for r in by_type.get("session_progress", []):
            newest[(r.sid, r.body["session_id"])] = r  # records are sorted by (sid, seq)
        progress = list(newest.values())
        skeletons = {(r.sid, r.body["session_id"]) for r in (*started, *progress, *ended, *broken)}
        if skeletons:
            insert_or_ignore(
                session,
                SESSIONS,
                [
                    {"session_id": sess, "sid": sid, "status": "running"}
                    for sid, sess in sorted(skeletons)
                ],
            )
        if started:
            self._guns(session, [(r.sid, r.body["gun"]) for r in started])
            session.execute(
                update(SESSIONS)
                .where(SESSIONS.c.session_id == bindparam("b_id"), SESSIONS.c.sid == bindparam("b_sid"))
                .values(
                    gun=bindparam("gun"), order_id=bindparam("order_id"), auth=bindparam("auth"),
                    energy_start_wh=bindparam("energy_start_wh"), limit_mode=bindparam("limit_mode"),
                    limit_value=bindparam("limit_value"), power_cap_w=bindparam("power_cap_w"),
                    started_at=bindparam("b_ts"), started_seq=bindparam("b_seq"),
                    energy_wh=func.coalesce(SESSIONS.c.energy_wh, bindparam("energy_start_wh")),
                    # a newer record's plan wins (records may come in any order)
                    orderly=func.coalesce(SESSIONS.c.orderly, bindparam("orderly", type_=_ORDERLY)),
                ),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid, "gun": r.body["gun"], "order_id": r.body["order_id"],
                     "auth": r.body["auth"], "energy_start_wh": r.body["energy_start_wh"],
                     "limit_mode": r.body["limit"]["mode"], "limit_value": r.body["limit"]["value"],
                     "power_cap_w": r.body["power_cap_w"], "b_ts": r.ts, "b_seq": r.seq,
                     "orderly": r.body.get("orderly")}
                    for r in started
                ],
            )  # fmt: skip
        if progress:
            session.execute(
                update(SESSIONS)
                .where(
                    SESSIONS.c.session_id == bindparam("b_id"),
                    SESSIONS.c.sid == bindparam("b_sid"),
                    SESSIONS.c.ended_seq.is_(None),  # the end has the final figures
                    or_(SESSIONS.c.progress_seq.is_(None), SESSIONS.c.progress_seq < bindparam("b_seq")),
                )
                .values(
                    energy_wh=bindparam("energy_wh"), power_w=bindparam("power_w"), voltage_v=bindparam("voltage_v"),
                    current_a=bindparam("current_a"), soc=bindparam("soc"), cost_fen=bindparam("cost_fen"),
                    progress_seq=bindparam("b_seq"),
                    orderly=func.coalesce(bindparam("orderly", type_=_ORDERLY), SESSIONS.c.orderly),
                ),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid, "b_seq": r.seq, "energy_wh": r.body["energy_wh"],
                     "power_w": r.body["power_w"], "voltage_v": r.body["voltage_v"], "current_a": r.body["current_a"],
                     "soc": r.body["soc"], "cost_fen": r.body["cost_fen"], "orderly": r.body.get("orderly")}
                    for r in progress
                ],
            )  # fmt: skip
        good = [r for r in ended if r.flag is None]
        bad = [r for r in ended if r.flag is not None]
        no_good_end = SESSIONS.c.signature_ok.is_not(True)
        if good:
            # The first good end (lowest seq) wins: a renumbered copy from a restored store,
            # or any subsequent end, never counts the session a second time.
            self._end_sessions(session, good, or_(no_good_end, SESSIONS.c.ended_seq > bindparam("b_seq")))
        if bad:
            # Shown abnormal, never over a good end.
            self._end_sessions(session, bad, no_good_end)
        if broken:
            session.execute(
                update(SESSIONS)
                .where(SESSIONS.c.session_id == bindparam("b_id"), SESSIONS.c.sid == bindparam("b_sid"), no_good_end)
                .values(status="abnormal", signature_ok=False, end_problem=bindparam("problem")),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid,
                     "problem": clean_text(f"invalid session_ended (seq {r.seq}): {r.reason or 'invalid'}")}
                    for r in broken
                ],
            )  # fmt: skip
        if skeletons:
            from cloud.charging import progress

            progress.mark_sessions(session, [sess for _, sess in skeletons])
        events = by_type.get("event", [])
        if events:
            insert_or_ignore(
                session,
                StationEvent.__table__,
                [
                    {
                        "sid": r.sid,
                        "seq": r.seq,
                        "ts": r.ts,
                        "kind": r.body["kind"],
                        "gun": r.body["gun"],
                        "detail": r.body["detail"],
                    }
                    for r in events
                ],
            )
            self._alarms(session, events)
            self._pairing(session, [r for r in events if r.body["kind"] == "pairing_code"], result)
        minutes = by_type.get("meter_minute", [])
        if minutes:
            insert_or_ignore(
                session,
                MeterMinuteRow.__table__,
                [
                    {"sid": r.sid, "seq": r.seq, "ts": r.ts, "p_avg_w": r.body["p_avg_w"], "p_max_w": r.body["p_max_w"],
                     "load_pct_max": r.body["load_pct_max"], "energy_import_wh": r.body["energy_import_wh"]}
                    for r in minutes
                ],
            )  # fmt: skip
        self._billing(session, records)

    # --- billing ----------------------------------------------------------------------------------
    def _billing(self, session: Session, records: list[RecordIn]) -> None:
        """Orders move with their session's records, in the batch's transaction. Billing's
        work on each record runs in a savepoint: should it raise, its writes are undone, the
        order (if any) is marked abnormal with the error, and the record is stored all the
        same: ingest never stops on billing."""
        from cloud.billing import service as billing

        todo = [
            r for r in records
            if r.type in billing.RECORD_TYPES
            and (r.flag is None or r.flag in SIGNATURE_FLAGS or (r.type == "session_ended" and r.flag == "invalid"))
        ]  # fmt: skip
        if not todo:
            return
        # One look-up for the batch: most session records are of cards and pile starts (or
        # name no order ingest knows), and a savepoint with two reads for each cost ingest
        # three quarters of its time (bench/RESULTS.md, ingest).
        ids = {r.body["session_id"] for r in todo if isinstance(r.body.get("session_id"), str)}
        movable = billing.sessions_with_orders(session, ids) if ids else set()
        for r in todo:
            if r.body.get("session_id") not in movable:
                continue
            body = {**r.body, "type": r.type, "seq": r.seq, "ts": r.ts}
            try:
                with session.begin_nested():
                    billing.on_record(session, r.sid, body)
            except OperationalError:
                raise
            except Exception as exc:  # noqa: BLE001 - one record never stops ingest
                log.exception("billing failed on %s/%d (%s); its order goes abnormal", r.sid, r.seq, r.type)
                try:
                    with session.begin_nested():
                        billing.fail_safe(session, r.sid, body, _why(exc))
                except OperationalError:
                    raise
                except Exception:  # noqa: BLE001
                    log.exception("could not mark the order of %s/%d abnormal", r.sid, r.seq)

    def _end_sessions(self, session: Session, ends: list[RecordIn], allowed: Any) -> None:
        session.execute(
            update(SESSIONS)
            .where(SESSIONS.c.session_id == bindparam("b_id"), SESSIONS.c.sid == bindparam("b_sid"), allowed)
            .values(
                status=bindparam("b_status"), end_problem=bindparam("problem"),
                energy_stop_wh=bindparam("energy_stop_wh"), energy_wh=bindparam("energy_stop_wh"),
                ended_at=bindparam("ended_at"), stop_reason=bindparam("stop_reason"), cost_fen=bindparam("cost_fen"),
                power_w=0, ended_seq=bindparam("b_seq"), signature_ok=bindparam("signature_ok"),
                started_at=func.coalesce(SESSIONS.c.started_at, bindparam("started_at")),
                energy_start_wh=func.coalesce(SESSIONS.c.energy_start_wh, bindparam("energy_start_wh")),
                gun=func.coalesce(SESSIONS.c.gun, bindparam("gun")),
                orderly=func.coalesce(bindparam("orderly", type_=_ORDERLY), SESSIONS.c.orderly),
            ),
            [
                {"b_id": r.body["session_id"], "b_sid": r.sid, "b_seq": r.seq,
                 "b_status": "ended" if r.flag is None else "abnormal",
                 "problem": None if r.flag is None else f"{r.flag} (seq {r.seq})",
                 "energy_stop_wh": r.body["energy_stop_wh"], "ended_at": r.body["ended_at"],
                 "stop_reason": r.body["stop_reason"], "cost_fen": r.body["cost_fen"],
                 "signature_ok": r.flag is None, "started_at": r.body["started_at"],
                 "energy_start_wh": r.body["energy_start_wh"], "gun": r.body.get("gun"),
                 "orderly": r.body.get("orderly") if r.flag is None else None}
                for r in ends
            ],
        )  # fmt: skip

    def _guns(self, session: Session, guns: Iterable[tuple[str, str]]) -> None:
        pairs = sorted(set(guns))
        insert_or_ignore(
            session,
            Pile.__table__,
            [{"sid": s, "pile_id": g.rsplit("-", 1)[0], "created_at": _now_ms()} for s, g in pairs],
        )
        insert_or_ignore(
            session,
            Gun.__table__,
            [{"sid": s, "gun_id": g, "pile_id": g.rsplit("-", 1)[0]} for s, g in pairs],
        )

    # --- alarms ---------------------------------------------------------------------------------
    def _alarms(self, session: Session, events: list[RecordIn]) -> None:
        """Events raise and clear alarms in the batch's transaction; cloud.alarms isolates each
        in a savepoint and logs what fails: ingest never stops on alarms."""
        from cloud.alarms.service import EventIn, apply_events

        try:
            apply_events(session, [EventIn(r.sid, r.seq, r.ts, r.body["kind"], r.body["gun"], r.body["detail"])
                                   for r in events])
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - one place where alarms could fail: log and go on
            log.exception("alarms not applied for %d event(s)", len(events))

    # --- pairing codes made at the pile ------------------------------------------------------
    def _pairing(self, session: Session, events: list[RecordIn], result: StoreResult) -> None:
        """A gateway's `pairing_code` event makes the gun's pairing code (cloud.sharing.pairing).
        A refused one (malformed detail, unknown gun, expiry past or too far) is logged and
        audited with its reason (the audit entry is what a repeat of the record finds again),
        and the station's next ack says so (`refused`); the record stays stored as it came.
        Each in a savepoint: ingest never stops on one."""
        from cloud.audit import service as audit
        from cloud.sharing import pairing
        from cloud.sharing.service import SharingError

        for r in events:
            try:
                with session.begin_nested():
                    pairing.from_gateway(session, r.sid, r.body["gun"], r.body["detail"], seq=r.seq)
            except OperationalError:
                raise
            except SharingError as e:
                log.warning("pairing code of %s/%d refused: %s (%s)", r.sid, r.seq, e.code, e)
                result.refused.setdefault(r.sid, {})[r.seq] = ("pairing_code", pairing.gateway_refusal(e.code))
                try:
                    with session.begin_nested():
                        audit.record(session, pairing.gateway_actor(r.sid), pairing.REFUSED_AUDIT,
                                     f"record:{r.sid}/{r.seq}",
                                     {"reason": e.code, "message": clean_text(str(e), 300), "sid": r.sid})
                except OperationalError:
                    raise
                except Exception:  # noqa: BLE001
                    log.exception("could not audit the refused pairing code of %s/%d", r.sid, r.seq)
            except Exception:  # noqa: BLE001 - one record never stops ingest
                log.exception("pairing code of %s/%d not applied", r.sid, r.seq)

    # --- live state ---------------------------------------------------------------------------------
    def _states(self, session: Session, batch: Batch) -> None:
        if batch.states:
            shown = and_(
                bindparam("b_online"),
                or_(bindparam("b_live"), func.coalesce(STATE.c.last_seen, 0) >= bindparam("b_fresh")),
            )
            # Newer connection wins; for the same connection, offline (the will) beats online,
            # and a repeated state of the same connection refreshes fw and cfg_rev.
            session.execute(
                update(STATE)
                .where(
                    STATE.c.sid == bindparam("b_sid"),
                    or_(
                        STATE.c.state_ts.is_(None),
                        STATE.c.state_ts < bindparam("b_ts"),
                        and_(
                            STATE.c.state_ts == bindparam("b_ts"),
                            STATE.c.claimed_online.is_(True),
                            bindparam("b_online").is_(False),
                        ),
                        and_(
                            STATE.c.state_ts == bindparam("b_ts"),
                            STATE.c.claimed_online == bindparam("b_online"),
                        ),
                    ),
                )
                .values(
                    # A retained copy (every ingest restart gets it again) shows a station
                    # online only if it was heard from within the liveness timeout.
                    online=shown,
                    claimed_online=bindparam("b_online"),
                    offline_reason=case(
                        (shown, None), (bindparam("b_online"), "timeout"), else_="will"
                    ),
                    state_ts=bindparam("b_ts"),
                    fw=bindparam("fw"),
                    cfg_rev=bindparam("cfg_rev"),
                ),
                [
                    {
                        "b_sid": s.sid,
                        "b_ts": s.ts,
                        "b_online": s.online,
                        "b_live": not s.retained,
                        "b_fresh": batch.received_at - self.offline_after_ms,
                        "fw": s.fw,
                        "cfg_rev": s.cfg_rev,
                    }
                    for s in batch.states
                ],
            )
        if batch.telemetry:
            session.execute(
                update(STATE)
                .where(
                    STATE.c.sid == bindparam("b_sid"),
                    or_(STATE.c.telemetry_ts.is_(None), STATE.c.telemetry_ts < bindparam("b_ts")),
                )
                .values(telemetry=bindparam("telemetry"), telemetry_ts=bindparam("b_ts")),
                [
                    {"b_sid": sid, "b_ts": ts, "telemetry": t}
                    for sid, (ts, t) in sorted(batch.telemetry.items())
                ],
            )
            self._gun_states(session, batch)
            from cloud.charging import progress

            progress.mark_live(session, batch.telemetry)  # what the charging orders there show
        if batch.seen:
            session.execute(
                update(STATE)
                .where(
                    STATE.c.sid == bindparam("b_sid"),
                    or_(STATE.c.last_seen.is_(None), STATE.c.last_seen < bindparam("b_now")),
                )
                # Alive again after a liveness timeout: online as its last state said.
                .values(
                    last_seen=bindparam("b_now"),
                    online=STATE.c.claimed_online,
                    offline_reason=case((STATE.c.claimed_online, None), else_=STATE.c.offline_reason),
                ),
                [{"b_sid": sid, "b_now": batch.received_at} for sid in sorted(batch.seen)],
            )

    def _gun_states(self, session: Session, batch: Batch) -> None:
        # the guns' rows in (sid, gun) order, whatever order the gateway sent them in
        rows = sorted(
            ((sid, g["id"], g["state"], ts) for sid, (ts, t) in batch.telemetry.items() for g in t["guns"]),
            key=lambda row: (row[0], row[1]),
        )
        if not rows:
            return
        self._guns(session, [(sid, gid) for sid, gid, _, _ in rows])
        guns = Gun.__table__
        session.execute(
            update(guns)
            .where(
                guns.c.sid == bindparam("b_sid"),
                guns.c.gun_id == bindparam("b_gun"),
                or_(guns.c.state_ts.is_(None), guns.c.state_ts < bindparam("b_ts")),
            )
            .values(state=bindparam("b_state"), state_ts=bindparam("b_ts")),
            [{"b_sid": sid, "b_gun": gid, "b_state": st, "b_ts": ts} for sid, gid, st, ts in rows],
        )

    def _replies(self, session: Session, batch: Batch) -> None:
        if not batch.replies:
            return
        cmds = CommandLog.__table__
        session.execute(
            update(cmds)
            .where(
                cmds.c.id == bindparam("b_id"),
                cmds.c.sid == bindparam("b_sid"),
                cmds.c.replied_at.is_(None),
            )
            .values(
                status="replied",
                ok=bindparam("ok"),
                error=bindparam("error"),
                detail=bindparam("detail"),
                replied_at=bindparam("b_now"),
            ),
            [
                {
                    "b_id": r.id,
                    "b_sid": r.sid,
                    "ok": r.ok,
                    "error": r.error,
                    "detail": r.detail,
                    "b_now": batch.received_at,
                }
                for r in batch.replies
            ],
        )

    # --- acknowledgements -----------------------------------------------------------------------------
    def advance_acks(self, sids: set[str]) -> dict[str, int]:
        """Move each station's contiguous high-water mark as far as the stored records allow.

        Runs after the batch committed, in its own transaction, reading what every process has
        committed: the last committer always sees all, so acks never stay behind for good.
        """
        if not sids:
            return {}
        wanted = sorted(sids)
        # Gaps and islands: past the mark, seq - mark - row_number() is 0 exactly on the
        # contiguous run that starts right after the mark.
        rn = func.row_number().over(partition_by=RAW.c.sid, order_by=RAW.c.seq)
        past = (
            select(RAW.c.sid, RAW.c.seq, (RAW.c.seq - SEQ.c.acked_seq - rn).label("off"))
            .join(SEQ, SEQ.c.sid == RAW.c.sid)
            .where(RAW.c.sid.in_(wanted), RAW.c.seq > SEQ.c.acked_seq)
            .subquery()
        )
        run_end = (
            select(past.c.sid, func.max(past.c.seq)).where(past.c.off == 0).group_by(past.c.sid)
        )
        with Session(self.engine) as session, session.begin():
            marks = dict(
                session.execute(
                    select(SEQ.c.sid, SEQ.c.acked_seq).where(SEQ.c.sid.in_(wanted))
                ).all()
            )
            moved = {sid: int(end) for sid, end in session.execute(run_end).all()}
            if moved:
                session.execute(
                    update(SEQ)
                    .where(SEQ.c.sid == bindparam("b_sid"), SEQ.c.acked_seq < bindparam("b_seq"))
                    .values(
                        acked_seq=bindparam("b_seq"), updated_at=literal_column(str(_now_ms()))
                    ),
                    [{"b_sid": sid, "b_seq": seq} for sid, seq in sorted(moved.items())],
                )
        return {sid: max(int(marks.get(sid, 0)), moved.get(sid, 0)) for sid in wanted}


# A gateway covers seqs it can no longer read (`lost`) or had to drop unsent (`pruned`) with
# these at the same seq: when the cloud holds that seq, its copy is the record, not a conflict.
PLACEHOLDERS = frozenset({"lost", "pruned"})
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _is_pairing(r: RecordIn) -> bool:
    return r.type == "event" and isinstance(r.body, dict) and r.body.get("kind") == "pairing_code"


def _why(exc: BaseException) -> str:
    """The database's complaint in one line (the driver's message, not the whole SQL)."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return clean_text(f"{type(inner).__name__}: {first}", 500)


def _content(payload: Any) -> bytes:
    """What two copies of a record must share to be the same record: all but `signature`."""
    if not isinstance(payload, dict):
        return canonical_json(payload)
    return canonical_json({k: v for k, v in payload.items() if k != "signature"})


def high_seqs(engine: Engine, sids: set[str]) -> dict[str, int]:
    """The highest seq the cloud holds for each station (0 when none)."""
    if not sids:
        return {}
    with engine.connect() as conn:
        got = dict(
            conn.execute(
                select(RAW.c.sid, func.max(RAW.c.seq)).where(RAW.c.sid.in_(sorted(sids))).group_by(RAW.c.sid)
            ).all()
        )
    return {sid: int(got.get(sid) or 0) for sid in sids}


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def sweep_liveness(engine: Engine, now_ms: int, timeout_s: float) -> list[str]:
    """Stations shown online that sent nothing for `timeout_s`: offline (reason `timeout`).

    The will covers a connection that breaks; this covers one that ends without it (a clean
    DISCONNECT, a broker restart that lost the session, a half-open TCP connection)."""
    limit = now_ms - int(timeout_s * 1000)
    stale = STATE.c.online.is_(True) & (STATE.c.last_seen.is_(None) | (STATE.c.last_seen < limit))
    # The stations' rows first, as every writer (cloud/db.py lock_stations); one an ingest
    # transaction holds is being heard from: skipped, not waited for.
    stations = Station.__table__
    with Session(engine) as session, session.begin():
        sids = list(
            session.scalars(
                select(STATE.c.sid)
                .join(stations, stations.c.sid == STATE.c.sid)
                .where(stale)
                .order_by(STATE.c.sid)
                .with_for_update(of=stations, key_share=True, skip_locked=True)
            )
        )
        if sids:
            session.execute(
                update(STATE).where(STATE.c.sid.in_(sids), stale).values(online=False, offline_reason="timeout")
            )
    return sids


def table_counts(engine: Engine) -> dict[str, Any]:
    """Row counts of the ingest tables (for tests and the bench)."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (RAW, SESSIONS, StationEvent.__table__, MeterMinuteRow.__table__)
        }
