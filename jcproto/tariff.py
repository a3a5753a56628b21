"""The tariff object (spec/mqtt-v1.md) and cost arithmetic in integer fen. Pure: no I/O.

The gateway computes a session's cost with this module (the cloud stores the cost the gateway
reports); every rule here is deterministic and integer, so that any party repeating the
arithmetic gets the same fen:
- Energy between two readings is split across period boundaries in proportion to time
  (linear), with cumulative rounding so the parts add up to exactly the energy measured.
- Prices are CNY per kWh × 10,000 (`_e4`: 0.6855 CNY/kWh → 6855), so that tariff sheets
  quoting four decimals are exact; a period may give `*_fen_per_kwh` instead (× 100), and
  when it gives both the `_e4` form wins (spec/mqtt-v1.md, Revision 1.1).
- Energy is accumulated in exact Wh per period *name* (periods sharing a name must share
  prices, e.g. a valley split at midnight). Then, per name, the electricity fee and the
  service fee are each rounded half up to the fen once:
  fen = round_half_up(wh × price_e4, 100,000). Those are a bill's lines (`CostLine`); a
  session's cost is their sum, so the 电费 and 服务费 lines add up to the total exactly.
- The idle fee (占位费, `IdleFee`) counts started steps from `ended_at` + grace until the
  car is unplugged, up to a cap.
- Periods are local wall-clock times in the tariff's zone; boundaries come from zoneinfo,
  so DST jumps (where a zone has them) are handled: a skipped hour never happens, a repeated
  hour is charged at its period's price both times.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Shanghai"
CURRENCY = "CNY"
DAY_MIN = 24 * 60
MINUTE_MS = 60_000
_HHMM = re.compile(r"^(\d{2}):(\d{2})$")
_MS = timedelta(milliseconds=1)
E4_PER_FEN = 100  # a price in fen per kWh is this many _e4 units
E4_DIVISOR = 100_000  # fen = Wh × price_e4 / 100,000 (kWh = 1000 Wh, CNY = 100 fen, e4 = 10^4)
MAX_PRICE_E4 = 10**6  # 100 CNY/kWh: far above any real tariff; catches a price sent in the wrong unit
MAX_FEN = 10**9  # money bounds of Revision 1.1
MAX_MINUTES = 10**6


class TariffError(ValueError):
    """A tariff that cannot be used; the message names the period/key and what to write."""


class EnergyRegisterError(ValueError):
    """A lifetime energy register went backwards: never counted as negative energy."""


def round_half_up(numerator: int, denominator: int) -> int:
    """round(n / d) with halves going up, for n ≥ 0, d > 0 (exact integers, no floats)."""
    return (2 * numerator + denominator) // (2 * denominator)


def fen_for(wh: int, fen_per_kwh: int) -> int:
    """Fen for `wh` at a whole-fen price; equal to fen_e4(wh, fen_per_kwh × 100)."""
    return round_half_up(wh * fen_per_kwh, 1000)


def fen_e4(wh: int, price_e4: int) -> int:
    """Fen for `wh` at a price in CNY/kWh × 10,000, rounded half up once."""
    return round_half_up(wh * price_e4, E4_DIVISOR)


def _parse_hhmm(value: Any, where: str, key: str) -> int:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise TariffError(f'{where}: {key} {value!r} must be "HH:MM", e.g. "08:00"')
    hours, minutes = int(match[1]), int(match[2])
    if key == "end" and (hours, minutes) == (24, 0):
        return DAY_MIN
    if hours > 23 or minutes > 59:
        hint = ' (end of day: "24:00" or "00:00")' if key == "end" else ""
        raise TariffError(f"{where}: {key} {value!r} is not a time of day 00:00–23:59{hint}")
    minute = hours * 60 + minutes
    return DAY_MIN if key == "end" and minute == 0 else minute


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@dataclass(frozen=True, slots=True)
class Period:
    start: str  # "HH:MM" local
    end: str  # "HH:MM" local; "24:00" or "00:00" = end of day; before start = wraps midnight
    name: str
    energy_price_e4: int  # electricity, CNY per kWh × 10,000
    service_price_e4: int  # service, CNY per kWh × 10,000

    @property
    def price_e4(self) -> int:
        return self.energy_price_e4 + self.service_price_e4

    @property
    def energy_fen_per_kwh(self) -> int | None:
        """The electricity price in whole fen per kWh; None when it has a fraction of a fen."""
        return _whole_fen(self.energy_price_e4)

    @property
    def service_fen_per_kwh(self) -> int | None:
        return _whole_fen(self.service_price_e4)

    @property
    def price_fen_per_kwh(self) -> int | None:
        return _whole_fen(self.price_e4)

    @property
    def start_min(self) -> int:
        return _parse_hhmm(self.start, "period", "start")

    @property
    def end_min(self) -> int:
        """Exclusive end in minutes of the day, 1..1440."""
        return _parse_hhmm(self.end, "period", "end")

    def minutes(self) -> list[int]:
        """The minutes of the day it covers; start == end (mod 24 h) means all day."""
        start, end = self.start_min, self.end_min % DAY_MIN
        length = (end - start) % DAY_MIN or DAY_MIN
        return [(start + i) % DAY_MIN for i in range(length)]

    def to_dict(self) -> dict[str, Any]:
        """The `_e4` form, plus the whole-fen form where it is exact (for v1 peers that
        know only that one; the `_e4` form wins wherever both are read)."""
        out: dict[str, Any] = {
            "start": self.start,
            "end": self.end,
            "name": self.name,
            "energy_price_e4": self.energy_price_e4,
            "service_price_e4": self.service_price_e4,
        }
        for kind in ("energy", "service"):
            fen = getattr(self, f"{kind}_fen_per_kwh")
            if fen is not None:
                out[f"{kind}_fen_per_kwh"] = fen
        return out


def _whole_fen(price_e4: int) -> int | None:
    return price_e4 // E4_PER_FEN if price_e4 % E4_PER_FEN == 0 else None


def _price_e4(raw: Mapping[str, Any], where: str, kind: str) -> int:
    """A period's `kind` price in _e4 units: `<kind>_price_e4` wins over `<kind>_fen_per_kwh`."""
    e4_key, fen_key = f"{kind}_price_e4", f"{kind}_fen_per_kwh"
    if fen_key in raw:
        fen = raw[fen_key]
        if isinstance(fen, bool) or not isinstance(fen, int) or not 0 <= fen <= MAX_PRICE_E4 // 100:
            raise TariffError(
                f"{where}: {fen_key} must be a whole number of fen per kWh, 0 or more "
                f"(e.g. 85 for 0.85 CNY/kWh; for prices like 0.6855 use {e4_key}: 6855), "
                f"not {fen!r}"
            )
    if e4_key in raw:
        value = raw[e4_key]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE_E4:
            raise TariffError(
                f"{where}: {e4_key} must be a whole number, CNY per kWh × 10,000 "
                f"(e.g. 6855 for 0.6855 CNY/kWh), 0 to {MAX_PRICE_E4}, not {value!r}"
            )
        return value
    if fen_key in raw:
        return raw[fen_key] * E4_PER_FEN
    raise TariffError(f"{where}: missing {fen_key!r} (or {e4_key!r}: CNY per kWh × 10,000)")


