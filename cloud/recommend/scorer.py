"""Where to charge now, pure: candidate guns with their facts in, a ranked list out with each
term's contribution and the reasons as message keys with parameters (no I/O, no clock).

Every term is a cost in fen-equivalents, lower is better, so the terms add up:
- distance: the drive there, in time (value of time per hour);
- price:    the energy wanted at the price in force when charging can start (arrival + wait);
- wait:     the time from arrival until the gun is expected to be free, in time: what is known
            now (a running session's expected end) plus, from the station's occupancy
            forecast (cloud/occupancy), the wait its usual occupancy at the arrival's hour
            means, weighted by how far ahead the arrival is (none now, most of it an hour on);
- power:    the time to charge the energy wanted at the effective power (rated, capped at the
            share the load level allows), in time;
- history:  a bonus per earlier session of this driver at the station (up to a cap) and the
            driver's own average stars there (3 stars is neutral);
- rating:   all drivers' average stars at the station (3 stars is neutral).
The score is the weighted sum; operators set the weights (1.0 = as is, 0 = ignored). A gun
that cannot start now (station offline or blocking new sessions, gun out of service) is
ranked after every available one, with the reason.

Drive time comes from a `DriveEstimator`: `StraightLine` (haversine × detour factor at an
assumed speed), or `Known` (the road router's times for some stations, the straight line for
the others; the service routes the best few of a straight-line ranking).

Reservations: a gun another driver holds past the driver's arrival cannot be had (ranked
after every available one, reason `reserved`); one held until before the arrival is free by
then. The driver's own reserved gun is theirs: it ranks first, reason `reserved_for_you`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from cloud.occupancy.forecast import Profile, lead_weight, wait_s

TERMS = ("distance", "price", "wait", "power", "history", "rating")
EARTH_RADIUS_M = 6_371_008.8
BLOCKING = frozenset({"blocked", "failsafe"})


@dataclass(frozen=True)
class Weights:
    distance: float = 1.0
    price: float = 1.0
    wait: float = 1.0
    power: float = 1.0
    history: float = 1.0
    rating: float = 1.0

    def __post_init__(self) -> None:
        for t in TERMS:
            v = getattr(self, t)
            if not (isinstance(v, int | float) and math.isfinite(v) and 0 <= v <= 10):
                raise ValueError(f"weight {t} must be 0..10")

    def of(self, term: str) -> float:
        return float(getattr(self, term))


@dataclass(frozen=True)
class Params:
    """Conversions of the terms into fen-equivalents (settings `RECOMMEND_*`)."""

    value_of_time_fen_per_h: int = 3_000
    capped_share: float = 0.5  # docs/load-control.md: capped → new sessions at 50 %
    fen_per_visit: int = 300
    max_visits: int = 5
    fen_per_star: int = 500
    cheaper_within_ms: int = 12 * 3_600_000  # a cheaper period this soon after the start is named
    session_s: float = 2_400.0  # how long a session ahead of the driver takes, on average
    occupancy_horizon_s: float = 1_800.0  # how fast what is known now gives way to the forecast


@dataclass(frozen=True)
class PriceWindow:
    """A stretch of constant price from `start` (ms) to `end` (ms, None: open)."""

    start: int
    end: int | None
    price_e4: int  # 1e-4 CNY per kWh, energy + service
    period: str


@dataclass(frozen=True)
class Gun:
    gun: str
    rated_power_w: int | None
    in_service: bool = True
    free: bool = True
    free_at: int | None = None  # busy: when its session is expected to end (ms)
    reserved_until: int | None = None  # held by another driver's reservation until then (ms)
    mine_until: int | None = None  # held by this driver's own reservation until then (ms)


@dataclass(frozen=True)
class Candidate:
    sid: str
    name: str
    lat: float  # GCJ-02
    lng: float
    online: bool
    load_level: str | None  # normal, capped, blocked, failsafe, None (no transformer meter)
    guns: tuple[Gun, ...]
    prices: tuple[PriceWindow, ...] = ()
    tz: str = "Asia/Shanghai"
    visits: int = 0  # this driver's settled sessions here
    own_stars: float | None = None  # this driver's average rating here
    avg_stars: float | None = None  # all drivers' average rating here
    ratings: int = 0
    occupancy: Profile | None = None  # the share of guns usually busy by hour of the week


@dataclass(frozen=True)
class Situation:
    lat: float  # GCJ-02
    lng: float
    now: int  # ms
    energy_wh: int = 30_000  # what the driver wants to charge
    max_power_w: int | None = None  # the car's limit, if given


class DriveEstimator(Protocol):
    def estimate(self, origin: tuple[float, float], dest: tuple[float, float]) -> tuple[float, float]:
        """(distance m, drive s) from origin to dest (both GCJ-02)."""
        ...


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class StraightLine:
    """Great-circle distance on GCJ-02 (city scale: off by far less than a metre per km) times
    a detour factor, at an assumed average city speed."""

    detour_factor: float = 1.3
    speed_kmh: float = 30.0

    def estimate(self, origin: tuple[float, float], dest: tuple[float, float]) -> tuple[float, float]:
        d = haversine_m(*origin, *dest) * self.detour_factor
        return d, d / (self.speed_kmh / 3.6)


@dataclass(frozen=True)
class Known:
    """Drive estimates a router found for some destinations; the others by `fallback`."""

    by_dest: dict[tuple[float, float], tuple[float, float]]
    fallback: DriveEstimator = field(default_factory=StraightLine)

    def estimate(self, origin: tuple[float, float], dest: tuple[float, float]) -> tuple[float, float]:
        got = self.by_dest.get(dest)
        return got if got is not None else self.fallback.estimate(origin, dest)


@dataclass(frozen=True)
class Terms:
    """One gun's facts as the terms see them."""

    drive_s: float
    wait_s: float
    price_e4: int
    charge_s: float  # math.inf when the gun cannot charge now
    visits: int = 0
    own_stars: float | None = None
    avg_stars: float | None = None
    wait_history_s: float = 0.0  # the part of wait_s that comes from the occupancy forecast
    busy_share: float | None = None  # the forecast share of guns busy at the arrival


