"""Occupancy forecast from history, pure (no I/O, no clock): how busy a station's guns usually
are by slot of the week (local time; 168 hours by default), from its past charging sessions,
and the expected wait at an arrival that blends what is known now with that forecast.

    obs = observe(intervals, guns, since, now, "Asia/Shanghai")   # per station
    net = network([obs, ...])                                     # all stations pooled
    prof = forecast(obs, net)                                     # the station's Profile
    prof.at(arrival_ms)                                           # share of guns busy then

Observation: the window is the last `weeks` weeks before `now` (cut at `since`, when the
station was created or first seen). It is split into instances of a slot (each hour of each
day); an instance counts only when it lies wholly inside the window. An instance's busy share
is the gun-time the sessions cover in it ÷ (guns × slot length), at most 1. An instance
`a` whole weeks old weighs `decay ** a`, so recent weeks count more.

Fallback (shrinkage, each level towards the one above by the amount of data behind it):
- network slot h: the pooled share of every station, (W_h·N_h + k_slot·typical) ÷ (W_h + k_slot);
- station level: its mean share over every instance, (T·M + k_mean·N̄) ÷ (T + k_mean), where
  T is the station's total instance weight and N̄ the network's mean over the week;
- station prior for slot h: the network's shape at the station's level, N_h × M' ÷ N̄;
- station slot h: (w_h·s_h + k_slot·prior_h) ÷ (w_h + k_slot).
With 8 weeks of history and decay 0.8 a slot holds w_h ≈ 4.2 weeks-equivalent, so its own
history makes ≈ 68 % of the forecast (k_slot = 2); one week of history makes a third.

Time zones: slots are local weekday and time of day (Monday 00:00 starts the week).
Holidays: a day that does not keep its weekday's routine counts as the weekday it is kept
like, in the history and at an arrival alike (`day_weekday`, China's official calendar as
the `holidays` package carries it): a public holiday or a day off in lieu as a Sunday, a
weekend day made a workday (调休) as a Wednesday, an ordinary workday.
Instances are aligned to multiples of the slot length in UTC, which are local slot
boundaries in any zone whose offset is a whole number of slots (Asia/Shanghai: +08:00,
no daylight saving time since 1991).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class Shape:
    """How the forecast is made (docs/trips.md, "Occupancy at arrival")."""

    slot_s: int = 3_600  # 3,600: 168 slots a week; 1,800: 336
    weeks: int = 8
    decay: float = 0.8  # a week older weighs this much less
    k_slot: float = 2.0  # prior strength of a slot, in weeks-equivalent
    k_mean_h: float = 24.0  # prior strength of a station's level, in hours of observation
    typical: float = 0.5  # the share busy when nothing at all is known
    max_session_ms: int = 12 * 3_600_000  # a session never ended is counted this long at most

    @property
    def slots(self) -> int:
        return 7 * 86_400 // self.slot_s


HOLIDAY_AS = 6  # a public holiday (or a day off in lieu) is kept like a Sunday
WORKDAY_AS = 2  # a weekend day made a workday like a Wednesday
_CALENDAR = holidays.China()  # fills in each year as it is asked (hence the lock)
_CALENDAR_LOCK = threading.Lock()


@lru_cache(maxsize=8_192)
def day_weekday(day: date) -> int:
    """The weekday (Monday 0) whose routine `day` follows in China."""
    with _CALENDAR_LOCK:
        if day in _CALENDAR:
            return HOLIDAY_AS
        if day.weekday() >= 5 and _CALENDAR.is_working_day(day):
            return WORKDAY_AS
    return day.weekday()


@lru_cache(maxsize=65_536)
def _slot(instance: int, slot_s: int, tz: str) -> int:
    mid = (instance * slot_s + slot_s // 2)  # seconds since the epoch, mid-slot
    d = datetime.fromtimestamp(mid, ZoneInfo(tz))
    return (day_weekday(d.date()) * 86_400 + d.hour * 3_600 + d.minute * 60 + d.second) // slot_s


def slot_of(t_ms: int, tz: str = "Asia/Shanghai", slot_s: int = 3_600) -> int:
    """The slot of the week (local time) holding the instant `t_ms`."""
    return _slot(t_ms // (slot_s * 1000), slot_s, tz)


@dataclass(frozen=True)
class Observed:
    """One station's history: per slot the weighted mean busy share and the weight behind it."""

    share: tuple[float, ...]
    weight: tuple[float, ...]

    @property
    def total(self) -> float:
        return sum(self.weight)

    @property
    def mean(self) -> float:
        t = self.total
        return sum(w * s for w, s in zip(self.weight, self.share, strict=True)) / t if t > 0 else 0.0


