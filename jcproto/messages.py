"""The top-level messages of protocol v1 other than commands: state, telemetry, up, ack, reply."""

from __future__ import annotations

from dataclasses import dataclass, field
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
class Ack(Payload):
    """The cloud durably holds every record with seq <= `seq` that this store sent (0: none yet).

    Revision 1.1: `conflicts` lists seqs the cloud already held with different content (a
    replaced or restored store), `high` is then the highest seq it holds for the station.
    """

    SCHEMA: ClassVar[str] = "ack"
    seq: int
    conflicts: list[int] | None = field(default=None, metadata=omit_none())
    high: int | None = field(default=None, metadata=omit_none())


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
