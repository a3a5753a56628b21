"""Trip planning for drivers (plain functions, no Flask request objects): the request checked,
the road chosen by what is configured, the stations near it gathered with their guns, load
level, occupancy (now and as forecast from history, cloud/occupancy) and prices ahead, and
the pure planner run over them.

    settings = TripSettings.from_settings(app.config)
    result = plan_trip(session, settings, body, now_ms())   # dict; raises TripError / InvalidField

Coordinates in and out are GCJ-02 (what the clients and AMap use); an OpenStreetMap graph is
WGS-84, converted at its edge with cloud.geo. Which road is used:
- `TRIPS_ROUTER` "amap" (or "auto" with `AMAP_KEY` set): AMap's driving route;
- "osm" (or "auto" with `TRIPS_OSM_FILE` set): the OpenStreetMap extract at that path, loaded
  once per process;
- "straight_line" (or "auto" with neither): the straight line × `TRIPS_DETOUR_FACTOR`, and the
  plan's `road.note` says so.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.drivers.errors import DriverError, InvalidField
from cloud.geo import gcj02_to_wgs84, wgs84_to_gcj02
from cloud.models import StationState
from cloud.occupancy import service as occupancy
from cloud.occupancy.forecast import Profile
from cloud.orders.models import Order
from cloud.recommend import progress
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from cloud.trips import corridor as corridors
from cloud.trips.amap import Amap, AmapConfig, AmapError
from cloud.trips.car import Car, CarError
from cloud.trips.graph import RoadGraph
from cloud.trips.planner import Candidate, Infeasible, PriceWindow, Request, plan

HORIZON_MS = 48 * 3600 * 1000  # prices looked ahead this far (no trip plans longer)
BUSY_STATES = frozenset({"charging", "suspended_ev", "suspended_evse", "finishing", "reserved"})
OUT_STATES = frozenset({"faulted", "unavailable"})
ROUTERS = ("auto", "osm", "amap", "straight_line")
RUNNING = ("created", "starting", "charging")  # orders whose session holds a gun


class TripError(DriverError):
    """A trip that cannot be routed: code trip_off_road, trip_no_route or trip_router_failed."""

    def __init__(self, code: str, detail: str = "", **facts: Any) -> None:
        super().__init__(detail, **facts)
        self.code = code


@dataclass(frozen=True)
class TripSettings:
    router: str = "auto"
    osm_file: str = ""
    amap: AmapConfig | None = None
    detour_factor: float = 1.3
    straight_speed_kmh: float = 80.0
    corridor_m: float = 10_000.0
    capped_power_pct: float = 50.0
    value_of_time_fen_per_h: int = 3_000
    reserve_ahead_s: float = 1_800.0

    @classmethod
    def from_settings(cls, cfg: Mapping[str, Any]) -> TripSettings:
        return cls(str(cfg.get("TRIPS_ROUTER", "auto")), str(cfg.get("TRIPS_OSM_FILE", "") or ""),
                   AmapConfig.from_settings(cfg), float(cfg.get("TRIPS_DETOUR_FACTOR", 1.3)),
                   float(cfg.get("TRIPS_STRAIGHT_SPEED_KMH", 80.0)), float(cfg.get("TRIPS_CORRIDOR_M", 10_000)),
                   float(cfg.get("TRIPS_CAPPED_POWER_PCT", 50.0)),
                   int(cfg.get("TRIPS_VALUE_OF_TIME_FEN_PER_H", 3_000)),
                   float(cfg.get("TRIPS_RESERVE_AHEAD_S", 1_800)))

    def road(self) -> str:
        if self.router != "auto":
            return self.router
        if self.amap is not None:
            return "amap"
        return "osm" if self.osm_file else "straight_line"


# --- the request ----------------------------------------------------------------------------
def _num(body: Mapping[str, Any], key: str, low: float, high: float, default: float | None = None) -> float:
    v = body.get(key, default)
    if v is None:
        raise InvalidField(f"{key} is required", field=key)
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not low <= v <= high:
        raise InvalidField(f"{key} must be a number {low:g}..{high:g}", field=key)
    return float(v)


def _point(body: Mapping[str, Any], key: str) -> tuple[float, float]:
    p = body.get(key)
    if not isinstance(p, Mapping) or set(p) - {"lat", "lng"}:
        raise InvalidField(f"{key} must be {{lat, lng}} (GCJ-02)", field=key)
    return _num(p, "lat", -90, 90), _num(p, "lng", -180, 180)


def _pairs(v: Any, key: str, xlo: float, xhi: float, ylo: float, yhi: float) -> tuple[tuple[float, float], ...]:
    if not isinstance(v, list) or not 1 <= len(v) <= 50:
        raise InvalidField(f"{key}: a list of 1..50 [x, y] pairs", field=key)
    out = []
    for p in v:
        ok = isinstance(p, list) and len(p) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in p)
        if not ok or not (xlo <= p[0] <= xhi and ylo < p[1] <= yhi):
            raise InvalidField(f"{key}: pairs [x {xlo:g}..{xhi:g}, y {ylo:g}..{yhi:g}]", field=key)
        out.append((float(p[0]), float(p[1])))
    return tuple(out)


CAR_KEYS = ("battery_kwh", "consumption", "max_dc_kw", "max_ac_kw", "curve", "charge_efficiency")
BODY_KEYS = ("origin", "destination", "car", "soc_pct", "min_arrival_soc_pct", "min_stop_soc_pct",
             "max_charge_soc_pct", "depart_at", "reserve")


def parse_car(raw: Any) -> Car:
    if not isinstance(raw, Mapping):
        raise InvalidField("car must be an object", field="car")
    for k in raw:
        if k not in CAR_KEYS:
            raise InvalidField(f"car: unknown field {k!r} (allowed: {', '.join(CAR_KEYS)})", field="car")
    cons = _pairs(raw.get("consumption", [[60, 140], [90, 165], [120, 210]]), "consumption", 0, 300, 0, 2000)
    curve = ()
    if "curve" in raw:
        pts = _pairs(raw["curve"], "curve", 0, 100, 0, 2000)
        curve = tuple((s / 100.0, kw) for s, kw in pts)
    try:
        return Car(battery_wh=_num(raw, "battery_kwh", 1, 500) * 1000, consumption=cons,
                   max_dc_kw=_num(raw, "max_dc_kw", 1, 2000, 60), max_ac_kw=_num(raw, "max_ac_kw", 1, 2000, 7),
                   curve=curve, charge_efficiency=_num(raw, "charge_efficiency", 0.5, 1, 0.95))
    except CarError as exc:
        raise InvalidField(f"car: {exc}", field="car") from None


# --- roads -----------------------------------------------------------------------------------
_graphs: dict[tuple[str, float], RoadGraph] = {}
_graph_lock = threading.Lock()


def osm_graph(path: str) -> RoadGraph:
    """The extract's graph, read once per process (and again when the file changes)."""
    from cloud.trips import osm

    try:
        key = (os.path.abspath(path), os.path.getmtime(path))
    except OSError:
        raise TripError("trip_router_failed", f"TRIPS_OSM_FILE {path!r} cannot be read") from None
    with _graph_lock:
        g = _graphs.get(key)
        if g is None:
            g = osm.load(path)
            _graphs.clear()
            _graphs[key] = g
    return g


