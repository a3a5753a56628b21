"""Turn MQTT messages into what the store needs, refusing what the spec says to drop.

Validation follows docs/protocol.md "Receivers": a payload that is not strict JSON (see
jcproto.strictjson), has the wrong `v`, breaks its schema or names another sid is dropped and
counted; a single bad record in a valid `up` batch (out of its Revision 1.1 bounds, wrong
types, NUL or surrogates in a string, duplicate keys) is kept flagged `invalid` with the
reason, in a storable form, so that the station's sequence can go on. A record without a
usable seq (not an integer in 1..2^53) cannot be kept under a seq and is dropped and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jcproto import ProtocolError, parse_topic, schema
from jcproto.schema import check_version
from jcproto.strictjson import DuplicateKeys, clean_text, parse, problems, storable

UP_ENVELOPE = "defs.json#/$defs/envelope"
RECORD_BASE = "defs.json#/$defs/record_base"
MAX_RECORDS = 1000
SEQ_MAX = 2**53
TS_MIN, TS_MAX = 946_684_800_000, 4_102_444_800_000  # 2000-01-01 .. 2100-01-01, UTC
TYPE_RE = re.compile(r"[a-z_]{1,32}")


@dataclass(slots=True)
class RecordIn:
    sid: str
    seq: int
    type: str
    ts: int
    body: dict[str, Any]
    flag: str | None  # None, "invalid" or "unknown_type" (signatures are checked after decoding)
    reason: str | None = None  # why it is flagged, for people (schema errors, bounds)


@dataclass(slots=True)
class StateIn:
    sid: str
    online: bool
    ts: int
    fw: str | None
    cfg_rev: str | None
    retained: bool = False  # the broker's stored copy, delivered again: no sign of life


@dataclass(slots=True)
class ReplyIn:
    sid: str
    id: str
    ok: bool
    error: str | None
    detail: dict[str, Any] | None


@dataclass
class Batch:
    """What one batch of messages holds, ready for one DB transaction."""

    received_at: int
    records: list[RecordIn] = field(default_factory=list)
    states: list[StateIn] = field(default_factory=list)
    telemetry: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # sid -> latest
    replies: list[ReplyIn] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)  # every sid that sent something valid now
    stations: set[str] = field(default_factory=set)  # every sid named by a valid message
    dropped: Counter[str] = field(default_factory=Counter)
    messages: int = 0

    @property
    def empty(self) -> bool:
        return not (
            self.records or self.states or self.telemetry or self.replies or self.stations
        )


class Refusal(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _load(payload: bytes, kind: str) -> dict[str, Any]:
    try:
        obj = parse(payload)
    except ProtocolError as e:
        raise Refusal("json", f"{kind}: {e.message}") from None
    if not isinstance(obj, dict):
        raise Refusal("json", f"{kind}: not a JSON object")
    if isinstance(obj, DuplicateKeys):
        raise Refusal("json", f"{kind}: duplicate keys {obj.duplicates[:3]!r}")
    try:
        check_version(obj)
    except ProtocolError as e:
        raise Refusal("version", f"{kind}: {e.message}") from None
    return obj


def _check_storable(obj: Any, kind: str) -> None:
    bad = problems(obj, limit=3)
    if bad:
        raise Refusal("json", clean_text(f"{kind}: " + "; ".join(bad)))


def _check_sid(obj: dict[str, Any], sid: str, kind: str) -> None:
    claimed = obj.get("sid")
    if claimed is not None and claimed != sid:
        raise Refusal("sid", f"{kind} on the topic of {sid!r} claims sid {claimed!r}")


def _schema_refusal(name: str, obj: Any) -> Refusal:
    return Refusal("schema", clean_text(f"{name}: " + "; ".join(schema.errors(name, obj, limit=3))))


def add_message(batch: Batch, topic: str, payload: bytes, retained: bool = False) -> None:
    """Decode one message into `batch`; raises Refusal (with its kind) for a dropped one.

    A retained message (the broker's copy of an old `state`) is applied but is no sign of
    life: it does not count as the station having been seen now."""
    batch.messages += 1
    try:
        sid, kind = parse_topic(topic)
    except ProtocolError as e:
        raise Refusal("topic", e.message) from None
    obj = _load(payload, kind)
    if kind == "up":
        _add_up(batch, sid, obj)
    elif kind == "state":
        _check_storable(obj, kind)
        if not schema.is_valid("state", obj):
            raise _schema_refusal("state", obj)
        _check_sid(obj, sid, kind)
        rev = obj.get("cfg_rev")
        batch.states.append(
            StateIn(sid, obj["online"], obj["ts"], obj.get("fw"), None if rev is None else str(rev),
                    retained)
        )
    elif kind == "telemetry":
        _check_storable(obj, kind)
        if not schema.is_valid("telemetry", obj):
            raise _schema_refusal("telemetry", obj)
        _check_sid(obj, sid, kind)
        prev = batch.telemetry.get(sid)
        if prev is None or prev[0] <= obj["ts"]:
            batch.telemetry[sid] = (obj["ts"], obj)
    elif kind == "reply":
        _check_storable(obj, kind)
        if not schema.is_valid("reply", obj):
            raise _schema_refusal("reply", obj)
        _check_sid(obj, sid, kind)
        batch.replies.append(ReplyIn(sid, obj["id"], obj["ok"], obj["error"], obj.get("detail")))
    else:  # ack, cmd: our own messages, never subscribed to
        raise Refusal("topic", f"ingest does not take {kind} messages")
    batch.stations.add(sid)
    if not retained:
        batch.seen.add(sid)


def _add_up(batch: Batch, sid: str, obj: dict[str, Any]) -> None:
    records = obj.get("records")
    if not problems(obj, limit=1) and schema.is_valid("up", obj):
        _check_sid(obj, sid, "up")
        for r in records:  # type: ignore[union-attr]
            batch.records.append(RecordIn(sid, r["seq"], r["type"], r["ts"], r, None))
        return
    # Slow path: find out what is wrong, keep what can be kept.
    envelope = {k: v for k, v in obj.items() if k != "records"}
    _check_storable(envelope, "up")
    if not schema.is_valid(UP_ENVELOPE, envelope):
        raise _schema_refusal(UP_ENVELOPE, envelope)
    _check_sid(obj, sid, "up")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise Refusal("schema", f"up: records must be a list of 1..{MAX_RECORDS} records")
    for r in records:
        rec = decode_record(sid, r)
        if rec is None:
            batch.dropped["schema"] += 1  # no usable seq: nothing to keep
        else:
            batch.records.append(rec)


def decode_record(sid: str, r: Any) -> RecordIn | None:
    """One record of an `up` batch as it will be stored; None when it has no usable seq."""
    if not isinstance(r, dict):
        return None
    seq = r.get("seq")
    if type(seq) is not int or not 1 <= seq <= SEQ_MAX:
        return None
    type_, ts = r.get("type"), r.get("ts")
    stored_type = type_ if isinstance(type_, str) and TYPE_RE.fullmatch(type_) else "invalid"
    stored_ts = ts if type(ts) is int and TS_MIN <= ts <= TS_MAX else 0
    bad = problems(r, limit=3)
    if bad:  # not fit for the validator nor the database as it is
        return RecordIn(sid, seq, stored_type, stored_ts, storable(r), "invalid",
                        clean_text("; ".join(bad)))
    if schema.is_valid("record", r):
        return RecordIn(sid, seq, stored_type, stored_ts, r, None)
    reason = clean_text("; ".join(schema.errors("record", r, limit=3)))
    return RecordIn(sid, seq, stored_type, stored_ts, r, "invalid", reason)
