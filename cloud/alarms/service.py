"""Alarms: applied from station records, the gateway's alarm list and liveness; listed with
filters and pages under an owner scope; acknowledged with a note. Plain functions on a
Session (no Flask request objects); the caller commits."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from cloud.alarms.models import Alarm, AlarmEvidence, AlarmRecipient
from cloud.alarms.rules import (
    KIND_SEVERITY,
    ONE_SHOT,
    SEVERITIES,
    Action,
    gateway_severity,
    judge_event,
    rank,
)
from cloud.models import StationEvent, StationState, now_ms

log = logging.getLogger("jc.alarms")

MAX_PER_PAGE = 200
NOTE_MAX = 500
PHONE_RE = re.compile(r"(?:\+?86)?(1\d{10})")


class AlarmError(Exception):
    """A request the alarms service refuses: `code` is stable, the message says why;
    MESSAGES has what to show people for each code (zh-CN, English)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


MESSAGES = {
    "alarm_not_found": ("告警不存在", "No such alarm"),
    "alarm_already_acknowledged": ("该告警已确认", "This alarm was acknowledged already"),
    "note_too_long": (f"备注最多 {NOTE_MAX} 个字符", f"A note has at most {NOTE_MAX} characters"),
    "bad_actor": ("缺少确认人", "An acknowledgement names who made it"),
    "bad_filter": ("筛选条件无效", "Invalid filter"),
    "bad_phone": ("手机号无效（11 位中国大陆手机号）", "Not a mainland China mobile number (11 digits)"),
    "station_not_found": ("站点不存在", "No such station"),
}


@dataclass(frozen=True)
class EventIn:
    """One `event` record as ingest stored it (its id is (sid, seq))."""

    sid: str
    seq: int
    ts: int
    kind: str
    gun: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int


# --- applying what stations send -------------------------------------------------------------
def apply_events(s: Session, events: Iterable[EventIn]) -> int:
    """Apply `event` records to the alarms, each in a savepoint: idempotent by (sid, seq), in
    any order. A record that makes this raise is logged and skipped; only a database that is
    away (OperationalError) is raised, so ingest goes on. Returns how many changed an alarm."""
    changed = 0
    for e in sorted(events, key=lambda e: (e.sid, e.seq)):
        try:
            # Most events (gun_state, …) mean no alarm: decided before any database work.
            action = judge_event(e.kind, e.gun, e.detail)
            if action is None:
                continue
            try:
                with s.begin_nested():
                    changed += _apply_event(s, e, action)
            except IntegrityError:
                # Another process opened the same alarm meanwhile: apply again against its row.
                with s.begin_nested():
                    changed += _apply_event(s, e, action)
        except OperationalError:
            raise
        except Exception:  # noqa: BLE001 - an alarm never stops ingest
            log.exception("alarm from %s/%d (%s) not applied", e.sid, e.seq, e.kind)
    return changed


def events_from_store(s: Session, sid: str, since_seq: int = 0) -> list[EventIn]:
    """A station's stored `events` rows as EventIn (to apply again what was stored before)."""
    rows = s.scalars(
        select(StationEvent).where(StationEvent.sid == sid, StationEvent.seq > since_seq)
        .order_by(StationEvent.seq)
    )
    return [EventIn(r.sid, r.seq, r.ts, r.kind, r.gun, r.detail or {}) for r in rows]


def _apply_event(s: Session, e: EventIn, action: Action) -> int:
    if s.get(AlarmEvidence, (e.sid, e.seq)) is not None:
        return 0  # applied before
    if action.op == "raise":
        _raise(s, e, action)
    else:
        _clear(s, e, action)
    return 1


def _open(s: Session, sid: str, key: str) -> Alarm | None:
    return s.scalars(select(Alarm).where(Alarm.sid == sid, Alarm.key == key, Alarm.cleared_at.is_(None))).first()