def costs(t: Terms, energy_wh: int, p: Params) -> dict[str, float]:
    """Each term's cost in fen-equivalents (unweighted); every one rises as its fact worsens."""
    per_s = p.value_of_time_fen_per_h / 3600
    history = -min(max(t.visits, 0), p.max_visits) * p.fen_per_visit
    if t.own_stars is not None:
        history += (3 - t.own_stars) * p.fen_per_star
    return {
        "distance": t.drive_s * per_s,
        "price": energy_wh * t.price_e4 / 100_000,
        "wait": t.wait_s * per_s,
        "power": (t.charge_s * per_s) if math.isfinite(t.charge_s) else 0.0,
        "history": float(history),
        "rating": 0.0 if t.avg_stars is None else (3 - t.avg_stars) * p.fen_per_star,
    }


def score(t: Terms, energy_wh: int, w: Weights, p: Params) -> dict[str, float]:
    """Each term's weighted contribution (the score is their sum)."""
    return {k: w.of(k) * v for k, v in costs(t, energy_wh, p).items()}


@dataclass(frozen=True)
class Reason:
    key: str  # a message key (cloud/recommend/messages.py)
    params: dict[str, object]
    effect: str  # "+": speaks for it, "-": against, "!": a state the driver must know


@dataclass(frozen=True)
class Ranked:
    rank: int
    candidate: Candidate
    gun: Gun
    available: bool
    distance_m: float
    terms: Terms
    arrival: int
    start: int  # arrival + wait
    period: str | None
    power_w: int | None  # effective
    contributions: dict[str, float]
    score: float
    reasons: tuple[Reason, ...] = field(default=())


def price_at(prices: Sequence[PriceWindow], at: int) -> PriceWindow | None:
    for w in prices:
        if w.start <= at and (w.end is None or at < w.end):
            return w
    return None


