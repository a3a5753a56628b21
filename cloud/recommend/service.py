"""Recommendations for drivers (plain functions, no Flask request objects): the candidates
near the driver gathered from the database in a fixed number of queries whatever their
count (stations, live state, guns, running orders, tariffs, the driver's history and
ratings, live reservations, the occupancy forecast, the weights), the pure scorer run over
them, the operators' weights read and changed (audited).

    settings = RecommendSettings.from_settings(app.config)
    result = recommend(session, settings, driver_id, Situation(lat, lng, now), radius_m=10_000)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.charging.models import OrderRating
from cloud.models import Gun, Station, StationState, now_ms
from cloud.occupancy import service as occupancy
from cloud.orders.models import Order
from cloud.recommend import messages, progress, roads, scorer
from cloud.recommend.models import TERM_COLUMNS, RecommendWeights
from cloud.reservations.models import LIVE, Reservation
from cloud.stations import service as stations
from cloud.tariffs.models import StationTariff, TariffVersion
from cloud.trips.service import TripSettings
from jcproto.tariff import Tariff

HORIZON_MS = 24 * 3_600_000  # prices looked ahead this far
OUT_STATES = frozenset({"faulted", "unavailable"})
RUNNING = ("created", "starting", "charging")


@dataclass(frozen=True)
class RecommendSettings:
    detour_factor: float = 1.3
    speed_kmh: float = 30.0
    value_of_time_fen_per_h: int = 3_000
    energy_wh: int = 30_000
    battery_wh: int = 60_000
    route_top_k: int = 5  # the stations a straight-line ranking put first that are routed by road
    trips: TripSettings | None = None  # the trip planner's router (None: straight line only)

    @classmethod
    def from_settings(cls, cfg: Mapping[str, Any]) -> RecommendSettings:
        return cls(float(cfg.get("RECOMMEND_DETOUR_FACTOR", 1.3)), float(cfg.get("RECOMMEND_SPEED_KMH", 30.0)),
                   int(cfg.get("RECOMMEND_VALUE_OF_TIME_FEN_PER_H", 3_000)),
                   int(cfg.get("RECOMMEND_ENERGY_WH", 30_000)), int(cfg.get("RECOMMEND_BATTERY_WH", 60_000)),
                   int(cfg.get("RECOMMEND_ROUTE_TOP_K", 5)), TripSettings.from_settings(cfg))

    def params(self) -> scorer.Params:
        return scorer.Params(value_of_time_fen_per_h=self.value_of_time_fen_per_h)

    def estimator(self) -> scorer.DriveEstimator:
        return scorer.StraightLine(self.detour_factor, self.speed_kmh)


class WeightsError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- the weights ------------------------------------------------------------------------------
def weights_row(s: Session) -> RecommendWeights | None:
    return s.get(RecommendWeights, "default")


def weights(s: Session) -> scorer.Weights:
    row = weights_row(s)
    if row is None:
        return scorer.Weights()
    return scorer.Weights(*(getattr(row, c) / 100 for c in TERM_COLUMNS))


def set_weights(s: Session, pct: Mapping[str, Any], *, actor: str, ip: str | None = None) -> RecommendWeights:
    """Store the weights (percent 0..1000 per term, all six), recorded in the audit log with
    the values before and after."""
    values: dict[str, int] = {}
    for term in scorer.TERMS:
        raw = pct.get(term)
        if isinstance(raw, str):
            raw = raw.strip()
            raw = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 4 else None
        if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 1000:
            raise WeightsError(term, f"{term}: a whole percent 0..1000")
        values[term] = raw
    row = weights_row(s)
    before = None
    if row is None:
        row = RecommendWeights(name="default")
        s.add(row)
    else:
        before = {t: getattr(row, f"{t}_pct") for t in scorer.TERMS}
    for term, v in values.items():
        setattr(row, f"{term}_pct", v)
    row.updated_by, row.updated_at = actor, now_ms()
    s.flush()
    audit.record(s, actor, "recommend.weights", "default", {"before": before, "after": values}, ip)
    return row


# --- prices ahead, for many stations at once --------------------------------------------------
def windows(assignments: list[tuple[int, Tariff]], start: int, end: int) -> tuple[scorer.PriceWindow, ...]:
    """The price periods from `start` to `end` given a station's assignments (effective from,
    tariff), sorted by time: the tariff in force walked period by period, switching at each
    scheduled change."""
    out: list[scorer.PriceWindow] = []
    t = start
    while t < end and len(out) < 64:
        current = [a for a in assignments if a[0] <= t]
        later = [a[0] for a in assignments if a[0] > t]
        change = later[0] if later else None
        if not current:
            if change is None or change >= end:
                break
            t = change
            continue
        tariff = current[-1][1]
        stop = change if change is not None and change < end else end
        while t < stop and len(out) < 64:
            nb = tariff.next_boundary(t)
            until = stop if nb is None or nb >= stop else nb
            p = tariff.period_at(t)
            out.append(scorer.PriceWindow(t, None if (nb is None and change is None) else until, p.price_e4, p.name))
            t = until
    return tuple(out)


def _prices(s: Session, sids: list[str], start: int, end: int) -> dict[str, tuple[scorer.PriceWindow, ...]]:
    """Two queries for all stations: their assignments, the tariff versions they name."""
    rows = list(s.scalars(select(StationTariff).where(StationTariff.sid.in_(sids))
                          .order_by(StationTariff.sid, StationTariff.effective_from)))
    ids = {r.tariff_id for r in rows}
    bodies = {v.tariff_id: Tariff.from_dict(v.body)
              for v in s.scalars(select(TariffVersion).where(TariffVersion.tariff_id.in_(ids)))} if ids else {}
    per: dict[str, list[tuple[int, Tariff]]] = {}
    for r in rows:
        if r.tariff_id in bodies:
            per.setdefault(r.sid, []).append((r.effective_from, bodies[r.tariff_id]))
    # only the latest assignment at or before `start` matters, and the ones after it
    out = {}
    for sid, a in per.items():
        first = max((i for i, x in enumerate(a) if x[0] <= start), default=0)
        out[sid] = windows(a[first:], start, end)
    return out


# --- the candidates ---------------------------------------------------------------------------
def candidates(s: Session, settings: RecommendSettings, driver_id: str, lat: float, lng: float,
               radius_m: int, now: int) -> list[scorer.Candidate]:
    la0, la1, ln0, ln1 = stations.bounding_box(lat, lng, radius_m)
    q = select(Station).where(Station.lat.is_not(None), Station.lat.between(la0, la1))
    if ln1 - ln0 < 360:
        q = q.where(Station.lng.between(ln0, ln1))
    rows = [st for st in s.scalars(q) if st.lng is not None
            and stations.haversine_m(lat, lng, st.lat, st.lng) <= radius_m]
    if not rows:
        return []
    sids = [st.sid for st in rows]
    states = {r.sid: r for r in s.scalars(select(StationState).where(StationState.sid.in_(sids)))}
    guns: dict[str, list[Gun]] = {}
    for g in s.scalars(select(Gun).where(Gun.sid.in_(sids))):
        guns.setdefault(g.sid, []).append(g)
    orders = {(o.sid, o.gun): o for o in s.scalars(
        select(Order).where(Order.sid.in_(sids), Order.state.in_(RUNNING)).order_by(Order.created_at))}
    prices = _prices(s, sids, now, now + HORIZON_MS)
    visits = dict(s.execute(select(Order.sid, func.count()).where(
        Order.driver_id == driver_id, Order.state == "settled", Order.sid.in_(sids)).group_by(Order.sid)).all())
    own = dict(s.execute(select(Order.sid, func.avg(OrderRating.stars))
                         .join(OrderRating, OrderRating.order_id == Order.order_id)
                         .where(OrderRating.driver_id == driver_id, Order.sid.in_(sids))
                         .group_by(Order.sid)).all())
    avg = {sid: (float(a), int(n)) for sid, a, n in s.execute(
        select(Order.sid, func.avg(OrderRating.stars), func.count())
        .join(OrderRating, OrderRating.order_id == Order.order_id)
        .where(Order.sid.in_(sids)).group_by(Order.sid)).all()}
    held = {(r.sid, r.gun): r for r in s.scalars(select(Reservation).where(
        Reservation.sid.in_(sids), Reservation.state.in_(LIVE), Reservation.until > now))}
    forecasts = occupancy.profiles(s, sids)
    out = []
    for st in rows:
        state = states.get(st.sid)
        tele = state.telemetry if state else None
        online = bool(state and state.online)
        level = stations.load_level(tele)
        now_w = scorer.price_at(prices.get(st.sid, ()), now)
        gl = []
        archive = {g.gun_id: g for g in guns.get(st.sid, [])}
        live = {gid: stations.gun_entry(tele, gid) for gid in archive}
        for gid, entry_ in (stations.guns_in(tele) or {}).items():
            live.setdefault(gid, entry_)
        for gid in sorted(live):
            row, entry = archive.get(gid), live[gid] or {}
            gstate = entry.get("state") or (row.state if row else None)
            rated = row.rated_power_w if row and row.rated_power_w else stations.int_or_none(entry.get("rated_power_w"))
            free = online and stations.is_free(entry or None)
            free_at = None
            if not free and gstate not in OUT_STATES:
                o = orders.get((st.sid, gid))
                free_at = progress.expected_end(progress.Running(
                    state=str(gstate), power_w=stations.int_or_none(entry.get("power_w")),
                    energy_wh=stations.int_or_none(entry.get("energy_wh")), soc=stations.int_or_none(entry.get("soc")),
                    limit_mode=o.limit_mode if o else None, limit_value=o.limit_value if o else None,
                    started_at=o.created_at if o else None, price_e4=now_w.price_e4 if now_w else None),
                    now, battery_wh=settings.battery_wh)
            res = held.get((st.sid, gid))
            if res is not None and res.driver_id == driver_id:
                gl.append(scorer.Gun(gid, rated, in_service=gstate not in OUT_STATES, free=online,
                                     mine_until=res.until))
            elif res is not None:
                # another driver's: free for this one only once it ends (the scorer compares
                # its end with the arrival)
                gl.append(scorer.Gun(gid, rated, in_service=gstate not in OUT_STATES, free=False,
                                     free_at=res.until if gstate == "reserved" else max(res.until, free_at or 0),
                                     reserved_until=res.until))
            else:
                gl.append(scorer.Gun(gid, rated, in_service=gstate not in OUT_STATES, free=free, free_at=free_at))
        a = avg.get(st.sid)
        o_stars = own.get(st.sid)
        out.append(scorer.Candidate(
            st.sid, st.name or st.sid, float(st.lat), float(st.lng), online, level, tuple(gl),
            prices.get(st.sid, ()), visits=int(visits.get(st.sid, 0)),
            own_stars=None if o_stars is None else float(o_stars),
            avg_stars=a[0] if a else None, ratings=a[1] if a else 0, occupancy=forecasts.get(st.sid)))
    return out


def recommend(s: Session, settings: RecommendSettings, driver_id: str, situation: scorer.Situation, *,
              radius_m: int = 10_000, limit: int = 10, lang: str = "zh-CN") -> dict[str, Any]:
    cands = candidates(s, settings, driver_id, situation.lat, situation.lng, radius_m, situation.now)
    w = weights(s)
    source, drive, routed = route_best(settings, cands, situation, w, radius_m)
    ranked = scorer.rank(cands, situation, w, settings.params(), drive, limit=limit)
    return {"recommendations": [view(r, lang, source if r.candidate.sid in routed else "straight_line")
                                for r in ranked],
            "weights": {t: w.of(t) for t in scorer.TERMS},
            "energy_wh": situation.energy_wh, "drive_estimate": source, "routed": len(routed),
            "time": situation.now}


def route_best(settings: RecommendSettings, cands: list[scorer.Candidate], situation: scorer.Situation,
               w: scorer.Weights, radius_m: int) -> tuple[str, scorer.DriveEstimator, set[str]]:
    """Bounded road routing: rank by the straight line first, then route only the best
    `route_top_k` stations that can charge now (by the trip planner's router); the rest keep
    the straight line. Returns (the router used, the estimator, the routed stations)."""
    straight = settings.estimator()
    if settings.trips is None or settings.route_top_k <= 0 or not cands:
        return "straight_line", straight, set()
    first = scorer.rank(cands, situation, w, settings.params(), straight, limit=len(cands))
    best = [r.candidate for r in first if r.available][: settings.route_top_k]
    # a road longer than three times the search radius is no way to a station inside it
    source, times = roads.drive_times(settings.trips, (situation.lat, situation.lng),
                                      {c.sid: (c.lat, c.lng) for c in best}, max_m=3.0 * radius_m)
    if not times:
        return source, straight, set()
    known = {(c.lat, c.lng): times[c.sid] for c in best if c.sid in times}
    return source, scorer.Known(known, straight), set(times)


def view(r: scorer.Ranked, lang: str, drive_source: str = "straight_line") -> dict[str, Any]:
    t = r.terms
    return {
        "rank": r.rank, "sid": r.candidate.sid, "name": r.candidate.name, "gun": r.gun.gun,
        "drive_source": drive_source, "reserved_by_me": r.gun.mine_until is not None,
        "lat": r.candidate.lat, "lng": r.candidate.lng,
        "available": r.available, "load_level": r.candidate.load_level,
        "distance_m": round(r.distance_m), "drive_s": round(t.drive_s), "arrival_at": r.arrival,
        "wait_s": round(t.wait_s), "start_at": r.start, "wait_history_s": round(t.wait_history_s),
        "busy_at_arrival_pct": None if t.busy_share is None else round(t.busy_share * 100),
        "price_e4": t.price_e4 if r.period else None, "period": r.period,
        "power_w": r.power_w, "charge_s": round(t.charge_s) if math.isfinite(t.charge_s) else None,
        "score": round(r.score, 1),
        "terms": {k: round(v, 1) for k, v in r.contributions.items()},
        "reasons": [{"key": x.key, "params": x.params, "effect": x.effect,
                     "text": messages.render(x.key, x.params, lang)} for x in r.reasons],
    }