def corridor(settings: TripSettings, origin: tuple[float, float], dest: tuple[float, float],
             points: Mapping[str, tuple[float, float]]) -> corridors.Corridor:
    road = settings.road()
    try:
        if road == "osm":
            if not settings.osm_file:
                raise TripError("trip_router_failed", "TRIPS_ROUTER is osm but TRIPS_OSM_FILE is not set")
            return corridors.from_graph(osm_graph(settings.osm_file), origin, dest, points,
                                        corridor_m=settings.corridor_m, to_graph=gcj02_to_wgs84,
                                        from_graph_=wgs84_to_gcj02)
        if road == "amap":
            if settings.amap is None:
                raise TripError("trip_router_failed", "TRIPS_ROUTER is amap but AMAP_KEY is not set")
            r = Amap(settings.amap).driving(origin, dest)
            return corridors.from_polyline(r.points, r.seg_len, r.seg_time, points,
                                           corridor_m=settings.corridor_m, detour_factor=settings.detour_factor)
    except corridors.RouteError as exc:
        raise TripError(f"trip_{exc.code}", str(exc), **exc.facts) from None
    except AmapError as exc:
        raise TripError("trip_router_failed", str(exc), retryable=exc.retryable) from None
    return corridors.straight_line(origin, dest, points, detour_factor=settings.detour_factor,
                                   speed_kmh=settings.straight_speed_kmh, corridor_m=settings.corridor_m)