def _raise(s: Session, e: EventIn, a: Action) -> None:
    open_ = _open(s, e.sid, a.key)
    if open_ is not None and (a.kind in ONE_SHOT or open_.raise_seq is None or open_.raise_seq <= e.seq
                              or open_.source != "event"):
        _repeat(s, open_, e, a)
        return
    # A clear of this key that came first and follows this raise closes the new alarm at once.
    waiting = s.scalars(
        select(AlarmEvidence).where(AlarmEvidence.sid == e.sid, AlarmEvidence.key == a.key,
                                    AlarmEvidence.alarm_id.is_(None), AlarmEvidence.seq > e.seq)
        .order_by(AlarmEvidence.seq).limit(1)
    ).first()
    if open_ is not None and waiting is None:
        # An older raise arriving after a newer one: the same occurrence, raised earlier.
        _repeat(s, open_, e, a)
        open_.raised_at, open_.raise_seq = min(open_.raised_at, e.ts), e.seq
        return
    now = now_ms()
    alarm = Alarm(
        sid=e.sid, key=a.key, kind=a.kind, source="event", gun=a.gun, severity=a.severity,
        message=a.message, detail=_detail(a), count=1, raised_at=e.ts, raise_seq=e.seq,
        cleared_at=waiting.ts if waiting is not None else None,
        clear_seq=waiting.seq if waiting is not None else None, notified_rank=0,
        created_at=now, updated_at=now,
    )  # fmt: skip
    s.add(alarm)
    s.flush()
    s.add(AlarmEvidence(sid=e.sid, seq=e.seq, key=a.key, alarm_id=alarm.id, role="raise", ts=e.ts))
    if waiting is not None:
        waiting.alarm_id = alarm.id
    s.flush()


def _repeat(s: Session, alarm: Alarm, e: EventIn, a: Action) -> None:
    alarm.count += 1
    if rank(a.severity) > rank(alarm.severity):
        alarm.severity = a.severity  # an alarm shows the highest severity it reached
    if a.message:
        alarm.message = a.message
    if a.kind == "fault":
        alarm.detail = {**(alarm.detail or {}), **a.detail,
                        "faults": sorted(set(_faults(alarm.detail)) | set(_faults(a.detail)))}
    else:
        alarm.detail = _detail(a)
    alarm.updated_at = now_ms()
    s.add(AlarmEvidence(sid=e.sid, seq=e.seq, key=a.key, alarm_id=alarm.id, role="repeat", ts=e.ts))
    s.flush()


def _clear(s: Session, e: EventIn, a: Action) -> None:
    alarm = _open(s, e.sid, a.key)
    if alarm is not None and alarm.raise_seq is not None and alarm.raise_seq < e.seq:
        if a.kind == "fault" and _faults(a.detail):
            left = sorted(set(_faults(alarm.detail)) - set(_faults(a.detail)))
            if left:  # some of the gun's faults remain: the alarm stays raised
                alarm.detail = {**(alarm.detail or {}), "faults": left}
                alarm.message = "faults: " + ", ".join(left)
                alarm.updated_at = now_ms()
                s.add(AlarmEvidence(sid=e.sid, seq=e.seq, key=a.key, alarm_id=alarm.id, role="repeat", ts=e.ts))
                s.flush()
                return
        alarm.cleared_at, alarm.clear_seq, alarm.updated_at = e.ts, e.seq, now_ms()
        s.add(AlarmEvidence(sid=e.sid, seq=e.seq, key=a.key, alarm_id=alarm.id, role="clear", ts=e.ts))
        s.flush()
        return
    # Nothing raised before it (yet): keep it waiting for the raise it belongs to.
    s.add(AlarmEvidence(sid=e.sid, seq=e.seq, key=a.key, alarm_id=None, role="clear", ts=e.ts))
    s.flush()


def _faults(detail: Any) -> list[str]:
    faults = detail.get("faults") if isinstance(detail, dict) else None
    return [str(f) for f in faults] if isinstance(faults, list) else []


def _detail(a: Action) -> dict[str, Any]:
    return dict(a.detail) if isinstance(a.detail, dict) else {}


