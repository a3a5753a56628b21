"""Turn MQTT messages into what the store needs, refusing what the spec says to drop.

Validation follows docs/protocol.md "Receivers": a payload that is not JSON, has the wrong
`v`, breaks its schema or names another sid is dropped and counted; a single bad record in a
valid `up` batch is kept flagged `invalid` so that the station's sequence can go on.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from jcproto import ProtocolError, parse_topic, schema
from jcproto.schema import check_version

UP_ENVELOPE = "defs.json#/$defs/envelope"
RECORD_BASE = "defs.json#/$defs/record_base"
MAX_RECORDS = 1000


@dataclass(slots=True)
class RecordIn:
    sid: str
    seq: int
    type: str
    ts: int
    body: dict[str, Any]
    flag: str | None  # None, "invalid" or "unknown_type" (signatures are checked later)


@dataclass(slots=True)
class StateIn:
    sid: str
    online: bool
    ts: int
    fw: str | None
    cfg_rev: str | None


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
    seen: set[str] = field(default_factory=set)  # every sid that sent something valid
    dropped: Counter[str] = field(default_factory=Counter)
    messages: int = 0

    @property
    def empty(self) -> bool:
        return not (self.records or self.states or self.telemetry or self.replies or self.seen)


class Refusal(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _load(payload: bytes, kind: str) -> dict[str, Any]:
    try:
        obj = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Refusal("json", f"{kind}: not valid JSON") from None
    if not isinstance(obj, dict):
        raise Refusal("json", f"{kind}: not a JSON object")
    try:
        check_version(obj)
    except ProtocolError as e:
        raise Refusal("version", f"{kind}: {e.message}") from None
    return obj


def _check_sid(obj: dict[str, Any], sid: str, kind: str) -> None:
    claimed = obj.get("sid")
    if claimed is not None and claimed != sid:
        raise Refusal("sid", f"{kind} on the topic of {sid!r} claims sid {claimed!r}")


def _schema_refusal(name: str, obj: Any) -> Refusal:
    return Refusal("schema", f"{name}: " + "; ".join(schema.errors(name, obj, limit=3)))


def add_message(batch: Batch, topic: str, payload: bytes) -> None:
    """Decode one message into `batch`; raises Refusal (with its kind) for a dropped one."""
    batch.messages += 1
    try:
        sid, kind = parse_topic(topic)
    except ProtocolError as e:
        raise Refusal("topic", e.message) from None
    obj = _load(payload, kind)
    if kind == "up":
        _add_up(batch, sid, obj)
    elif kind == "state":
        if not schema.is_valid("state", obj):
            raise _schema_refusal("state", obj)
        _check_sid(obj, sid, kind)
        rev = obj.get("cfg_rev")
        batch.states.append(
            StateIn(sid, obj["online"], obj["ts"], obj.get("fw"), None if rev is None else str(rev))
        )
    elif kind == "telemetry":
        if not schema.is_valid("telemetry", obj):
            raise _schema_refusal("telemetry", obj)
        _check_sid(obj, sid, kind)
        prev = batch.telemetry.get(sid)
        if prev is None or prev[0] <= obj["ts"]:
            batch.telemetry[sid] = (obj["ts"], obj)
    elif kind == "reply":
        if not schema.is_valid("reply", obj):
            raise _schema_refusal("reply", obj)
        _check_sid(obj, sid, kind)
        batch.replies.append(ReplyIn(sid, obj["id"], obj["ok"], obj["error"], obj.get("detail")))
    else:  # ack, cmd: our own messages, never subscribed to
        raise Refusal("topic", f"ingest does not take {kind} messages")
    batch.seen.add(sid)


def _add_up(batch: Batch, sid: str, obj: dict[str, Any]) -> None:
    records = obj.get("records")
    if schema.is_valid("up", obj):
        _check_sid(obj, sid, "up")
        for r in records:  # type: ignore[union-attr]
            batch.records.append(RecordIn(sid, r["seq"], r["type"], r["ts"], r, None))
        return
    # Slow path: find out what is wrong, keep what can be kept.
    envelope = {k: v for k, v in obj.items() if k != "records"}
    if not schema.is_valid(UP_ENVELOPE, envelope):
        raise _schema_refusal(UP_ENVELOPE, envelope)
    _check_sid(obj, sid, "up")
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise Refusal("schema", f"up: records must be a list of 1..{MAX_RECORDS} records")
    for r in records:
        if not schema.is_valid(RECORD_BASE, r):
            batch.dropped["schema"] += 1  # no usable seq: nothing to keep
            continue
        flag = None if schema.is_valid("record", r) else "invalid"
        batch.records.append(RecordIn(sid, r["seq"], r["type"], r["ts"], r, flag))