ROAD_NOTES = {
    "osm": "OpenStreetMap road graph",
    "amap": "AMap driving route; the way to each station off it is estimated (straight line x detour factor)",
    "straight_line": "no road data configured: straight line x detour factor at an assumed speed",
}


# --- stations --------------------------------------------------------------------------------
def price_windows(s: Session, sid: str, start: int, end: int) -> tuple[PriceWindow, ...]:
    """The station's price periods from `start` to `end` (ms): the tariff in force walked
    period by period, switching at a scheduled tariff change."""
    out: list[PriceWindow] = []
    t = start
    while t < end and len(out) < 64:
        tariff = tariffs.in_force(s, sid, t)
        if tariff is None:
            change = tariffs.next_change(s, sid, t)
            if change is None or change.effective_from >= end:
                break
            t = change.effective_from
            continue
        change = tariffs.next_change(s, sid, t)
        stop = change.effective_from if change is not None and change.effective_from < end else end
        while t < stop and len(out) < 64:
            nb = tariff.next_boundary(t)
            until = stop if nb is None or nb >= stop else nb
            p = tariff.period_at(t)
            out.append(PriceWindow(t, None if (nb is None and change is None) else until, p.price_e4, p.name))
            t = until
    return tuple(out)


@dataclass(frozen=True)
class Live:
    """What tells when a busy gun frees: the stations' latest telemetry and running orders."""

    now: int
    telemetry: Mapping[str, Any]
    orders: Mapping[tuple[str, str], Order]

    @classmethod
    def read(cls, s: Session, sids: list[str], now: int) -> Live:
        """Two queries for all the stations."""
        tele = {r.sid: r.telemetry for r in s.scalars(select(StationState).where(StationState.sid.in_(sids)))}
        orders = {(o.sid, o.gun): o for o in s.scalars(
            select(Order).where(Order.sid.in_(sids), Order.state.in_(RUNNING)).order_by(Order.created_at))}
        return cls(now, tele, orders)

    def frees_at(self, sid: str, gun: Mapping[str, Any], price_e4: int | None) -> int:
        """When the busy gun is expected to free (cloud/recommend/progress.py)."""
        entry = stations.gun_entry(self.telemetry.get(sid), gun["gun"]) or {}
        o = self.orders.get((sid, gun["gun"]))
        return progress.expected_end(progress.Running(
            state=str(gun["state"]), power_w=stations.int_or_none(entry.get("power_w")),
            energy_wh=stations.int_or_none(entry.get("energy_wh")), soc=stations.int_or_none(entry.get("soc")),
            limit_mode=o.limit_mode if o else None, limit_value=o.limit_value if o else None,
            started_at=o.created_at if o else None, price_e4=price_e4), self.now)


def candidate(s: Session, view: Mapping[str, Any], start: int, end: int,
              forecast: Profile | None = None, live: Live | None = None) -> Candidate | None:
    """A station as the planner sees it: the most powerful kind of gun it has (DC before AC),
    how many of those are in service and how many busy (and when each is expected to free),
    and its occupancy forecast."""
    guns = [g for g in view["guns"] if g["state"] not in OUT_STATES and g.get("rated_power_w")]
    if not guns:
        return None

    def is_dc(g: Mapping[str, Any]) -> bool:
        return g["kind"] == "dc" or (g["kind"] is None and g["rated_power_w"] > 22_000)

    dc = [g for g in guns if is_dc(g)]
    pick = dc or guns
    busy = [g for g in pick if not g["free"]]
    prices = price_windows(s, view["sid"], start, end)
    until: tuple[int, ...] = ()
    if live is not None and busy and view["online"]:
        now_p = next((w.price_e4 for w in prices if w.covers(live.now)), None)
        until = tuple(live.frees_at(view["sid"], g, now_p) for g in busy)
    return Candidate(view["sid"], view["name"], view["lat"], view["lng"],
                     max(g["rated_power_w"] for g in pick) / 1000.0, bool(dc), len(pick), len(busy),
                     view["load_level"], view["online"], prices,
                     reservable=view["online"] and any(g["free"] for g in pick), occupancy=forecast,
                     busy_until=until)


