"""Durable records carried in `up` batches: one dataclass per record type."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from jcproto import schema
from jcproto.codec import decode, dumps, encode, nested, omit_none
from jcproto.errors import ProtocolError

LimitMode = Literal["full", "energy", "time", "amount"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Limit:
    """When a session stops by itself: `value` is Wh (energy), s (time) or fen (amount)."""

    mode: LimitMode
    value: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class Orderly:
    """Orderly charging (project addition): the energy wanted by the departure and how the
    gateway's plan stands (`status`: on_track, cannot_meet, done, past_departure)."""

    departure_at: int  # epoch ms
    energy_wh: int  # wanted in the session
    status: str
    expected_wh: int  # what the plan expects the session to have by the departure
    finish_at: int | None = None  # when the plan's last Wh is drawn
    power_w: int | None = field(default=None, metadata=omit_none())  # the plan's power now
    # What the car takes (W), learned from its gun's readings; null while not known. Optional
    # (project addition after the first orderly records): a record without it decodes to None.
    acceptance_w: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Record:
    """Fields every record has. `seq` is assigned by the gateway's outbox."""

    TYPE: ClassVar[str] = ""
    seq: int
    ts: int

    def to_dict(self) -> dict[str, Any]:
        body = encode(self)
        return {"seq": body.pop("seq"), "type": self.TYPE, "ts": body.pop("ts"), **body}

    def to_json(self) -> str:
        data = self.to_dict()
        schema.validate(f"record_{self.TYPE}", data)
        return dumps(data)


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionStarted(Record):
    TYPE: ClassVar[str] = "session_started"
    session_id: str
    gun: str
    order_id: str | None
    auth: str  # "remote", "free" or "card:<id>"
    energy_start_wh: int
    limit: Limit = field(default_factory=lambda: Limit(mode="full"), metadata=nested(Limit))
    power_cap_w: int | None = None
    orderly: Orderly | None = field(default=None, metadata={**omit_none(), **nested(Orderly)})


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionProgress(Record):
    TYPE: ClassVar[str] = "session_progress"
    session_id: str
    energy_wh: int  # the gun's lifetime register now
    power_w: int
    voltage_v: float | None = None
    current_a: float | None = None
    soc: int | None = None
    cost_fen: int = 0
    orderly: Orderly | None = field(default=None, metadata={**omit_none(), **nested(Orderly)})


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionEnded(Record):
    """Signed: build it with signature="" and use `jcproto.signing.with_signature`."""

    TYPE: ClassVar[str] = "session_ended"
    session_id: str
    energy_start_wh: int
    energy_stop_wh: int
    started_at: int
    ended_at: int
    stop_reason: str  # an edge.gunstate.StopReason value
    cost_fen: int
    signature: str
    gun: str | None = field(default=None, metadata=omit_none())
    orderly: Orderly | None = field(default=None, metadata={**omit_none(), **nested(Orderly)})
    # The tariff version the gateway priced the session with (its start's); the cloud bills
    # with the same version (docs/money.md).
    tariff_id: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class GunReleased(Record):
    """The car of an ended session left the gun: the idle time is over (Revision 1.1)."""

    TYPE: ClassVar[str] = "gun_released"
    session_id: str
    gun: str
    released_at: int
    idle_fen: int  # the gateway's own computation; the cloud recomputes and compares


@dataclass(frozen=True, kw_only=True, slots=True)
class Event(Record):
    TYPE: ClassVar[str] = "event"
    kind: str
    gun: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class MeterMinute(Record):
    TYPE: ClassVar[str] = "meter_minute"
    p_avg_w: int
    p_max_w: int
    load_pct_max: float
    energy_import_wh: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Pruned(Record):
    """Stands, at the same seq, for a record the gateway dropped unsent (disk cap)."""

    TYPE: ClassVar[str] = "pruned"
    of: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Lost(Record):
    """Stands, at the same seq, for a record a damaged or restored store could not recover."""

    TYPE: ClassVar[str] = "lost"
    reason: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class UnknownRecord(Record):
    """A record type this version does not know (a newer peer); kept as it came."""

    type: str
    body: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.body, "seq": self.seq, "type": self.type, "ts": self.ts}


RECORD_TYPES: dict[str, type[Record]] = {
    cls.TYPE: cls
    for cls in (
        SessionStarted,
        SessionProgress,
        SessionEnded,
        GunReleased,
        Event,
        MeterMinute,
        Pruned,
        Lost,
    )
}


def parse_record(data: Mapping[str, Any], *, validate: bool = True) -> Record:
    """The dataclass of one record dict; an unknown type gives an UnknownRecord."""
    if validate:
        schema.validate("record", data)
    cls = RECORD_TYPES.get(str(data.get("type")))
    if cls is None:
        if not schema.is_valid("defs.json#/$defs/record_base", data):
            raise ProtocolError("schema", "record lacks seq, type or ts")
        body = {k: v for k, v in data.items() if k not in ("seq", "type", "ts")}
        return UnknownRecord(seq=data["seq"], ts=data["ts"], type=data["type"], body=body)
    return decode(cls, data)
