"""The billing judge: from a session's signed records and the tariff it charged under, the
bill the driver pays, or why it must not be billed. Pure: no I/O, no clock, no database.

The cloud never simply takes the gateway's number, and never bills a session it cannot check:
- the end record must carry a good signature (ingest verified it: `signature_ok`);
- every `session_ended` of the session must say the same thing (a second one with other
  content is a dispute, not a correction);
- the stop register may not be below the start register;
- the energy may not exceed what the gun can deliver in the time (rated power × duration,
  with a small tolerance for meter rounding and clock steps);
- a tariff must have been in force at the start;
- the cost, recomputed with jcproto.tariff from the same records the gateway priced from
  (start and stop registers, the `session_progress` readings in between), must equal the
  gateway's `cost_fen`; the idle fee recomputed from `released_at` must equal the
  gateway's `idle_fen` (spec/mqtt-v1.md, Revision 1.1).
The arithmetic is jcproto.tariff's (`CostMeter.replay`, `idle_fen`), never repeated here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jcproto.tariff import CostLine, CostMeter, Tariff, idle_fen

# Energy above rated power × duration by more than this is impossible: meters round, the
# pile's clock and the gateway's differ by a poll, a pile may briefly overshoot its rating.
ENERGY_TOLERANCE_PCT = 5
ENERGY_SLACK_WH = 20
MS_PER_HOUR = 3_600_000

# Stable reason codes (an abnormal order's reason starts with one, then ": " and the text).
BAD_SIGNATURE = "bad_signature"
DUPLICATE_END = "duplicate_end"
ENERGY_BACKWARDS = "energy_backwards"
ENERGY_IMPLAUSIBLE = "energy_implausible"
NO_TARIFF = "no_tariff"
COST_MISMATCH = "cost_mismatch"
IDLE_MISMATCH = "idle_mismatch"
REASONS = (BAD_SIGNATURE, DUPLICATE_END, ENERGY_BACKWARDS, ENERGY_IMPLAUSIBLE, NO_TARIFF,
           COST_MISMATCH, IDLE_MISMATCH)


@dataclass(frozen=True)
class Started:
    """The session as it ran: start instant and register, and the `session_progress`
    readings (ts, register Wh) in record order."""

    started_at: int
    energy_start_wh: int
    readings: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Ended:
    """One `session_ended` record. `signature_ok` is ingest's verdict; `problem` what was
    wrong with it (a bad signature, a record that failed its schema)."""

    started_at: int
    ended_at: int
    energy_start_wh: int
    energy_stop_wh: int
    cost_fen: int
    stop_reason: str = ""
    signature_ok: bool = True
    problem: str | None = None
    tariff_id: str | None = None  # the version the gateway says it priced with (optional)

    @classmethod
    def from_record(cls, body: Mapping[str, Any], *, signature_ok: bool = True,
                    problem: str | None = None) -> Ended:
        def num(key: str) -> int:
            value = body.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        return cls(started_at=num("started_at"), ended_at=num("ended_at"),
                   energy_start_wh=num("energy_start_wh"), energy_stop_wh=num("energy_stop_wh"),
                   cost_fen=num("cost_fen"), stop_reason=str(body.get("stop_reason") or ""),
                   signature_ok=signature_ok, problem=problem,
                   tariff_id=body["tariff_id"] if isinstance(body.get("tariff_id"), str) else None)

    def content(self) -> tuple[int, int, int, int, int, str]:
        """What two copies of the end must share (seq and signature aside)."""
        return (self.started_at, self.ended_at, self.energy_start_wh, self.energy_stop_wh,
                self.cost_fen, self.stop_reason)


@dataclass(frozen=True)
class Released:
    """The `gun_released` record: when the car left, and the gateway's idle fee."""

    released_at: int
    idle_fen: int


@dataclass(frozen=True)
class BillLine:
    kind: str  # "electricity" | "service" | "idle"
    fen: int
    period: str | None = None
    energy_wh: int | None = None


@dataclass(frozen=True)
class Bill:
    lines: tuple[BillLine, ...]
    energy_wh: int
    idle_fen: int
    cost_lines: tuple[CostLine, ...] = field(default=(), compare=False)

    @property
    def total_fen(self) -> int:
        return sum(line.fen for line in self.lines)

    @property
    def energy_fen(self) -> int:
        return sum(line.fen for line in self.lines if line.kind != "idle")


