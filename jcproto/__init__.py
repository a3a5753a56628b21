"""Station <-> cloud protocol v1 (spec/mqtt-v1.md, docs/protocol.md): pure, no I/O.

    from jcproto import topic, State, Up, SessionStarted, Ack, Reply, parse_topic

    client.publish(topic(sid, "state"), State(online=True, ts=now_ms, fw="1.2.0").to_json(), qos=1, retain=True)
    sid, kind = parse_topic(msg.topic)
    ack = Ack.from_json(msg.payload)          # ProtocolError on bad JSON, wrong v, schema errors

Every `to_json()` validates against the JSON Schemas in `schemas/`; every `from_json()` too.
"""

from jcproto.canonical import canonical_json, signing_bytes
from jcproto.commands import (
    COMMAND_TYPES,
    CancelReservation,
    CancelTariff,
    Command,
    IdleFee,
    Reserve,
    ResetFault,
    SetAuthList,
    SetConfig,
    SetLoadPolicy,
    SetTariff,
    Start,
    Stop,
    Tariff,
    TariffPeriod,
    build_command,
    command_from_json,
    new_command_id,
    parse_command,
)
from jcproto.errors import ProtocolError, RefusalKind
from jcproto.messages import (
    Ack,
    ErrorCode,
    GatewayAlarm,
    GunTelemetry,
    RefusedRecord,
    Reply,
    State,
    Telemetry,
    Transformer,
    Up,
    read_refused,
)
from jcproto.records import (
    RECORD_TYPES,
    Event,
    GunReleased,
    Limit,
    Lost,
    MeterMinute,
    Orderly,
    Pruned,
    Record,
    SessionEnded,
    SessionProgress,
    SessionStarted,
    UnknownRecord,
    parse_record,
)
from jcproto.schema import validate
from jcproto.signing import sign_record, verify_record, with_signature
from jcproto.topics import (
    DOWN_KINDS,
    KINDS,
    UP_KINDS,
    Kind,
    is_valid_sid,
    parse_topic,
    shared_subscription,
    subscription,
    topic,
)

__all__ = [
    "COMMAND_TYPES", "DOWN_KINDS", "KINDS", "RECORD_TYPES", "UP_KINDS",
    "Ack", "CancelReservation", "CancelTariff", "Command", "ErrorCode", "Event", "GunReleased", "GatewayAlarm", "GunTelemetry", "IdleFee",
    "Kind", "Limit", "Lost",
    "MeterMinute", "Orderly", "ProtocolError", "Pruned", "Record", "RefusalKind", "RefusedRecord", "Reply", "Reserve",
    "ResetFault", "SessionEnded", "SessionProgress", "SessionStarted", "SetAuthList", "SetConfig",
    "SetLoadPolicy", "SetTariff", "Start", "State", "Stop", "Tariff", "TariffPeriod", "Telemetry",
    "Transformer", "UnknownRecord", "Up",
    "build_command", "canonical_json", "command_from_json", "is_valid_sid", "new_command_id",
    "parse_command", "parse_record", "read_refused", "parse_topic", "shared_subscription", "sign_record",
    "signing_bytes", "subscription", "topic", "validate", "verify_record", "with_signature",
]  # fmt: skip
