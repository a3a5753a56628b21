"""The one exception the protocol package raises for a payload or topic it refuses."""

from __future__ import annotations

from typing import Literal

# Why a payload was refused. Receivers count refusals per reason (spec: "drops, counts, logs").
RefusalKind = Literal["json", "version", "schema", "topic", "sid"]


class ProtocolError(ValueError):
    """A payload or topic that does not follow spec/mqtt-v1.md."""

    def __init__(self, kind: RefusalKind, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind: RefusalKind = kind
        self.message = message