@dataclass(frozen=True)
class Rejection:
    code: str  # one of REASONS
    text: str

    @property
    def reason(self) -> str:
        """As an abnormal order keeps it (at most 200 characters)."""
        return f"{self.code}: {self.text}"[:200]


def meter_for(started: Started, ended: Ended, tariff: Tariff) -> CostMeter:
    """The session's cost meter replayed from its records, as the gateway priced it: from the
    start register at the start, through each progress reading, to the stop register at the end."""
    readings: list[tuple[int, int]] = list(started.readings)
    readings.append((ended.ended_at, ended.energy_stop_wh))
    return CostMeter.replay(tariff, ended.started_at, ended.energy_start_wh, readings)


def bill_lines(lines: Iterable[CostLine], idle: int) -> tuple[BillLine, ...]:
    out: list[BillLine] = []
    for line in lines:
        out.append(BillLine("electricity", line.energy_fen, line.name, line.wh))
        out.append(BillLine("service", line.service_fen, line.name, line.wh))
    if idle:
        out.append(BillLine("idle", idle))
    return tuple(out)


def plausible_energy(wh: int, duration_ms: int, rated_power_w: int) -> bool:
    """wh ≤ rated power × duration × (1 + tolerance) + slack, in exact integers."""
    limit = rated_power_w * max(duration_ms, 0) * (100 + ENERGY_TOLERANCE_PCT)
    return wh * MS_PER_HOUR * 100 <= limit + ENERGY_SLACK_WH * MS_PER_HOUR * 100


def judge(started: Started | None, ended: Ended, released: Released | None,
          tariff: Tariff | None, rated_power_w: int | None, *,
          other_ends: Sequence[Ended] = ()) -> Bill | Rejection:
    """The bill of one ended session, or the reason it must not be billed.

    `started`: None when the session_started record is missing (the end carries the start
    register and instant; no progress readings then). `released`: None when the car has not
    left (or the grace to wait for it is over): no idle fee then. `other_ends`: any further
    `session_ended` records of the same session."""
    if not ended.signature_ok:
        return Rejection(BAD_SIGNATURE, f"the end record is not trusted ({ended.problem or 'bad signature'})")
    for other in other_ends:
        if other.content() != ended.content():
            return Rejection(DUPLICATE_END, "a second session_ended for the session says otherwise: "
                                            f"{other.cost_fen} fen / {other.energy_stop_wh} Wh vs "
                                            f"{ended.cost_fen} fen / {ended.energy_stop_wh} Wh")
    wh = ended.energy_stop_wh - ended.energy_start_wh
    if wh < 0:
        return Rejection(ENERGY_BACKWARDS, f"stop register {ended.energy_stop_wh} Wh is below the "
                                           f"start register {ended.energy_start_wh} Wh")
    duration = ended.ended_at - ended.started_at
    if rated_power_w is not None and not plausible_energy(wh, duration, rated_power_w):
        return Rejection(ENERGY_IMPLAUSIBLE, f"{wh} Wh in {max(duration, 0) // 1000} s is more than "
                                             f"a {rated_power_w} W gun can deliver")
    if tariff is None:
        return Rejection(NO_TARIFF, "no tariff was in force at the station when the session started")
    meter = meter_for(started or Started(ended.started_at, ended.energy_start_wh), ended, tariff)
    if meter.cost_fen != ended.cost_fen:
        return Rejection(COST_MISMATCH, f"the gateway says {ended.cost_fen} fen, the tariff "
                                        f"{tariff.id} gives {meter.cost_fen} fen for {wh} Wh")
    idle = 0
    if released is not None:
        idle = idle_fen(tariff.idle, ended.ended_at, released.released_at)
        if idle != released.idle_fen:
            return Rejection(IDLE_MISMATCH, f"the gateway says an idle fee of {released.idle_fen} fen, "
                                            f"the tariff {tariff.id} gives {idle} fen")
    lines = meter.lines()
    return Bill(bill_lines(lines, idle), meter.energy_wh, idle, tuple(lines))


__all__ = ["REASONS", "Bill", "BillLine", "Ended", "Rejection", "Released", "Started",
           "bill_lines", "judge", "meter_for", "plausible_energy"]
