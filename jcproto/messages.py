"""The top-level messages of protocol v1 other than commands: state, telemetry, up, ack, reply."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

from jcproto import schema
from jcproto.codec import Payload, decode, encode, nested, nested_list, omit_none
from jcproto.records import Record, parse_record

LoadLevel = Literal["normal", "capped", "blocked", "failsafe"]


@dataclass(frozen=True, kw_only=True, slots=True)
class State(Payload):
    """Retained on `state`. `ts` is when this MQTT connection was made; the will repeats it."""

    SCHEMA: ClassVar[str] = "state"
    online: bool
    ts: int
    fw: str | None = None
    cfg_rev: int | str | None = None
    sid: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class Transformer:
    load_pct: float | None  # None while the meter is unreadable
    s_total_va: int | None
    p_total_w: int | None
    level: LoadLevel


@dataclass(frozen=True, kw_only=True, slots=True)
class GunTelemetry:
    id: str
    state: str  # an edge.gunstate.GunState value
    power_w: int
    limit_w: int | None
    energy_wh: int  # the gun's lifetime energy register
    session_id: str | None
    soc: int | None
    rated_power_w: int | None = field(default=None, metadata=omit_none())  # optional (added in 1.1)


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewayAlarm:
    """One alarm the gateway holds active (its status page's list)."""

    key: str
    message: str
    since: int  # ms, when it was raised


@dataclass(frozen=True, kw_only=True, slots=True)
class Telemetry(Payload):
    """Live snapshot, QoS 0, latest wins."""

    SCHEMA: ClassVar[str] = "telemetry"
    ts: int
    transformer: Transformer | None = field(metadata=nested(Transformer))
    guns: list[GunTelemetry] = field(default_factory=list, metadata=nested_list(GunTelemetry))
    sid: str | None = field(default=None, metadata=omit_none())
    # optional: the gateway's active alarms (the cloud raises and clears `gw:<key>` alarms)
    alarms: list[GatewayAlarm] | None = field(default=None, metadata={**nested_list(GatewayAlarm), **omit_none()})


@dataclass(frozen=True, kw_only=True, slots=True)
class Up(Payload):
    """A batch of durable records, in seq order."""

    SCHEMA: ClassVar[str] = "up"
    MAX_RECORDS: ClassVar[int] = 1000
    records: list[Record]
    sid: str | None = field(default=None, metadata=omit_none())

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "records": [r.to_dict() for r in self.records]}
        if self.sid is not None:
            out["sid"] = self.sid
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:  # type: ignore[override]
        schema.validate(cls.SCHEMA, data)
        return cls(
            records=[parse_record(r, validate=False) for r in data["records"]], sid=data.get("sid")
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RefusedRecord:
    """(Added by the project.) A record the cloud stored and acknowledges but would not act on:
    for a `pairing_code` event, the code the gateway made is not a code in the cloud. `reason`
    is a stable code (`unknown_gun`, `expired`, `expiry_too_far`, `invalid`, …)."""

    seq: int
    kind: str  # the event kind refused: `pairing_code`
    reason: str


MAX_REFUSED = 1000  # entries one ack may carry (ack.json)
_KIND_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_REASON_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_MAX_SEQ = 2**53


def read_refused(value: Any) -> tuple[list[RefusedRecord], list[str]]:
    """An ack's `refused` field read leniently: (the well-formed entries, what was wrong with
    the rest). A list longer than MAX_REFUSED, or not a list, is ignored as a whole; a bad
    entry is skipped; an entry's unknown keys are ignored. Never raises: a malformed
    `refused` costs only itself, never the acknowledgement it came with."""
    if not isinstance(value, list):
        return [], [f"refused is {type(value).__name__}, not a list"]
    if len(value) > MAX_REFUSED:
        return [], [f"refused has {len(value)} entries, more than {MAX_REFUSED}"]
    good: list[RefusedRecord] = []
    bad: list[str] = []
    for i, e in enumerate(value):
        if not isinstance(e, dict):
            bad.append(f"refused[{i}] is {type(e).__name__}, not an object")
            continue
        seq, kind, reason = e.get("seq"), e.get("kind"), e.get("reason")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= _MAX_SEQ:
            bad.append(f"refused[{i}].seq is not a seq")
        elif not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
            bad.append(f"refused[{i}].kind is not a kind")
        elif not isinstance(reason, str) or not _REASON_RE.fullmatch(reason):
            bad.append(f"refused[{i}].reason is not a reason code")
        else:
            good.append(RefusedRecord(seq=seq, kind=kind, reason=reason))
    return good, bad


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack(Payload):
    """The cloud durably holds every record with seq <= `seq` that this store sent (0: none yet).

    Revision 1.1: `conflicts` lists seqs the cloud already held with different content (a
    replaced or restored store), `high` is then the highest seq it holds for the station.
    Added by the project: `refused` lists records the cloud holds but refused to act on (a
    gateway's pairing code it could not make a code of), read leniently (`read_refused`).
    """

    SCHEMA: ClassVar[str] = "ack"
    seq: int
    conflicts: list[int] | None = field(default=None, metadata=omit_none())
    high: int | None = field(default=None, metadata=omit_none())
    refused: list[RefusedRecord] | None = field(default=None,
                                                metadata={**nested_list(RefusedRecord), **omit_none()})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:  # type: ignore[override]
        """Validated without `refused`, which is read on its own: a malformed one is dropped
        (or its bad entries), the acknowledgement still counts."""
        rest = {k: v for k, v in data.items() if k != "refused"}
        schema.validate(cls.SCHEMA, rest)
        ack = decode(cls, rest)
        if "refused" in data:
            good, _ = read_refused(data["refused"])
            ack = replace(ack, refused=good or None)
        return ack


class ErrorCode(StrEnum):
    """Stable error codes of a reply (spec/mqtt-v1.md)."""

    UNKNOWN_GUN = "unknown_gun"
    NOT_PLUGGED = "not_plugged"
    BUSY = "busy"
    FAULTED = "faulted"
    UNAVAILABLE = "unavailable"
    BLOCKED_BY_LOAD = "blocked_by_load"
    RESERVED = "reserved"
    EXPIRED = "expired"
    INVALID = "invalid"


@dataclass(frozen=True, kw_only=True, slots=True)
class Reply(Payload):
    """The gateway's one answer to command `id`."""

    SCHEMA: ClassVar[str] = "reply"
    id: str
    ok: bool
    error: ErrorCode | None = None
    detail: dict[str, Any] | None = None
    sid: str | None = field(default=None, metadata=omit_none())

    def to_dict(self) -> dict[str, Any]:
        out = {"v": 1, **encode(self)}
        out["error"] = None if self.error is None else str(self.error)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:  # type: ignore[override]
        schema.validate(cls.SCHEMA, data)
        reply = decode(cls, data)
        error = None if data["error"] is None else ErrorCode(data["error"])
        return cls(id=reply.id, ok=reply.ok, error=error, detail=reply.detail, sid=reply.sid)

    @classmethod
    def success(cls, command_id: str, detail: dict[str, Any] | None = None) -> Reply:
        return cls(id=command_id, ok=True, error=None, detail=detail)

    @classmethod
    def failure(
        cls, command_id: str, error: ErrorCode, detail: dict[str, Any] | None = None
    ) -> Reply:
        return cls(id=command_id, ok=False, error=error, detail=detail)
