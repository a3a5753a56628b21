"""Commands (`cmd`): one dataclass per command type. Every command has an id and expires_at."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from jcproto import schema
from jcproto.codec import decode, dumps, encode, loads, nested, nested_list, omit_none
from jcproto.errors import ProtocolError
from jcproto.records import Limit


def new_command_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, kw_only=True, slots=True)
class TariffPeriod:
    """Each price as `*_price_e4` (CNY/kWh × 10,000) or `*_fen_per_kwh`; `_e4` wins.
    Arithmetic on it lives in `jcproto.tariff`."""

    start: str  # "HH:MM", local time
    end: str  # "HH:MM" or "24:00"
    name: str
    energy_fen_per_kwh: int | None = field(default=None, metadata=omit_none())
    service_fen_per_kwh: int | None = field(default=None, metadata=omit_none())
    energy_price_e4: int | None = field(default=None, metadata=omit_none())
    service_price_e4: int | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class IdleFee:
    grace_min: int
    step_min: int
    fen_per_step: int
    cap_fen: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Tariff:
    id: str
    periods: list[TariffPeriod] = field(metadata=nested_list(TariffPeriod))
    currency: Literal["CNY"] = "CNY"
    tz: str = "Asia/Shanghai"
    idle: IdleFee | None = field(default=None, metadata={**omit_none(), **nested(IdleFee)})


@dataclass(frozen=True, kw_only=True, slots=True)
class Command:
    """Fields every command has; `expires_at` is epoch ms, after which the gateway refuses it."""

    TYPE: ClassVar[str] = ""
    expires_at: int
    id: str = field(default_factory=new_command_id)

    def to_dict(self) -> dict[str, Any]:
        body = encode(self)
        return {
            "v": 1,
            "id": body.pop("id"),
            "type": self.TYPE,
            "expires_at": body.pop("expires_at"),
            **body,
        }

    def to_json(self) -> str:
        data = self.to_dict()
        schema.validate("cmd", data)
        return dumps(data)


@dataclass(frozen=True, kw_only=True, slots=True)
class Start(Command):
    TYPE: ClassVar[str] = "start"
    gun: str
    order_id: str
    limit: Limit = field(metadata=nested(Limit))
    tariff: Tariff = field(metadata=nested(Tariff))
    # Orderly charging (project addition): when the driver leaves (epoch ms); the energy
    # wanted by then is the `energy` limit's value (the schema requires that mode).
    departure_at: int | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class Stop(Command):
    TYPE: ClassVar[str] = "stop"
    gun: str | None = field(default=None, metadata=omit_none())
    session_id: str | None = field(default=None, metadata=omit_none())
    # Added (optional): with `gun`, stop only the session of this order; another session on
    # the gun (another driver's, a card's) is left running and the stop refused.
    order_id: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class Reserve(Command):
    TYPE: ClassVar[str] = "reserve"
    gun: str
    reservation_id: str
    until: int


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelReservation(Command):
    TYPE: ClassVar[str] = "cancel_reservation"
    reservation_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SetLoadPolicy(Command):
    """Changes only the keys it carries; the others keep their value at the station."""

    TYPE: ClassVar[str] = "set_load_policy"
    rated_kva: float
    cap_above_pct: float | None = field(default=None, metadata=omit_none())
    block_above_pct: float | None = field(default=None, metadata=omit_none())
    cap_power_pct: float | None = field(default=None, metadata=omit_none())
    hysteresis_pct: float | None = field(default=None, metadata=omit_none())
    mode: Literal["threshold", "share"] | None = field(default=None, metadata=omit_none())
    share_target_pct: float | None = field(default=None, metadata=omit_none())
    dwell_s: float | None = field(default=None, metadata=omit_none())
    emergency_above_pct: float | None = field(default=None, metadata=omit_none())
    pile_sessions: Literal["wait", "stop"] | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class SetTariff(Command):
    """Without `effective_from` (epoch ms) the tariff applies on receipt; with it, from then
    on, by the gateway's own clock (a future one is kept pending until then)."""

    TYPE: ClassVar[str] = "set_tariff"
    tariff: Tariff = field(metadata=nested(Tariff))
    effective_from: int | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class CancelTariff(Command):
    """Withdraw the scheduled tariff change at `effective_from`; with `tariff_id`, only while
    that version is the one scheduled there (a newer replacement stays)."""

    TYPE: ClassVar[str] = "cancel_tariff"
    effective_from: int
    tariff_id: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class SetAuthList(Command):
    TYPE: ClassVar[str] = "set_auth_list"
    cards: list[str]


@dataclass(frozen=True, kw_only=True, slots=True)
class ResetFault(Command):
    TYPE: ClassVar[str] = "reset_fault"
    gun: str | None = field(default=None, metadata=omit_none())


@dataclass(frozen=True, kw_only=True, slots=True)
class SetConfig(Command):
    TYPE: ClassVar[str] = "set_config"
    values: dict[str, str | int | float | bool | None]


COMMAND_TYPES: dict[str, type[Command]] = {
    cls.TYPE: cls
    for cls in (
        Start,
        Stop,
        Reserve,
        CancelReservation,
        SetLoadPolicy,
        SetTariff,
        CancelTariff,
        SetAuthList,
        ResetFault,
        SetConfig,
    )
}


def parse_command(data: Mapping[str, Any]) -> Command:
    """The dataclass of a command dict, validated; ProtocolError when it is not one."""
    schema.validate("cmd", data)
    cls = COMMAND_TYPES.get(data["type"])
    if cls is None:
        raise ProtocolError("schema", f"unknown command type {data['type']!r}")
    return decode(cls, data)


def command_from_json(data: str | bytes | bytearray) -> Command:
    return parse_command(loads(data))


def build_command(
    type_: str, payload: Mapping[str, Any], *, expires_at: int, id: str | None = None
) -> Command:
    """A command from its type name and fields (as the cloud's command API takes them)."""
    data = {
        **payload,
        "v": 1,
        "type": type_,
        "expires_at": expires_at,
        "id": id or new_command_id(),
    }
    return parse_command(data)