def cheaper_after(prices: Sequence[PriceWindow], at: int, within_ms: int) -> PriceWindow | None:
    """The first window starting after `at` (and within `within_ms`) cheaper than the one at `at`."""
    now_w = price_at(prices, at)
    if now_w is None:
        return None
    for w in prices:
        if at < w.start <= at + within_ms and w.price_e4 < now_w.price_e4:
            return w
    return None


def effective_power(c: Candidate, g: Gun, s: Situation, p: Params) -> int | None:
    """What the gun can deliver to a new session now: None when it cannot start one."""
    if not c.online or c.load_level in BLOCKING or not g.in_service or not g.rated_power_w:
        return None
    w = g.rated_power_w
    if c.load_level == "capped":
        w = int(w * p.capped_share)
    if s.max_power_w:
        w = min(w, s.max_power_w)
    return max(w, 1)


def facts(c: Candidate, g: Gun, s: Situation, drive: DriveEstimator, p: Params
          ) -> tuple[Terms, float, int, int, PriceWindow | None, int | None]:
    """(terms, distance m, arrival ms, start ms, price window at start, effective power W)."""
    dist, drive_s = drive.estimate((s.lat, s.lng), (c.lat, c.lng))
    arrival = s.now + round(drive_s * 1000)
    held = g.reserved_until is not None and g.reserved_until > arrival  # another's, still at arrival
    if g.free or g.mine_until is not None:
        wait_ms = 0
    else:
        wait_ms = max(0, (g.free_at if g.free_at is not None else arrival) - arrival)
    hist_ms, share = 0, None
    if c.occupancy is not None:
        share = c.occupancy.at(arrival)  # shown whenever there is a forecast (docs/recommend.md)
    if share is not None and g.mine_until is None:
        # the station's usual occupancy at the arrival's hour, for what now cannot tell
        n = sum(1 for x in c.guns if x.in_service)
        far = 1 - lead_weight(drive_s, p.occupancy_horizon_s)
        hist_ms = round(far * wait_s(share, max(n, 1), p.session_s) * 1000)
    start = arrival + wait_ms + hist_ms
    win = price_at(c.prices, start)
    power = None if held else effective_power(c, g, s, p)
    charge_s = math.inf if power is None else s.energy_wh / power * 3600
    price = win.price_e4 if win is not None else 0
    return (Terms(drive_s, (wait_ms + hist_ms) / 1000, price, charge_s, c.visits, c.own_stars, c.avg_stars,
                  hist_ms / 1000, share),
            dist, arrival, start, win, power)


def rank(cands: Sequence[Candidate], s: Situation, w: Weights, p: Params = Params(),
         drive: DriveEstimator | None = None, *, limit: int = 20) -> list[Ranked]:
    """Every gun scored; the best gun of each station kept; available before unavailable,
    then by score, then nearer, then by station and gun id (a stable order)."""
    drive = drive or StraightLine()
    best: dict[str, Ranked] = {}
    for c in cands:
        for g in c.guns:
            t, dist, arrival, start, win, power = facts(c, g, s, drive, p)
            if win is None and power is not None:
                continue  # no price: it cannot bill, so it is no place to charge
            contrib = score(t, s.energy_wh, w, p)
            r = Ranked(0, c, g, power is not None, dist, t, arrival, start, win.period if win else None,
                       power, contrib, sum(contrib.values()))
            old = best.get(c.sid)
            if old is None or _key(r) < _key(old):
                best[c.sid] = r
    ordered = sorted(best.values(), key=_key)[:limit]
    avail = [r for r in ordered if r.available]
    out = []
    for i, r in enumerate(ordered, 1):
        out.append(replace(r, rank=i, reasons=tuple(reasons(r, avail, s, p))))
    return out


def _key(r: Ranked) -> tuple[int, float, float, str, str]:
    group = (0 if r.gun.mine_until is not None else 1) if r.available else 2  # the driver's own reservation first
    return (group, r.score, r.distance_m, r.candidate.sid, r.gun.gun)


USUALLY_BUSY = 0.5  # the forecast share from which a station is "usually busy" (as the trip page)


