"""Topic names of protocol v1: `jc/v1/st/{sid}/{kind}`."""

from __future__ import annotations

import re
from typing import Literal, get_args

from jcproto.errors import ProtocolError

PREFIX = "jc/v1/st/"
SID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")

UpKind = Literal["state", "telemetry", "up", "reply"]
DownKind = Literal["ack", "cmd"]
Kind = Literal["state", "telemetry", "up", "reply", "ack", "cmd"]
UP_KINDS: tuple[UpKind, ...] = get_args(UpKind)
DOWN_KINDS: tuple[DownKind, ...] = get_args(DownKind)
KINDS: tuple[Kind, ...] = get_args(Kind)


def is_valid_sid(sid: str) -> bool:
    return SID_PATTERN.fullmatch(sid) is not None


def topic(sid: str, kind: Kind) -> str:
    """The topic of one station's `kind`, e.g. topic("S1", "up") == "jc/v1/st/S1/up"."""
    if not is_valid_sid(sid):
        raise ProtocolError("topic", f"invalid sid {sid!r}: must match [A-Za-z0-9_-]{{1,64}}")
    if kind not in KINDS:
        raise ProtocolError("topic", f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    return f"{PREFIX}{sid}/{kind}"


def parse_topic(name: str) -> tuple[str, Kind]:
    """`jc/v1/st/S1/up` -> ("S1", "up"); anything else raises ProtocolError("topic")."""
    if not name.startswith(PREFIX):
        raise ProtocolError("topic", f"not a v1 station topic: {name!r}")
    parts = name[len(PREFIX) :].split("/")
    if len(parts) != 2 or not is_valid_sid(parts[0]) or parts[1] not in KINDS:
        raise ProtocolError("topic", f"not a v1 station topic: {name!r}")
    return parts[0], parts[1]  # type: ignore[return-value]


def subscription(kind: Kind, sid: str = "+") -> str:
    """A topic filter for `kind` of one station, or of all (sid "+")."""
    if sid != "+" and not is_valid_sid(sid):
        raise ProtocolError("topic", f"invalid sid {sid!r}")
    return f"{PREFIX}{sid}/{kind}"


def shared_subscription(group: str, kind: Kind) -> str:
    """An MQTT 5 shared subscription of `kind` for all stations: `$share/{group}/jc/v1/st/+/{kind}`.

    The broker hands each message to one member of the group, so that ingest processes share
    the load.
    """
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", group):
        raise ProtocolError("topic", f"invalid share group {group!r}: [A-Za-z0-9_-]{{1,64}}")
    return f"$share/{group}/{subscription(kind)}"