def observe(intervals: Iterable[tuple[int, int | None]], guns: int, since: int, now: int,
            tz: str = "Asia/Shanghai", shape: Shape = Shape()) -> Observed:
    """The station's history from its sessions' (start, end) in ms (end None: still running at
    `now`), for `guns` guns, observed from `since` until `now`."""
    slot_ms = shape.slot_s * 1000
    first = max(since, now - shape.weeks * WEEK_MS)
    i0 = -(-first // slot_ms)  # the first whole instance
    i1 = now // slot_ms  # instances before this one are complete
    n = shape.slots
    if i1 <= i0 or guns <= 0:
        return Observed((0.0,) * n, (0.0,) * n)
    busy = [0] * (i1 - i0)
    lo, hi = i0 * slot_ms, i1 * slot_ms
    for a, b in intervals:
        if b is None or b > now:
            b = now
        b = min(b, a + shape.max_session_ms)
        a, b = max(a, lo), min(b, hi)
        if b <= a:
            continue
        k = a // slot_ms
        while k * slot_ms < b:
            s0, s1 = max(a, k * slot_ms), min(b, (k + 1) * slot_ms)
            busy[k - i0] += s1 - s0
            k += 1
    cap = guns * slot_ms
    wsum, ssum = [0.0] * n, [0.0] * n
    for j, ms in enumerate(busy):
        inst = i0 + j
        age = (now - (inst + 1) * slot_ms) // WEEK_MS
        w = shape.decay ** age
        h = _slot(inst, shape.slot_s, tz)
        wsum[h] += w
        ssum[h] += w * min(1.0, ms / cap)
    return Observed(tuple(s / w if w > 0 else 0.0 for s, w in zip(ssum, wsum, strict=True)), tuple(wsum))


@dataclass(frozen=True)
class Profile:
    """The forecast share of guns busy by slot of the week, and the weeks-equivalent of the
    station's own history behind each slot (0: all from the fallback)."""

    share: tuple[float, ...]
    evidence: tuple[float, ...]
    tz: str = "Asia/Shanghai"
    slot_s: int = 3_600

    def at(self, t_ms: int) -> float:
        return self.share[slot_of(t_ms, self.tz, self.slot_s)]

    def evidence_at(self, t_ms: int) -> float:
        return self.evidence[slot_of(t_ms, self.tz, self.slot_s)]

    @property
    def mean(self) -> float:
        return sum(self.share) / len(self.share)


def network(stations: Sequence[Observed], tz: str = "Asia/Shanghai", shape: Shape = Shape()) -> Profile:
    """Every station's history pooled slot by slot, shrunk towards `typical` where thin."""
    n = shape.slots
    w, s = [0.0] * n, [0.0] * n
    for o in stations:
        for h in range(n):
            w[h] += o.weight[h]
            s[h] += o.weight[h] * o.share[h]
    share = tuple((s[h] + shape.k_slot * shape.typical) / (w[h] + shape.k_slot) for h in range(n))
    return Profile(share, tuple(w), tz, shape.slot_s)


def forecast(obs: Observed, net: Profile, shape: Shape = Shape()) -> Profile:
    """The station's forecast: its own history where it has some, the network's shape at the
    station's own level where it has little (module docstring)."""
    n = shape.slots
    k_mean = shape.k_mean_h * 3_600 / shape.slot_s
    nbar = net.mean
    level = (obs.total * obs.mean + k_mean * nbar) / (obs.total + k_mean)
    out = []
    for h in range(n):
        prior = min(1.0, net.share[h] * level / nbar) if nbar > 0 else level
        w = obs.weight[h]
        out.append((w * obs.share[h] + shape.k_slot * prior) / (w + shape.k_slot))
    return Profile(tuple(out), obs.weight, net.tz, shape.slot_s)


# --- the wait at an arrival ------------------------------------------------------------------
def lead_weight(lead_s: float, horizon_s: float) -> float:
    """How much what is known now still tells at an arrival `lead_s` ahead (1 now, 1/e at
    `horizon_s`); the rest of the weight goes to the forecast."""
    if horizon_s <= 0:
        return 0.0
    return math.exp(-max(lead_s, 0.0) / horizon_s)


def share_at_arrival(now_share: float, hist_share: float, lead_s: float, horizon_s: float) -> float:
    """The share of guns busy at the arrival: now's for near arrivals, the forecast's for far."""
    w = lead_weight(lead_s, horizon_s)
    return w * now_share + (1 - w) * hist_share


def wait_s(share: float, guns: int, session_s: float) -> float:
    """Expected wait for one of `guns` guns each busy with probability `share`: the chance all
    are busy times how soon one frees (a session's length ÷ guns)."""
    if guns <= 0:
        return math.inf
    return min(max(share, 0.0), 1.0) ** guns * session_s / guns
