"""The car as the trip planner sees it (pure, no I/O): battery size, consumption by speed, and
the charging curve, with the time a charge from one state of charge to another takes.

State of charge (SoC) is a fraction 0..1 here; the API speaks percent.

The DC curve is the most power the car accepts at each SoC (piecewise linear, kW); a gun gives
at most its own power, so the power at SoC s is min(gun, curve(s)). The time to charge from a
to b is the integral of capacity / power over [a, b], done exactly on each linear piece (a
constant piece takes ΔE / P; a sloped one capacity / k · ln(P(b) / P(a))), so tests can check
it against a hand calculation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache


class CarError(ValueError):
    """A car description that cannot be planned with; the message names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def _table(points: Sequence[Sequence[float]], what: str, xlo: float, xhi: float) -> tuple[tuple[float, float], ...]:
    pts: list[tuple[float, float]] = []
    for p in points:
        if len(p) != 2:
            raise CarError(what, f"{what}: pairs of two numbers")
        x, y = float(p[0]), float(p[1])
        if not (math.isfinite(x) and math.isfinite(y)) or not xlo <= x <= xhi or y <= 0:
            raise CarError(what, f"{what}: x in {xlo:g}..{xhi:g}, y > 0")
        pts.append((x, y))
    pts.sort()
    if not pts or any(a[0] == b[0] for a, b in zip(pts, pts[1:], strict=False)):
        raise CarError(what, f"{what}: at least one point, no x twice")
    return tuple(pts)


def _interp(table: tuple[tuple[float, float], ...], x: float) -> float:
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:], strict=False):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


def default_curve(max_dc_kw: float) -> tuple[tuple[float, float], ...]:
    """Full power up to 80 % SoC, then tapering linearly to a fifth of it at 100 % (the shape
    most EV batteries show: constant current, then constant voltage)."""
    return ((0.0, max_dc_kw), (0.8, max_dc_kw), (1.0, max_dc_kw * 0.2))


@dataclass(frozen=True)
class Car:
    battery_wh: float
    # (speed km/h, Wh per km), interpolated linearly, constant beyond the ends
    consumption: tuple[tuple[float, float], ...]
    max_dc_kw: float = 60.0
    max_ac_kw: float = 7.0
    # (SoC 0..1, kW the car accepts on DC); default_curve(max_dc_kw) when not given
    curve: tuple[tuple[float, float], ...] = field(default=())
    # energy the pile meters per energy the battery stores (a pile bills what it delivers)
    charge_efficiency: float = 0.95

    def __post_init__(self) -> None:
        if not (math.isfinite(self.battery_wh) and 1_000 <= self.battery_wh <= 500_000):
            raise CarError("battery_kwh", "battery_kwh: 1..500")
        for name, v in (("max_dc_kw", self.max_dc_kw), ("max_ac_kw", self.max_ac_kw)):
            if not (math.isfinite(v) and 0 < v <= 2_000):
                raise CarError(name, f"{name}: 0..2000")
        if not (math.isfinite(self.charge_efficiency) and 0.5 <= self.charge_efficiency <= 1.0):
            raise CarError("charge_efficiency", "charge_efficiency: 0.5..1")
        object.__setattr__(self, "consumption", _table(self.consumption, "consumption", 0, 300))
        curve = self.curve or default_curve(self.max_dc_kw)
        object.__setattr__(self, "curve", _table(curve, "curve", 0, 1))

    def wh_per_km(self, speed_kmh: float) -> float:
        return _interp(self.consumption, speed_kmh)

    def drive_wh(self, length_m: float, time_s: float) -> float:
        """Energy to drive `length_m` in `time_s` (at their average speed)."""
        if length_m <= 0:
            return 0.0
        speed = length_m / time_s * 3.6 if time_s > 0 else self.consumption[-1][0]
        return length_m / 1000.0 * self.wh_per_km(speed)

    def charge_power_kw(self, soc: float, gun_kw: float, dc: bool) -> float:
        if not dc:
            return min(gun_kw, self.max_ac_kw)
        return min(gun_kw, _interp(self.curve, soc))

    def charge_seconds(self, soc_from: float, soc_to: float, gun_kw: float, dc: bool = True) -> float:
        """Seconds to charge from soc_from to soc_to on a gun giving at most gun_kw."""
        if soc_to <= soc_from:
            return 0.0
        if gun_kw <= 0:
            return math.inf
        cap_kwh = self.battery_wh / 1000.0
        if not dc:
            return (soc_to - soc_from) * cap_kwh / min(gun_kw, self.max_ac_kw) * 3600.0
        pieces, cum = _pieces(self.curve, cap_kwh, gun_kw)
        return (_hours_to(pieces, cum, soc_to, gun_kw, cap_kwh) - _hours_to(pieces, cum, soc_from, gun_kw, cap_kwh)) * 3600.0


Piece = tuple[float, float, float, float]  # s0, s1, car power at s0 (kW), slope (kW per unit SoC)


@lru_cache(maxsize=256)
def _pieces(curve: tuple[tuple[float, float], ...], cap_kwh: float, gun_kw: float) -> tuple[tuple[Piece, ...], tuple[float, ...]]:
    """The curve's linear pieces over 0..1 and the hours to charge from 0 to the start of each
    (a planner asks for the same gun power many times: computed once per power)."""
    pts = list(curve)
    if pts[0][0] > 0:
        pts.insert(0, (0.0, pts[0][1]))
    if pts[-1][0] < 1:
        pts.append((1.0, pts[-1][1]))
    pieces = tuple((s0, s1, p0, (p1 - p0) / (s1 - s0)) for (s0, p0), (s1, p1) in zip(pts, pts[1:], strict=False))
    cum = [0.0]
    for s0, s1, p0, k in pieces:
        cum.append(cum[-1] + _piece_hours(s0, s1, s0, p0, k, gun_kw, cap_kwh))
    return pieces, tuple(cum)


def _hours_to(pieces: tuple[Piece, ...], cum: tuple[float, ...], soc: float, gun_kw: float, cap_kwh: float) -> float:
    soc = min(max(soc, 0.0), 1.0)
    i = max(0, bisect.bisect_right([p[0] for p in pieces], soc) - 1)
    s0, s1, p0, k = pieces[i]
    return cum[i] + (_piece_hours(s0, soc, s0, p0, k, gun_kw, cap_kwh) if soc > s0 else 0.0)


def _piece_hours(lo: float, hi: float, s0: float, p0: float, k: float, gun_kw: float, cap_kwh: float) -> float:
    """∫ cap / min(gun, p0 + k (s − s0)) ds over [lo, hi], split where the car's power crosses
    the gun's."""
    def car(s: float) -> float:
        return p0 + k * (s - s0)

    if k == 0:
        return (hi - lo) * cap_kwh / min(gun_kw, p0)
    cross = s0 + (gun_kw - p0) / k  # where car(s) == gun_kw
    parts: list[tuple[float, float]] = [(lo, hi)]
    if lo < cross < hi:
        parts = [(lo, cross), (cross, hi)]
    hours = 0.0
    for a, b in parts:
        mid = (a + b) / 2
        if car(mid) >= gun_kw:
            hours += (b - a) * cap_kwh / gun_kw
        else:
            hours += cap_kwh / k * math.log(car(b) / car(a))
    return hours