def apply_gateway_alarms(s: Session, sid: str, items: Any, now: int) -> int:
    """The gateway's own alarm list (telemetry `alarms`: key, message, since) for one
    station: each key raises `gw:<key>` once; a key gone from the list clears it."""
    if not isinstance(items, list):
        return 0
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("key"), str) and item["key"]:
            seen["gw:" + item["key"][:90]] = item
    changed = 0
    open_ = {a.key: a for a in s.scalars(
        select(Alarm).where(Alarm.sid == sid, Alarm.source == "gateway", Alarm.cleared_at.is_(None)))}
    for key, a in open_.items():
        if key not in seen:
            a.cleared_at, a.updated_at = now, now
            changed += 1
    for key, item in seen.items():
        if key in open_:
            continue
        since = item.get("since")
        raised = since if isinstance(since, int) and 0 < since <= now else now
        with s.begin_nested():
            s.add(Alarm(sid=sid, key=key, kind="gateway", source="gateway", gun=None,
                        severity=gateway_severity(key[3:]), message=str(item.get("message") or "")[:500],
                        detail={"key": key[3:]}, count=1, raised_at=raised, notified_rank=0,
                        created_at=now, updated_at=now))
        changed += 1
    s.flush()
    return changed


def sweep_offline(s: Session, now: int, offline_after_ms: int) -> int:
    """Stations offline (will or liveness) and silent for `offline_after_ms` raise `offline`
    (raised at the last time they were heard from); back online clears it."""
    changed = 0
    open_ = {a.sid: a for a in s.scalars(select(Alarm).where(Alarm.key == "offline", Alarm.cleared_at.is_(None)))}
    states = s.execute(select(StationState.sid, StationState.online, StationState.last_seen,
                              StationState.offline_reason)).all()
    for sid, online, last_seen, reason in states:
        alarm = open_.get(sid)
        if online and alarm is not None:
            alarm.cleared_at, alarm.updated_at = max(now if last_seen is None else last_seen, alarm.raised_at), now
            changed += 1
        elif not online and alarm is None and last_seen is not None and last_seen <= now - offline_after_ms:
            s.add(Alarm(sid=sid, key="offline", kind="offline", source="cloud", gun=None, severity="major",
                        message=f"station offline ({reason or 'unknown'})", detail={"reason": reason},
                        count=1, raised_at=last_seen, notified_rank=0, created_at=now, updated_at=now))
            changed += 1
    s.flush()
    return changed


def raise_driver_report(s: Session, *, sid: str, gun: str, ref: str, message: str, detail: dict[str, Any],
                        now: int) -> int:
    """A driver's report of a broken gun (cloud/community) as an alarm of source `driver`,
    kind `driver_report`, key `report:<ref>`: one per report, cleared when an operator
    acknowledges it with the resolution as the note. Returns the alarm's id."""
    alarm = Alarm(sid=sid, key=f"report:{ref}"[:96], kind="driver_report", source="driver", gun=gun,
                  severity=KIND_SEVERITY["driver_report"], message=message[:500], detail=dict(detail), count=1,
                  raised_at=now, notified_rank=0, created_at=now, updated_at=now)
    s.add(alarm)
    s.flush()
    return alarm.id


def sweep(s: Session, now: int, offline_after_s: float = 300.0) -> dict[str, int]:
    """One pass of the periodic job: every station's gateway alarm list (from its latest
    telemetry, when it carries one) and offline stations. Idempotent; the caller commits."""
    gateway = 0
    for sid, tel in s.execute(select(StationState.sid, StationState.telemetry)
                              .where(StationState.telemetry.is_not(None))).all():
        if isinstance(tel, dict) and "alarms" in tel:
            try:
                with s.begin_nested():
                    gateway += apply_gateway_alarms(s, sid, tel["alarms"], now)
            except OperationalError:
                raise
            except Exception:  # noqa: BLE001 - one station's odd telemetry never stops the sweep
                log.exception("gateway alarms of %s not applied", sid)
    offline = sweep_offline(s, now, int(offline_after_s * 1000))
    return {"gateway": gateway, "offline": offline}


