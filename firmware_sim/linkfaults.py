"""Transport-level fault injection: what can go wrong with one reply on the wire.

Pure: the settings, how a global and a per-unit setting combine, and the decision for one
reply (`plan`), given a random generator. rtu.py and tcp.py carry the plan out.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .errors import SimError

TRANSPORTS = ("rtu", "tcp")

_RATES = ("silence_rate", "crc_error_rate", "short_frame_rate", "garble_rate", "dribble_rate")


@dataclass(frozen=True)
class LinkFaults:
    silence_rate: float = 0.0  # no reply at all
    crc_error_rate: float = 0.0  # RTU: a reply with a wrong CRC (TCP has no CRC: ignored)
    short_frame_rate: float = 0.0  # a reply cut short
    garble_rate: float = 0.0  # a few bytes of the reply corrupted
    dribble_rate: float = 0.0  # the reply sent in pieces with pauses between them
    dribble_bytewise: bool = False  # dribble one byte at a time
    dribble_max_pause_ms: float = 40.0
    delay_ms: float = 0.0  # slow replies: added before the reply

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "faults") -> LinkFaults:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise SimError(
                    400, f"{where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}"
                )
            if key == "dribble_bytewise":
                if not isinstance(value, bool):
                    raise SimError(400, f"{where}.{key}: must be true or false")
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise SimError(400, f"{where}.{key}: must be a number, got {value!r}")
            elif key in _RATES and not 0.0 <= value <= 1.0:
                raise SimError(400, f"{where}.{key}: a rate is a probability within 0..1")
            elif value < 0:
                raise SimError(400, f"{where}.{key}: must be >= 0")
            kwargs[key] = value
        return cls(**kwargs)

    def combined(self, other: LinkFaults) -> LinkFaults:
        """Both settings at once (a unit's window adds to the whole link's): the higher of
        each rate and delay; the dribble's shape comes from the one that dribbles more."""
        shaper = other if other.dribble_rate >= self.dribble_rate else self
        return replace(
            shaper,
            **{name: max(getattr(self, name), getattr(other, name))
               for name in (*_RATES, "delay_ms")},
        )

    @property
    def any(self) -> bool:
        return self != LinkFaults()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Plan:
    """What to do with one reply frame."""

    silent: bool = False
    delay_s: float = 0.0
    frame: bytes = b""
    chunks: list[tuple[bytes, float]] = field(default_factory=list)  # (bytes, pause after)
    what: str = "ok"


def plan(frame: bytes, faults: LinkFaults, rng: random.Random, transport: str,
         header_len: int) -> Plan:
    """Decide the fate of `frame`. `header_len` bytes at its start are left intact by
    garbling (the RTU address byte, or TCP's MBAP header), so the corruption lands in the
    function code, byte count or data, where a client notices it."""
    out = Plan(delay_s=faults.delay_ms / 1000.0, frame=frame)
    if faults.silence_rate and rng.random() < faults.silence_rate:
        return replace(out, silent=True, what="silence")
    data = bytearray(frame)
    if transport == "rtu" and faults.crc_error_rate and rng.random() < faults.crc_error_rate:
        data[-1] ^= 1 + rng.randrange(255)
        out.what = "crc_error"
    elif faults.garble_rate and rng.random() < faults.garble_rate and len(data) > header_len:
        end = len(data) - 2 if transport == "rtu" else len(data)  # RTU: CRC stays, so it fails
        end = max(end, header_len + 1)
        for _ in range(1 + rng.randrange(3)):
            pos = rng.randrange(header_len, end)
            data[pos] ^= 1 + rng.randrange(255)
        out.what = "garble"
    if faults.short_frame_rate and rng.random() < faults.short_frame_rate and len(data) > 1:
        data = data[: rng.randrange(1, len(data))]
        out.what = "short_frame"
    out.frame = bytes(data)
    if faults.dribble_rate and rng.random() < faults.dribble_rate:
        out.chunks = _dribble(out.frame, faults, rng)
        out.what = "dribble" if out.what == "ok" else out.what + "+dribble"
    return out


def _dribble(frame: bytes, faults: LinkFaults, rng: random.Random) -> list[tuple[bytes, float]]:
    if faults.dribble_bytewise or len(frame) < 3:
        cuts = list(range(1, len(frame)))
    else:
        n = rng.randint(1, min(4, len(frame) - 1))
        cuts = sorted(rng.sample(range(1, len(frame)), n))
    pieces = [frame[a:b] for a, b in zip([0, *cuts], [*cuts, len(frame)], strict=True)]
    max_pause = faults.dribble_max_pause_ms / 1000.0
    return [(p, rng.uniform(0.2 * max_pause, max_pause) if i < len(pieces) - 1 else 0.0)
            for i, p in enumerate(pieces)]


class LinkFaultTable:
    """Settings per transport: one for the whole link, and one per unit."""

    def __init__(self) -> None:
        self._global: dict[str, LinkFaults] = {t: LinkFaults() for t in TRANSPORTS}
        self._units: dict[str, dict[int, LinkFaults]] = {t: {} for t in TRANSPORTS}

    @staticmethod
    def _transports(transport: str) -> tuple[str, ...]:
        if transport in ("all", "both"):
            return TRANSPORTS
        if transport not in TRANSPORTS:
            raise SimError(400, f"transport must be 'rtu', 'tcp' or 'all', got {transport!r}")
        return (transport,)

    def set(self, faults: LinkFaults, transport: str = "all", unit: int | None = None) -> None:
        for t in self._transports(transport):
            if unit is None:
                self._global[t] = faults
            elif faults.any:
                self._units[t][unit] = faults
            else:
                self._units[t].pop(unit, None)

    def update(self, changes: Mapping[str, Any], transport: str = "all",
               unit: int | None = None) -> None:
        """Change some fields, keep the others."""
        for t in self._transports(transport):
            current = self.get(t, unit)
            merged = LinkFaults.from_mapping({**current.to_dict(), **changes})
            self.set(merged, t, unit)

    def get(self, transport: str, unit: int | None = None) -> LinkFaults:
        if unit is None:
            return self._global[transport]
        return self._units[transport].get(unit, LinkFaults())

    def effective(self, transport: str, unit: int) -> LinkFaults:
        return self._global[transport].combined(self.get(transport, unit))

    def clear(self, transport: str = "all", unit: int | None = None) -> None:
        for t in self._transports(transport):
            if unit is None:
                self._global[t] = LinkFaults()
                self._units[t].clear()
            else:
                self._units[t].pop(unit, None)

    def to_dict(self) -> dict[str, Any]:
        return {
            t: {
                "all_units": self._global[t].to_dict(),
                "units": {str(u): f.to_dict() for u, f in sorted(self._units[t].items())},
            }
            for t in TRANSPORTS
        }