# --- the plan --------------------------------------------------------------------------------
def plan_trip(s: Session, settings: TripSettings, body: Mapping[str, Any], now: int) -> dict[str, Any]:
    for k in body:
        if k not in BODY_KEYS:
            raise InvalidField(f"unknown field {k!r} (allowed: {', '.join(BODY_KEYS)})", field=k)
    origin, dest = _point(body, "origin"), _point(body, "destination")
    car = parse_car(body.get("car"))
    soc = _num(body, "soc_pct", 0, 100) / 100
    min_arr = _num(body, "min_arrival_soc_pct", 0, 90, 10) / 100
    min_stop = _num(body, "min_stop_soc_pct", 0, 90, 10) / 100
    max_charge = _num(body, "max_charge_soc_pct", 20, 100, 100) / 100
    if max_charge <= max(min_arr, min_stop):
        raise InvalidField("max_charge_soc_pct must be above both minimums", field="max_charge_soc_pct")
    depart = body.get("depart_at", now)
    if isinstance(depart, bool) or not isinstance(depart, int) or not now - 3_600_000 <= depart <= now + 7 * 86_400_000:
        raise InvalidField("depart_at: ms since the epoch, from an hour ago to a week ahead", field="depart_at")
    reserve = body.get("reserve", False)
    if not isinstance(reserve, bool):
        raise InvalidField("reserve must be true or false", field="reserve")
    direct_m = stations.haversine_m(*origin, *dest)
    if direct_m > 3_000_000:
        raise InvalidField("origin and destination more than 3,000 km apart", field="destination")

    pad = settings.corridor_m + 0.15 * direct_m  # a road strays from the straight line
    la0, la1 = min(origin[0], dest[0]), max(origin[0], dest[0])
    ln0, ln1 = min(origin[1], dest[1]), max(origin[1], dest[1])
    dlat = pad / 111_000
    dlng = pad / (111_000 * max(0.1, math.cos(math.radians((la0 + la1) / 2))))
    views = stations.stations_in_box(s, la0 - dlat, la1 + dlat, ln0 - dlng, ln1 + dlng)
    cor = corridor(settings, origin, dest, {v["sid"]: (v["lat"], v["lng"]) for v in views})
    cands = []
    near = [v for v in views if v["sid"] in cor.access]
    forecasts = occupancy.profiles(s, [v["sid"] for v in near]) if near else {}
    busy_sids = [v["sid"] for v in near if any(not g["free"] for g in v["guns"])]
    live = Live.read(s, busy_sids, now) if busy_sids else None
    for v in near:
        c = candidate(s, v, depart, depart + HORIZON_MS, forecasts.get(v["sid"]), live)
        if c is not None:
            cands.append(c)
    req = Request(soc_now=soc, min_arrival_soc=min_arr, min_stop_soc=min_stop, depart_ms=depart,
                  max_charge_soc=max_charge, value_of_time_fen_per_h=settings.value_of_time_fen_per_h,
                  reserve=reserve, reserve_ahead_s=settings.reserve_ahead_s,
                  capped_power_share=settings.capped_power_pct / 100, now_ms=now)
    result = plan(cor, car, cands, req)
    road = {"source": cor.source, "note": ROAD_NOTES[cor.source], "estimated_detours": cor.estimated_detours,
            "distance_m": round(cor.length_m), "drive_s": round(sum(cor.seg_time))}
    step = max(1, len(cor.points) // 200)
    polyline = [[round(a, 6), round(b, 6)] for a, b in cor.points[::step]]
    if polyline[-1] != [round(cor.points[-1][0], 6), round(cor.points[-1][1], 6)]:
        polyline.append([round(cor.points[-1][0], 6), round(cor.points[-1][1], 6)])
    if isinstance(result, Infeasible):
        return {"feasible": False, "reason": {"code": result.code, **result.facts}, "road": road,
                "polyline": polyline, "candidates": len(cands)}
    return {**result, "road": road, "polyline": polyline}
