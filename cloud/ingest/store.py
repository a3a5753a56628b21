"""One batch, one transaction: records idempotently by (sid, seq), what they mean, live state.

Materialisation is written so that records may arrive in any order and more than once, and
two ingest processes may work on the same station at the same time: each record type owns
its columns of a session, progress only moves forward by seq, and stops once the session has
ended. Acknowledgements are computed after the commit, from the database, so that every
process agrees on the contiguous high-water mark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore
from cloud.ingest.decode import Batch, RecordIn
from cloud.ingest.signatures import SIGNATURE_FLAGS, SignatureVerifier
from cloud.models import (
    ChargingSession,
    CommandLog,
    Gun,
    MeterMinuteRow,
    Pile,
    RawRecord,
    Station,
    StationEvent,
    StationSeq,
    StationState,
)
from jcproto import RECORD_TYPES

RAW = RawRecord.__table__
SESSIONS = ChargingSession.__table__
STATE = StationState.__table__
SEQ = StationSeq.__table__


@dataclass
class StoreResult:
    inserted: int = 0
    duplicates: int = 0
    flagged: Counter[str] = field(default_factory=Counter)
    acks: dict[str, int] = field(default_factory=dict)  # sid -> contiguous high-water


class Store:
    def __init__(self, engine: Engine, verifier: SignatureVerifier | None = None) -> None:
        self.engine = engine
        self.verifier = verifier or SignatureVerifier()
        self._known: set[str] = set()  # sids whose station rows exist (saves an insert per batch)

    def write(self, batch: Batch) -> StoreResult:
        result = StoreResult()
        with Session(self.engine) as session, session.begin():
            self._ensure_stations(
                session, batch.seen | {r.sid for r in batch.records}, batch.received_at
            )
            if batch.records:
                self._records(session, batch.records, batch.received_at, result)
            self._states(session, batch)
            self._replies(session, batch)
        self._known.update(batch.seen)
        if batch.records:
            result.acks = self.advance_acks({r.sid for r in batch.records})
        return result

    # --- stations ---------------------------------------------------------------------------------
    def _ensure_stations(self, session: Session, sids: set[str], now: int) -> None:
        new = sorted(sids - self._known)
        if not new:
            return
        insert_or_ignore(session, Station.__table__, [{"sid": s, "created_at": now} for s in new])
        insert_or_ignore(session, STATE, [{"sid": s, "online": False} for s in new])
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
             "flagged": r.flag is not None, "flag_reason": r.flag, "received_at": now}
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
        self._materialise(session, fresh)

    def _materialise(self, session: Session, records: list[RecordIn]) -> None:
        by_type: dict[str, list[RecordIn]] = {}
        for r in records:
            if r.flag is None or r.flag in SIGNATURE_FLAGS:
                by_type.setdefault(r.type, []).append(r)
        started = by_type.get("session_started", [])
        ended = by_type.get("session_ended", [])
        # Only the newest progress of a session can win (progress moves forward by seq).
        newest: dict[tuple[str, str], RecordIn] = {}
        for r in by_type.get("session_progress", []):
            newest[(r.sid, r.body["session_id"])] = r  # records are sorted by (sid, seq)
        progress = list(newest.values())
        skeletons = {(r.sid, r.body["session_id"]) for r in (*started, *progress, *ended)}
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
                ),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid, "gun": r.body["gun"], "order_id": r.body["order_id"],
                     "auth": r.body["auth"], "energy_start_wh": r.body["energy_start_wh"],
                     "limit_mode": r.body["limit"]["mode"], "limit_value": r.body["limit"]["value"],
                     "power_cap_w": r.body["power_cap_w"], "b_ts": r.ts, "b_seq": r.seq}
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
                ),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid, "b_seq": r.seq, "energy_wh": r.body["energy_wh"],
                     "power_w": r.body["power_w"], "voltage_v": r.body["voltage_v"], "current_a": r.body["current_a"],
                     "soc": r.body["soc"], "cost_fen": r.body["cost_fen"]}
                    for r in progress
                ],
            )  # fmt: skip
        if ended:
            session.execute(
                update(SESSIONS)
                .where(SESSIONS.c.session_id == bindparam("b_id"), SESSIONS.c.sid == bindparam("b_sid"))
                .values(
                    status="ended", energy_stop_wh=bindparam("energy_stop_wh"), energy_wh=bindparam("energy_stop_wh"),
                    ended_at=bindparam("ended_at"), stop_reason=bindparam("stop_reason"), cost_fen=bindparam("cost_fen"),
                    power_w=0, ended_seq=bindparam("b_seq"), signature_ok=bindparam("signature_ok"),
                    started_at=func.coalesce(SESSIONS.c.started_at, bindparam("started_at")),
                    energy_start_wh=func.coalesce(SESSIONS.c.energy_start_wh, bindparam("energy_start_wh")),
                    gun=func.coalesce(SESSIONS.c.gun, bindparam("gun")),
                ),
                [
                    {"b_id": r.body["session_id"], "b_sid": r.sid, "b_seq": r.seq,
                     "energy_stop_wh": r.body["energy_stop_wh"], "ended_at": r.body["ended_at"],
                     "stop_reason": r.body["stop_reason"], "cost_fen": r.body["cost_fen"],
                     "signature_ok": r.flag is None, "started_at": r.body["started_at"],
                     "energy_start_wh": r.body["energy_start_wh"], "gun": r.body.get("gun")}
                    for r in ended
                ],
            )  # fmt: skip
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

    # --- live state ---------------------------------------------------------------------------------
    def _states(self, session: Session, batch: Batch) -> None:
        if batch.states:
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
                            STATE.c.online.is_(True),
                            bindparam("b_online").is_(False),
                        ),
                        and_(
                            STATE.c.state_ts == bindparam("b_ts"),
                            STATE.c.online == bindparam("b_online"),
                        ),
                    ),
                )
                .values(
                    online=bindparam("b_online"),
                    state_ts=bindparam("b_ts"),
                    fw=bindparam("fw"),
                    cfg_rev=bindparam("cfg_rev"),
                ),
                [
                    {
                        "b_sid": s.sid,
                        "b_ts": s.ts,
                        "b_online": s.online,
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
        if batch.seen:
            session.execute(
                update(STATE)
                .where(
                    STATE.c.sid == bindparam("b_sid"),
                    or_(STATE.c.last_seen.is_(None), STATE.c.last_seen < bindparam("b_now")),
                )
                .values(last_seen=bindparam("b_now")),
                [{"b_sid": sid, "b_now": batch.received_at} for sid in sorted(batch.seen)],
            )

    def _gun_states(self, session: Session, batch: Batch) -> None:
        rows = [
            (sid, g["id"], g["state"], ts)
            for sid, (ts, t) in sorted(batch.telemetry.items())
            for g in t["guns"]
        ]
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


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)


def table_counts(engine: Engine) -> dict[str, Any]:
    """Row counts of the ingest tables (for tests and the bench)."""
    with engine.connect() as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (RAW, SESSIONS, StationEvent.__table__, MeterMinuteRow.__table__)
        }