def _hhmm(ms: int, tz: str) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo(tz)).strftime("%H:%M")


def _yuan(price_e4: int) -> str:
    return f"{price_e4 / 10_000:.2f}"


def reasons(r: Ranked, field_: Sequence[Ranked], s: Situation, p: Params, top: int = 3) -> list[Reason]:
    """Why `r` ranks where it does: the states a driver must know first (offline, blocked,
    capped, a cheaper period soon), then the terms where it differs most from the mean of the
    available results, for or against."""
    c = r.candidate
    out: list[Reason] = []
    if not c.online:
        out.append(Reason("offline", {}, "!"))
    elif c.load_level in BLOCKING:
        out.append(Reason("blocked", {}, "!"))
    elif not r.gun.in_service:
        out.append(Reason("out_of_service", {}, "!"))
    elif not r.available and r.gun.reserved_until is not None:
        out.append(Reason("reserved", {"time": _hhmm(r.gun.reserved_until, c.tz)}, "!"))
    if not r.available:
        return out
    if r.gun.mine_until is not None:
        out.append(Reason("reserved_for_you", {"time": _hhmm(r.gun.mine_until, c.tz)}, "!"))
    if c.load_level == "capped":
        out.append(Reason("capped", {"pct": round(p.capped_share * 100)}, "!"))
    cheaper = cheaper_after(c.prices, r.start, p.cheaper_within_ms)
    if cheaper is not None:
        out.append(Reason("cheaper_from", {"time": _hhmm(cheaper.start, c.tz), "period": cheaper.period,
                                           "price": _yuan(cheaper.price_e4)}, "!"))
    others = [o for o in field_ if o.candidate.sid != c.sid] or [r]
    diffs = []
    for term in TERMS:
        mean = sum(o.contributions[term] for o in others) / len(others)
        d = mean - r.contributions[term]
        if abs(d) >= 1.0:  # under one fen-equivalent is no reason
            diffs.append((abs(d), term, "+" if d > 0 else "-"))
    diffs.sort(key=lambda x: (-x[0], TERMS.index(x[1])))
    told = 0
    for _, term, effect in diffs:
        reason = _term_reason(term, effect, r)
        if reason is not None and told < top:
            out.append(reason)
            told += 1
    return out


def _term_reason(term: str, effect: str, r: Ranked) -> Reason | None:
    t, c = r.terms, r.candidate
    if term == "distance":
        return Reason("near" if effect == "+" else "far",
                      {"km": f"{r.distance_m / 1000:.1f}", "min": max(1, round(t.drive_s / 60))}, effect)
    if term == "price":
        return Reason("price", {"price": _yuan(t.price_e4), "period": r.period or "",
                                "time": _hhmm(r.start, c.tz)}, effect)
    if term == "wait":
        if (effect == "-" and t.busy_share is not None and t.busy_share >= USUALLY_BUSY
                and t.wait_history_s >= max(60.0, t.wait_s / 2)):
            # the wait is mostly the station's habit at that hour, not what is seen now; a
            # one-gun station waits a few minutes at 10 % too, which is no "usually busy"
            return Reason("usually_busy", {"time": _hhmm(r.arrival, c.tz), "pct": round(t.busy_share * 100),
                                           "min": round(t.wait_s / 60)}, effect)
        if t.wait_s < 60:
            return Reason("free_now", {"free": sum(1 for g in c.guns if g.free and g.in_service)}, effect)
        return Reason("wait", {"min": round(t.wait_s / 60)}, effect)
    if term == "power":
        return Reason("power", {"kw": round((r.power_w or 0) / 1000, 1), "min": round(t.charge_s / 60)}, effect)
    if term == "history":
        if t.own_stars is not None and (effect == "-" or t.visits == 0):
            return Reason("own_rating", {"stars": f"{t.own_stars:.1f}"}, effect)
        return Reason("visits", {"n": t.visits}, effect) if t.visits else None
    if term == "rating" and t.avg_stars is not None:
        return Reason("rating", {"stars": f"{t.avg_stars:.1f}", "n": c.ratings}, effect)
    return None
