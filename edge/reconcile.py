"""What became of a session, judged from what the pile says now (pure; no I/O).

The same judgement runs on every poll, after a gateway restart and when a cut link comes
back: the gateway compares the session it knows (the pile's session counter and tag at the
start, the lifetime energy register) with the gun's registers now. The lifetime register is
the billing truth; the session counter says whether other sessions happened meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from edge.drivers.base import GunReading
from edge.gunstate import StopReason

COUNTER_MOD = 65536
# A counter that moved this far did not count sessions: the pile was reset or replaced.
COUNTER_JUMP_LIMIT = 1000

# Pile stop reasons (profile names) → protocol stop reasons.
PILE_STOP_REASONS: dict[str, StopReason] = {
    "remote": StopReason.REMOTE,
    "local": StopReason.LOCAL,
    "unplugged": StopReason.UNPLUGGED,
    "ev_full": StopReason.EV_FULL,
    "fault": StopReason.FAULT,
    "limit": StopReason.LIMIT,
    "power_loss": StopReason.POWER_LOSS,
    # The pile's watchdog acted: the gateway was silent, so say so.
    "fallback": StopReason.GATEWAY_RESTART,
}


class Outcome(StrEnum):
    UNKNOWN = "unknown"  # the reading cannot tell (registers missing or refused): wait
    RUNNING = "running"
    ENDED = "ended"


@dataclass(frozen=True)
class KnownSession:
    session_counter: int  # the pile's counter for this session
    energy_start_wh: int
    energy_last_wh: int  # the last good lifetime reading during the session
    started_at_ms: int
    last_seen_ms: int  # when the gateway last saw the session running


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    energy_stop_wh: int | None = None
    ended_at_ms: int | None = None
    stop_reason: StopReason | None = None
    uncertain: bool = False  # the end energy or time had to be estimated
    newer_sessions: int = 0  # sessions the pile started after this one
    note: str = ""


def sessions_since(old: int, new: int) -> int:
    return (new - old) % COUNTER_MOD


def _reason(reading: GunReading) -> StopReason:
    mapped = PILE_STOP_REASONS.get(reading.stop_reason or "")
    if mapped is not None:
        return mapped
    # No reason registered: judge by what the gun looks like.
    if reading.state.value == "available":
        return StopReason.UNPLUGGED
    if reading.state.value == "faulted":
        return StopReason.FAULT
    return StopReason.LOCAL


def judge(known: KnownSession, reading: GunReading, now_ms: int) -> Verdict:
    if reading.session_counter is None or reading.energy_total_wh is None:
        return Verdict(Outcome.UNKNOWN, note="counter or lifetime energy not readable")
    energy = reading.energy_total_wh
    newer = sessions_since(known.session_counter, reading.session_counter)

    if newer == 0:
        if reading.state.in_session:
            return Verdict(Outcome.RUNNING)
        ended_at = now_ms
        if reading.session_seconds is not None:
            by_pile = known.started_at_ms + reading.session_seconds * 1000
            if known.started_at_ms <= by_pile <= now_ms:
                ended_at = by_pile
        return Verdict(Outcome.ENDED, energy_stop_wh=max(energy, known.energy_last_wh),
                       ended_at_ms=ended_at, stop_reason=_reason(reading))

    if newer > COUNTER_JUMP_LIMIT:
        return Verdict(Outcome.ENDED, energy_stop_wh=known.energy_last_wh, ended_at_ms=known.last_seen_ms,
                       stop_reason=StopReason.GATEWAY_RESTART, uncertain=True,
                       note=f"session counter jumped from {known.session_counter} to "
                            f"{reading.session_counter}: the pile was reset or replaced")

    # Other sessions ran after ours while the gateway could not see the pile.
    if newer == 1 and reading.session_energy_wh is not None and energy - reading.session_energy_wh >= known.energy_last_wh:
        # The newer session began where ours ended.
        stop = energy - reading.session_energy_wh
        ended_at = known.last_seen_ms
        if reading.session_seconds is not None:
            ended_at = max(known.last_seen_ms, now_ms - reading.session_seconds * 1000)
        return Verdict(Outcome.ENDED, energy_stop_wh=stop, ended_at_ms=ended_at,
                       stop_reason=StopReason.GATEWAY_RESTART, uncertain=True, newer_sessions=1,
                       note="ended while the pile was out of sight; a newer session followed")
    return Verdict(Outcome.ENDED, energy_stop_wh=known.energy_last_wh, ended_at_ms=known.last_seen_ms,
                   stop_reason=StopReason.GATEWAY_RESTART, uncertain=True, newer_sessions=newer,
                   note=f"{newer} sessions ran while the pile was out of sight; "
                        "energy after the last reading is not billed to this session")


def newest_session_start(reading: GunReading) -> int | None:
    """The lifetime register at the start of the pile's current/last session, if derivable."""
    if reading.energy_total_wh is None or reading.session_energy_wh is None:
        return None
    return max(0, reading.energy_total_wh - reading.session_energy_wh)
