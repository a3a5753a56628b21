"""When a running session is expected to end (pure): from its target (the order's limit) and
the progress the station last reported (energy so far, power now, state of charge)."""

from __future__ import annotations

from dataclasses import dataclass

FINISHING_MS = 5 * 60_000  # a gun in `finishing` frees within minutes
MIN_POWER_W = 1_000  # below this a session's own pace says nothing (it is about to end or paused)
MAX_MS = 12 * 3_600_000  # no session is expected to run longer than this


@dataclass(frozen=True)
class Running:
    state: str
    power_w: int | None = None
    energy_wh: int | None = None  # delivered so far
    soc: int | None = None  # %, when the car tells
    limit_mode: str | None = None  # the order's: amount, energy, time, full (None: no order known)
    limit_value: int | None = None  # fen | Wh | s | 0
    started_at: int | None = None  # ms
    price_e4: int | None = None  # the price now, to turn an amount into energy


def expected_end(r: Running, now: int, *, battery_wh: int = 60_000, unknown_ms: int = 45 * 60_000) -> int:
    """The instant (ms) the session is expected to free its gun."""
    if r.state == "finishing":
        return now + FINISHING_MS
    if r.limit_mode == "time" and r.limit_value and r.started_at is not None:
        return now + min(MAX_MS, max(0, r.started_at + r.limit_value * 1000 - now))
    power = max(r.power_w or 0, MIN_POWER_W)
    remaining_wh: float | None = None
    done = max(r.energy_wh or 0, 0)
    if r.limit_mode == "energy" and r.limit_value:
        remaining_wh = max(0, r.limit_value - done)
    elif r.limit_mode == "amount" and r.limit_value and r.price_e4:
        # fen = Wh × price_e4 / 100,000
        remaining_wh = max(0.0, r.limit_value * 100_000 / r.price_e4 - done)
    if r.soc is not None and 0 <= r.soc <= 100:
        to_full = (100 - r.soc) / 100 * battery_wh
        remaining_wh = to_full if remaining_wh is None else min(remaining_wh, to_full)
    if remaining_wh is None:
        return now + unknown_ms
    return now + min(MAX_MS, round(remaining_wh / power * 3_600_000))