def _period_from_dict(raw: Any, index: int) -> Period:
    where = f"periods[{index}]"
    if not isinstance(raw, Mapping):
        raise TariffError(f"{where} must be an object with start, end, name and prices")
    name = raw.get("name")
    if isinstance(name, str) and name:
        where = f"periods[{index}] ({name!r})"
    for key in ("start", "end", "name"):
        if key not in raw:
            raise TariffError(f"{where}: missing {key!r}")
    if not isinstance(name, str) or not name.strip():
        raise TariffError(f'{where}: name must be a non-empty string, e.g. "peak"')
    for key in ("start", "end"):
        _parse_hhmm(raw[key], where, key)
    energy = _price_e4(raw, where, "energy")
    service = _price_e4(raw, where, "service")
    return Period(raw["start"], raw["end"], name, energy, service)


def _bounded_int(raw: Mapping[str, Any], key: str, low: int, high: int, what: str) -> int:
    if key not in raw:
        raise TariffError(f"idle: missing {key!r} ({what})")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TariffError(f"idle: {key} must be a whole number {low} to {high} ({what}), not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class IdleFee:
    """占位费: after `grace_min` past the session's end, each started `step_min` the car stays
    plugged costs `fen_per_step`, at most `cap_fen` a session."""

    grace_min: int
    step_min: int
    fen_per_step: int
    cap_fen: int

    @classmethod
    def from_dict(cls, raw: Any) -> IdleFee:
        if not isinstance(raw, Mapping):
            raise TariffError(
                'idle must be an object {"grace_min","step_min","fen_per_step","cap_fen"}'
            )
        return cls(
            grace_min=_bounded_int(raw, "grace_min", 0, MAX_MINUTES, "minutes free after the end"),
            step_min=_bounded_int(raw, "step_min", 1, MAX_MINUTES, "minutes per charged step"),
            fen_per_step=_bounded_int(raw, "fen_per_step", 0, MAX_FEN, "fen per started step"),
            cap_fen=_bounded_int(raw, "cap_fen", 0, MAX_FEN, "most fen a session pays"),
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "grace_min": self.grace_min,
            "step_min": self.step_min,
            "fen_per_step": self.fen_per_step,
            "cap_fen": self.cap_fen,
        }

    def fen(self, ended_at_ms: int, released_at_ms: int) -> int:
        """The fee for a car unplugged at `released_at_ms` after a session that ended at
        `ended_at_ms`: each started step past the grace costs fen_per_step; capped."""
        charged_ms = released_at_ms - (ended_at_ms + self.grace_min * MINUTE_MS)
        if charged_ms <= 0:
            return 0
        step_ms = self.step_min * MINUTE_MS
        steps = -(-charged_ms // step_ms)  # every started step counts
        return min(steps * self.fen_per_step, self.cap_fen)


def idle_fen(idle: IdleFee | None, ended_at_ms: int, released_at_ms: int) -> int:
    """The idle fee under a tariff's `idle` (0 when the tariff has none)."""
    return 0 if idle is None else idle.fen(ended_at_ms, released_at_ms)


def _coverage(periods: tuple[Period, ...]) -> list[int]:
    """Which period covers each minute of the day; TariffError on any gap or overlap."""
    if not periods:
        raise TariffError("periods must list at least one period covering 00:00–24:00")
    owner: list[int | None] = [None] * DAY_MIN
    problems: list[str] = []

    def label(i: int) -> str:
        p = periods[i]
        return f"periods[{i}] ({p.name!r} {p.start}–{p.end})"

    for i, period in enumerate(periods):
        clashes: set[int] = set()
        for minute in period.minutes():
            other = owner[minute]
            if other is None:
                owner[minute] = i
            elif other not in clashes:  # report each overlapping pair once
                clashes.add(other)
                problems.append(
                    f"{label(other)} and {label(i)} overlap at {_fmt(minute)}: "
                    "make one end where the next starts"
                )
    minute = 0
    while minute < DAY_MIN:
        if owner[minute] is None:
            end = minute
            while end < DAY_MIN and owner[end] is None:
                end += 1
            problems.append(
                f"no period covers {_fmt(minute)}–{_fmt(end)}: add one or move an end; "
                "the periods must cover 24 h"
            )
            minute = end
        minute += 1
    if problems:
        raise TariffError("; ".join(problems))
    by_name: dict[str, Period] = {}
    for i, period in enumerate(periods):
        first = by_name.setdefault(period.name, period)
        if (first.energy_price_e4, first.service_price_e4) != (
            period.energy_price_e4,
            period.service_price_e4,
        ):
            raise TariffError(
                f"{label(i)} has other prices than an earlier period named {period.name!r}: "
                "periods that share a name must share prices; rename one"
            )
    return [o for o in owner if o is not None]


def _zone(tz: Any) -> ZoneInfo:
    if not isinstance(tz, str) or not tz:
        raise TariffError(f'tz must be an IANA time zone name such as "{DEFAULT_TZ}", not {tz!r}')
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise TariffError(f'tz {tz!r} is not a known time zone; write e.g. "{DEFAULT_TZ}"') from exc


@dataclass(frozen=True)
class Tariff:
    id: str
    periods: tuple[Period, ...]
    currency: str = CURRENCY
    tz: str = DEFAULT_TZ
    idle: IdleFee | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _owner: tuple[int, ...] = field(init=False, repr=False, compare=False)  # minute → period
    _run: tuple[int, ...] = field(init=False, repr=False, compare=False)  # minute → to change

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise TariffError(f"id must be a non-empty string, not {self.id!r}")
        if self.currency != CURRENCY:
            raise TariffError(
                f'currency must be "{CURRENCY}" (amounts are fen), not {self.currency!r}'
            )
        object.__setattr__(self, "periods", tuple(self.periods))
        object.__setattr__(self, "_zone", _zone(self.tz))
        owner = _coverage(self.periods)
        object.__setattr__(self, "_owner", tuple(owner))
        object.__setattr__(self, "_run", tuple(self._runs(owner)))

    def _runs(self, owner: list[int]) -> list[int]:
        """For each minute, minutes until the period name changes (0: the name never does)."""
        names = [self.periods[i].name for i in owner]
        if len(set(names)) == 1:
            return [0] * DAY_MIN
        run = [0] * DAY_MIN
        # Walk backwards twice round the day so that runs crossing midnight are counted.
        for step in range(2 * DAY_MIN - 1, -1, -1):
            m, nxt = step % DAY_MIN, (step + 1) % DAY_MIN
            run[m] = 1 if names[nxt] != names[m] else run[nxt] + 1
        return run

    # -- (de)serialisation -------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Tariff:
        if not isinstance(d, Mapping):
            raise TariffError("a tariff must be an object with id, currency, periods")
        for key in ("id", "periods"):
            if key not in d:
                raise TariffError(f"missing {key!r}")
        raw_periods = d["periods"]
        if not isinstance(raw_periods, list | tuple):
            raise TariffError("periods must be a list of {start, end, name, prices} objects")
        periods = tuple(_period_from_dict(p, i) for i, p in enumerate(raw_periods))
        idle = d.get("idle")
        return cls(
            id=d["id"],
            periods=periods,
            currency=d.get("currency", CURRENCY),
            tz=d.get("tz", DEFAULT_TZ),
            idle=None if idle is None else IdleFee.from_dict(idle),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "currency": self.currency,
            "tz": self.tz,
            "periods": [p.to_dict() for p in self.periods],
        }
        if self.idle is not None:
            out["idle"] = self.idle.to_dict()
        return out

    # -- time ----------------------------------------------------------------------------

    def _offset_ms(self, ts_ms: int) -> int:
        local = datetime.fromtimestamp(ts_ms // 1000, tz=self._zone)
        offset = local.utcoffset()
        assert offset is not None
        return offset // _MS

    def _minute(self, ts_ms: int, offset_ms: int | None = None) -> int:
        if offset_ms is None:
            offset_ms = self._offset_ms(ts_ms)
        return ((ts_ms + offset_ms) // MINUTE_MS) % DAY_MIN

    def period_at(self, ts_ms: int) -> Period:
        """The period in force at this instant (ms since the epoch, UTC)."""
        return self.periods[self._owner[self._minute(ts_ms)]]

    def name_at(self, ts_ms: int) -> str:
        return self.period_at(ts_ms).name

    def next_boundary(self, ts_ms: int) -> int | None:
        """The first instant after ts_ms (ms) where the period name changes; None if never.

        Adjacent periods with the same name are one period here. DST-safe: a candidate
        boundary is computed at the current UTC offset, and if the offset changes before
        it, the change instant is found by bisection and checked as a boundary itself.
        """
        if self._run[0] == 0:
            return None
        current = self.name_at(ts_ms)
        t = ts_ms
        for _ in range(16):  # a few offset changes at most; the loop always returns
            offset = self._offset_ms(t)
            wall_min = (t + offset) // MINUTE_MS
            candidate = (wall_min + self._run[wall_min % DAY_MIN]) * MINUTE_MS - offset
            if self._offset_ms(candidate) == offset:
                return candidate
            lo, hi = t, candidate  # offset(lo) == offset != offset(hi)
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if self._offset_ms(mid) == offset:
                    lo = mid
                else:
                    hi = mid
            if self.name_at(hi) != current:
                return hi
            t = hi
        raise AssertionError("next_boundary did not converge")  # pragma: no cover

    def segments(self, t0_ms: int, t1_ms: int) -> list[tuple[str, int, int]]:
        """[(name, start, end), …] covering [t0, t1), cut at every boundary in between."""
        out: list[tuple[str, int, int]] = []
        t = t0_ms
        while t < t1_ms:
            nb = self.next_boundary(t)
            end = t1_ms if nb is None or nb >= t1_ms else nb
            out.append((self.name_at(t), t, end))
            t = end
        return out

    def prices(self, name: str) -> Period:
        for period in self.periods:
            if period.name == name:
                return period
        raise KeyError(name)

    def names(self) -> list[str]:
        """Period names in the order the tariff first lists them (a bill's line order)."""
        seen: list[str] = []
        for period in self.periods:
            if period.name not in seen:
                seen.append(period.name)
        return seen


# -- cost ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostLine:
    """One period name of a bill: its energy and its two fees, each rounded once."""

    name: str
    wh: int
    energy_fen: int  # 电费
    service_fen: int  # 服务费

    @property
    def fen(self) -> int:
        return self.energy_fen + self.service_fen

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "wh": self.wh,
            "energy_fen": self.energy_fen,
            "service_fen": self.service_fen,
        }


def cost_line(period: Period, wh: int) -> CostLine:
    return CostLine(
        period.name, wh, fen_e4(wh, period.energy_price_e4), fen_e4(wh, period.service_price_e4)
    )


def cost_lines(tariff: Tariff, wh_by_name: Mapping[str, int]) -> list[CostLine]:
    """The bill's lines for energy already split by period name (zero-Wh names left out)."""
    unknown = set(wh_by_name) - set(tariff.names())
    if unknown:
        raise KeyError(f"period names not in tariff {tariff.id!r}: {sorted(unknown)}")
    return [
        cost_line(tariff.prices(name), wh_by_name[name])
        for name in tariff.names()
        if wh_by_name.get(name)
    ]


def split_energy(tariff: Tariff, t0_ms: int, t1_ms: int, wh: int) -> dict[str, int]:
    """Split `wh` measured over [t0, t1] across periods by time, exactly (no Wh lost).

    Cumulative rounding: the energy up to each boundary is round_half_up(wh × elapsed /
    duration); each part is the difference, so the parts are ≥ 0 and sum to `wh`.
    A zero or negative interval (clock stepped back) goes to the period at t1.
    """
    out: dict[str, int] = {}
    if wh == 0:
        return out
    duration = t1_ms - t0_ms
    if duration <= 0:
        return {tariff.name_at(t1_ms): wh}
    done = 0
    for name, _, end in tariff.segments(t0_ms, t1_ms):
        upto = round_half_up(wh * (end - t0_ms), duration)
        if upto > done:
            out[name] = out.get(name, 0) + upto - done
            done = upto
    assert done == wh
    return out


class CostMeter:
    """Cost of one session so far, fed with the gun's lifetime energy register.

    Not thread-safe, no I/O. Persist with `to_dict()` and restore with `from_dict()`.
    """

    def __init__(self, tariff: Tariff, start_ts_ms: int, start_wh: int) -> None:
        _check_int("start_ts_ms", start_ts_ms)
        _check_int("start_wh", start_wh, minimum=0)
        self.tariff = tariff
        self.start_ts_ms = start_ts_ms
        self.start_wh = start_wh
        self.last_ts_ms = start_ts_ms
        self.last_wh = start_wh
        self._wh: dict[str, int] = {}

    def feed(self, ts_ms: int, energy_total_wh: int) -> int:
        """Count the energy since the previous reading; returns the Wh added.

        Raises EnergyRegisterError (state unchanged) if the register went backwards: the
        gateway decides what that means (pile replaced → `rebase`, or a fault).
        """
        _check_int("ts_ms", ts_ms)
        _check_int("energy_total_wh", energy_total_wh, minimum=0)
        delta = energy_total_wh - self.last_wh
        if delta < 0:
            raise EnergyRegisterError(
                f"energy register went backwards: {self.last_wh} Wh → {energy_total_wh} Wh"
            )
        for name, wh in split_energy(self.tariff, self.last_ts_ms, ts_ms, delta).items():
            self._wh[name] = self._wh.get(name, 0) + wh
        self.last_ts_ms, self.last_wh = ts_ms, energy_total_wh
        return delta

    def rebase(self, ts_ms: int, energy_total_wh: int) -> None:
        """Continue from a new register origin (pile reset/replaced) without counting a jump."""
        _check_int("ts_ms", ts_ms)
        _check_int("energy_total_wh", energy_total_wh, minimum=0)
        self.start_wh += energy_total_wh - self.last_wh
        self.last_ts_ms, self.last_wh = ts_ms, energy_total_wh

    @property
    def energy_wh(self) -> int:
        return sum(self._wh.values())

    @property
    def wh_by_period(self) -> dict[str, int]:
        return {name: self._wh[name] for name in self._names() if self._wh.get(name)}

    def _names(self) -> list[str]:
        return self.tariff.names()

    def lines(self) -> list[CostLine]:
        """Per period name with energy: Wh, electricity fen, service fen (each rounded once)."""
        return cost_lines(self.tariff, self._wh)

    def period_fen(self, name: str) -> int:
        return cost_line(self.tariff.prices(name), self._wh.get(name, 0)).fen

    @property
    def cost_fen(self) -> int:
        """The sum of the lines: Σ round_half_up(wh × energy_e4) + round_half_up(wh × service_e4)."""
        return sum(line.fen for line in self.lines())

    def breakdown(self) -> dict[str, dict[str, int]]:
        """Per period name: wh, energy_fen, service_fen (the lines as a dict)."""
        return {
            line.name: {"wh": line.wh, "energy_fen": line.energy_fen, "service_fen": line.service_fen}
            for line in self.lines()
        }

    @classmethod
    def replay(
        cls,
        tariff: Tariff,
        start_ts_ms: int,
        start_wh: int,
        readings: Iterable[tuple[int, int]],
    ) -> CostMeter:
        """A meter rebuilt from recorded (ts, lifetime register Wh) readings, in order.

        A reading whose register is below the previous one is skipped, as the live meter
        does (EnergyRegisterError), so replaying what was recorded gives the same split.
        """
        meter = cls(tariff, start_ts_ms, start_wh)
        for ts_ms, energy_wh in readings:
            try:
                meter.feed(max(ts_ms, meter.last_ts_ms), energy_wh)
            except EnergyRegisterError:
                continue
        return meter

    def to_dict(self) -> dict[str, Any]:
        return {
            "tariff": self.tariff.to_dict(),
            "start_ts_ms": self.start_ts_ms,
            "start_wh": self.start_wh,
            "last_ts_ms": self.last_ts_ms,
            "last_wh": self.last_wh,
            "wh": self.wh_by_period,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostMeter:
        try:
            meter = cls(Tariff.from_dict(d["tariff"]), d["start_ts_ms"], d["start_wh"])
            _check_int("last_ts_ms", d["last_ts_ms"])
            _check_int("last_wh", d["last_wh"], minimum=0)
            raw_wh = d["wh"]
        except KeyError as exc:
            raise ValueError(f"cost meter state lacks {exc.args[0]!r}") from None
        names = set(meter._names())
        for name, wh in dict(raw_wh).items():
            if name not in names:
                raise ValueError(f"cost meter state names period {name!r}, not in its tariff")
            _check_int(f"wh[{name!r}]", wh, minimum=0)
        meter.last_ts_ms, meter.last_wh = d["last_ts_ms"], d["last_wh"]
        meter._wh = {name: wh for name, wh in dict(raw_wh).items() if wh}
        if meter.energy_wh != meter.last_wh - meter.start_wh:
            raise ValueError(
                f"cost meter state is inconsistent: periods hold {meter.energy_wh} Wh, "
                f"registers say {meter.last_wh - meter.start_wh} Wh"
            )
        return meter


def _check_int(key: str, value: Any, minimum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, not {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} must be {minimum} or more, not {value}")


def wh_until_amount(meter: CostMeter, amount_fen: int, ts_ms: int) -> int | None:
    """More Wh (beyond meter.last_wh) that can be delivered before cost would exceed amount.

    Priced at the period in force at ts_ms; valid until `tariff.next_boundary(ts_ms)`, so
    call it again on every reading. Exact: at last_wh + result the cost is ≤ amount_fen, one
    Wh more may exceed it. 0: stop now. None: the current period is free (no limit from it).
    """
    name = meter.tariff.name_at(ts_ms)
    period = meter.tariff.prices(name)
    left = amount_fen - sum(meter.period_fen(n) for n in meter.wh_by_period if n != name)
    have = meter._wh.get(name, 0)
    if left < 0 or cost_line(period, have).fen > left:
        return 0
    if period.price_e4 == 0:
        return None
    # The line's fen is non-decreasing in Wh, and at most one fen below w × price_e4 / 10^5
    # (two halves rounded), so the largest w with fen(w) ≤ left is below `hi`.
    lo, hi = have, (left + 1) * E4_DIVISOR // period.price_e4 + 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cost_line(period, mid).fen <= left:
            lo = mid
        else:
            hi = mid
    return lo - have


def largest_true(ok: Any, hi: int) -> int:
    """The largest w in [0, hi) with ok(w), for ok true at 0 and monotone (true, then false)."""
    lo = 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


def wh_within_amount_any_split(meter: CostMeter, amount_fen: int, names: Iterable[str]) -> int | None:
    """More Wh (beyond meter.last_wh) that keep the cost ≤ amount_fen however they are split
    among the period `names` (the energy of one reading interval that straddles a boundary
    is split by time, which the gateway cannot know before the next reading). None: all
    those periods are free.

    Safe by construction, not exact: with a = the Wh a name gets and x its price per Wh,
    round_half_up(y + a·x) ≤ round_half_up(y) + ⌈a·x⌉, and over k names with Σa = w,
    Σ⌈a·x⌉ ≤ ⌈w·max x⌉ + k − 1. So the cost is at most the cost now +
    ⌈w·max energy⌉ + ⌈w·max service⌉ + 2(k − 1) fen, and this returns the largest w whose
    bound is ≤ amount_fen.
    """
    prices = [meter.tariff.prices(n) for n in set(names)]
    energy = max(p.energy_price_e4 for p in prices)
    service = max(p.service_price_e4 for p in prices)
    left = amount_fen - meter.cost_fen - 2 * (len(prices) - 1)
    if energy + service == 0:
        return None
    if left < 0:
        return 0

    def ok(w: int) -> bool:
        return -(-w * energy // E4_DIVISOR) - (-w * service // E4_DIVISOR) <= left

    return largest_true(ok, left * E4_DIVISOR // (energy + service) + 2)


def names_within(tariff: Tariff, t0_ms: int, t1_ms: int) -> list[str]:
    """The period names in force at some instant of [t0, t1]."""
    names = [tariff.name_at(t0_ms)]
    for name, _, _ in tariff.segments(t0_ms, t1_ms + 1):
        if name not in names:
            names.append(name)
    return names


def reachable_wh(max_power_w: int, ms: int) -> int:
    """The most Wh a gun rated `max_power_w` can deliver in `ms`, with room for a pile a little
    above its rating (as cloud.billing's plausibility check allows: 5 % + 20 Wh)."""
    return max_power_w * ms * 105 // (100 * 3_600_000) + 20


def amount_limit_wh(meter: CostMeter, amount_fen: int, guard_ms: int = 0,
                    max_power_w: int | None = None) -> int | None:
    """The amount stop: more Wh (beyond the meter's last reading) an amount session may take
    before its limit is next recomputed, `guard_ms` after that reading at the latest.

    Far from a period boundary: exact (`wh_until_amount`): the last whole Wh whose billed
    total, each line rounded as on the bill, is ≤ amount_fen. When the next boundary comes
    within guard_ms and the gun (rated `max_power_w`, when known) could reach that stop
    before the limit is recomputed, the energy up to the next reading may be split across
    the boundary either way: then no more than `wh_within_amount_any_split` allows over the
    periods of that window, so the bill stays within the amount whatever the split (and may
    end a few fen short, as the money runs out in that window). 0: stop now. None: free now
    and far from a priced period (no limit).
    """
    ts = meter.last_ts_ms
    exact = wh_until_amount(meter, amount_fen, ts)
    boundary = meter.tariff.next_boundary(ts)
    if exact == 0 or boundary is None or boundary - ts > guard_ms:
        return exact
    if exact is not None and max_power_w is not None and exact > reachable_wh(max_power_w, guard_ms):
        return exact  # out of reach before the next recomputation, which sees the boundary
    safe = wh_within_amount_any_split(meter, amount_fen, names_within(meter.tariff, ts, ts + guard_ms))
    if safe is None or exact is None:
        return exact if safe is None else safe
    return min(exact, safe)


__all__ = [
    "CURRENCY",
    "DEFAULT_TZ",
    "E4_DIVISOR",
    "CostLine",
    "CostMeter",
    "EnergyRegisterError",
    "IdleFee",
    "Period",
    "Tariff",
    "TariffError",
    "amount_limit_wh",
    "cost_line",
    "cost_lines",
    "fen_e4",
    "fen_for",
    "idle_fen",
    "names_within",
    "reachable_wh",
    "round_half_up",
    "split_energy",
    "wh_until_amount",
    "wh_within_amount_any_split",
]