# --- reading ------------------------------------------------------------------------------------
def _scoped(stmt: Any, sids: set[str] | None) -> Any:
    return stmt if sids is None else stmt.where(Alarm.sid.in_(sorted(sids)))


def list_alarms(
    s: Session, *, sids: set[str] | None = None, state: str | None = None, sid: str | None = None,
    kind: str | None = None, min_severity: str | None = None, acknowledged: bool | None = None,
    since: int | None = None, until: int | None = None, page: int = 1, per_page: int = 50,
) -> Page:
    """Alarms newest first. state: `active` (not cleared), `past` (cleared) or None (both);
    `sids` is the owner scope (None: every station)."""
    if state not in (None, "active", "past"):
        raise AlarmError("bad_filter", f"state must be active or past, not {state!r}")
    if min_severity is not None and min_severity not in SEVERITIES:
        raise AlarmError("bad_filter", f"severity must be one of {', '.join(SEVERITIES)}")
    page, per_page = paging(page, per_page)
    conds = []
    if state == "active":
        conds.append(Alarm.cleared_at.is_(None))
    elif state == "past":
        conds.append(Alarm.cleared_at.is_not(None))
    if sid is not None:
        conds.append(Alarm.sid == sid)
    if kind is not None:
        conds.append(Alarm.kind == kind)
    if min_severity is not None:
        conds.append(Alarm.severity.in_([n for n in SEVERITIES if rank(n) >= rank(min_severity)]))
    if acknowledged is not None:
        conds.append(Alarm.acknowledged_at.is_not(None) if acknowledged else Alarm.acknowledged_at.is_(None))
    if since is not None:
        conds.append(Alarm.raised_at >= since)
    if until is not None:
        conds.append(Alarm.raised_at < until)
    total = s.scalar(_scoped(select(func.count()).select_from(Alarm), sids).where(*conds)) or 0
    rows = s.scalars(
        _scoped(select(Alarm), sids).where(*conds).order_by(Alarm.raised_at.desc(), Alarm.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Page([view(a) for a in rows], int(total), page, per_page)


MAX_PAGE = 1_000_000  # far past any list; the offset stays a 64-bit integer the database takes


def paging(page: Any, per_page: Any) -> tuple[int, int]:
    try:
        return min(MAX_PAGE, max(1, int(page))), min(MAX_PER_PAGE, max(1, int(per_page)))
    except (TypeError, ValueError):
        raise AlarmError("bad_filter", "page and per_page are whole numbers") from None


def get(s: Session, alarm_id: int, sids: set[str] | None = None) -> dict[str, Any]:
    """One alarm with its evidence (the station records, by seq)."""
    alarm = _visible(s, alarm_id, sids)
    out = view(alarm)
    ev = s.execute(
        select(AlarmEvidence.seq, AlarmEvidence.role, AlarmEvidence.ts, StationEvent.kind, StationEvent.detail)
        .outerjoin(StationEvent, (StationEvent.sid == AlarmEvidence.sid) & (StationEvent.seq == AlarmEvidence.seq))
        .where(AlarmEvidence.alarm_id == alarm.id).order_by(AlarmEvidence.seq)
    ).all()
    out["evidence"] = [{"sid": alarm.sid, "seq": seq, "role": role, "ts": ts, "kind": k, "detail": d}
                       for seq, role, ts, k, d in ev]
    return out


def _visible(s: Session, alarm_id: int, sids: set[str] | None) -> Alarm:
    try:
        wanted = int(alarm_id)
    except (TypeError, ValueError, OverflowError):
        wanted = 0
    alarm = s.get(Alarm, wanted) if 0 < wanted < 2**63 else None
    if alarm is None or (sids is not None and alarm.sid not in sids):
        raise AlarmError("alarm_not_found", f"no alarm {alarm_id}")
    return alarm


def view(a: Alarm) -> dict[str, Any]:
    return {
        "id": a.id, "sid": a.sid, "key": a.key, "kind": a.kind, "source": a.source, "gun": a.gun,
        "severity": a.severity, "message": a.message, "detail": a.detail, "count": a.count,
        "raised_at": a.raised_at, "raise_seq": a.raise_seq, "cleared_at": a.cleared_at,
        "clear_seq": a.clear_seq, "active": a.cleared_at is None,
        "acknowledged_at": a.acknowledged_at, "acknowledged_by": a.acknowledged_by, "ack_note": a.ack_note,
    }  # fmt: skip


# --- acting ---------------------------------------------------------------------------------
def acknowledge(
    s: Session, alarm_id: int, *, actor: str, note: str = "", now: int | None = None,
    sids: set[str] | None = None,
) -> dict[str, Any]:
    """Acknowledge an alarm with a note (who and when kept; the audit log records it when
    cloud.audit exists). A one-shot alarm (a moment, not a condition) ends with it."""
    alarm = _visible(s, alarm_id, sids)
    if alarm.acknowledged_at is not None:
        raise AlarmError("alarm_already_acknowledged", f"alarm {alarm_id} was acknowledged already")
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise AlarmError("note_too_long", f"a note has at most {NOTE_MAX} characters")
    if not actor or len(actor) > 64:
        raise AlarmError("bad_actor", "an acknowledgement names who made it (1..64 characters)")
    now = now_ms() if now is None else now
    alarm.acknowledged_at, alarm.acknowledged_by, alarm.ack_note, alarm.updated_at = now, actor, note, now
    if alarm.kind in ONE_SHOT and alarm.cleared_at is None:
        alarm.cleared_at = now
    s.flush()
    _audit(s, actor, alarm, note)
    return view(alarm)


def _audit(s: Session, actor: str, alarm: Alarm, note: str) -> None:
    try:
        from cloud.audit import service as audit  # built beside this package; absent before
    except ImportError:
        return
    audit.record(s, actor, "alarm.acknowledge", f"alarm:{alarm.id}",
                 {"sid": alarm.sid, "kind": alarm.kind, "key": alarm.key, "note": note})


# --- who is told ------------------------------------------------------------------------------
def normalise_phone(phone: str) -> str:
    m = PHONE_RE.fullmatch(re.sub(r"[\s-]", "", phone or ""))
    if m is None:
        raise AlarmError("bad_phone", f"{phone!r} is not a mainland China mobile number (11 digits, 1…)")
    return m.group(1)


def add_recipient(s: Session, sid: str, phone: str, name: str | None = None,
                  sids: set[str] | None = None) -> dict[str, Any]:
    if sids is not None and sid not in sids:
        raise AlarmError("station_not_found", f"no station {sid}")
    phone = normalise_phone(phone)
    row = s.scalars(select(AlarmRecipient).where(AlarmRecipient.sid == sid, AlarmRecipient.phone == phone)).first()
    if row is None:
        row = AlarmRecipient(sid=sid, phone=phone, name=(name or None), enabled=True, created_at=now_ms())
        s.add(row)
    else:
        row.enabled, row.name = True, name or row.name
    s.flush()
    return {"sid": row.sid, "phone": row.phone, "name": row.name, "enabled": row.enabled}


def remove_recipient(s: Session, sid: str, phone: str, sids: set[str] | None = None) -> bool:
    if sids is not None and sid not in sids:
        raise AlarmError("station_not_found", f"no station {sid}")
    row = s.scalars(select(AlarmRecipient).where(AlarmRecipient.sid == sid,
                                                 AlarmRecipient.phone == normalise_phone(phone))).first()
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True


def recipients(s: Session, sid: str, sids: set[str] | None = None) -> list[dict[str, Any]]:
    if sids is not None and sid not in sids:
        return []
    rows = s.scalars(select(AlarmRecipient).where(AlarmRecipient.sid == sid).order_by(AlarmRecipient.id))
    return [{"sid": r.sid, "phone": r.phone, "name": r.name, "enabled": r.enabled} for r in rows]
