"""Drive times by road for the recommendations: the trip planner's router, whichever is
configured (`TRIPS_ROUTER`, cloud/trips/service.py): the OpenStreetMap graph (one search from
the driver to all the stations asked, bounded by road length), AMap's driving route (one call
per station), or none (the straight line). Only the few stations a straight-line ranking put
first are routed (`RECOMMEND_ROUTE_TOP_K`): the work stays bounded whatever the candidates.

    source, times = drive_times(trip_settings, (lat, lng), {sid: (lat, lng)}, max_m)
    # source: "osm" | "amap" | "straight_line"; times: {sid: (metres, seconds)}, routed ones only
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cloud.geo import gcj02_to_wgs84
from cloud.trips.amap import Amap, AmapError
from cloud.trips.service import TripError, TripSettings, osm_graph

log = logging.getLogger("jc.recommend")

SNAP_MAX_M = 2_000.0  # a point further than this from any road is not routed
SNAP_SPEED_MS = (
    15 / 3.6
)  # the bit between a point and its nearest road node, at walking-pace traffic


def drive_times(
    settings: TripSettings,
    origin: tuple[float, float],
    dests: Mapping[str, tuple[float, float]],
    max_m: float,
) -> tuple[str, dict[str, tuple[float, float]]]:
    """(the router used, {sid: (m, s)} for the stations it routed). A router that fails is
    logged and the straight line is used instead (said by the source)."""
    road = settings.road()
    if not dests or road == "straight_line":
        return "straight_line", {}
    try:
        if road == "osm":
            if not settings.osm_file:
                return "straight_line", {}
            return "osm", _osm(settings.osm_file, origin, dests, max_m)
        if road == "amap" and settings.amap is not None:
            return "amap", _amap(Amap(settings.amap), origin, dests)
    except (TripError, AmapError) as exc:
        log.warning("recommendations: %s router failed (%s): straight line", road, exc)
    return "straight_line", {}


def _osm(
    path: str, origin: tuple[float, float], dests: Mapping[str, tuple[float, float]], max_m: float
) -> dict[str, tuple[float, float]]:
    g = osm_graph(path)
    start = g.nearest(*gcj02_to_wgs84(*origin), max_m=SNAP_MAX_M)
    if start is None:
        return {}
    ends: dict[str, tuple[int, float]] = {}
    for sid, p in dests.items():
        snap = g.nearest(*gcj02_to_wgs84(*p), max_m=SNAP_MAX_M)
        if snap is not None:
            ends[sid] = snap
    # one search from the driver to every station at once, no further than max_m of road
    reach = g.spread([start[0]], max_m, targets={n for n, _ in ends.values()})
    out = {}
    for sid, (node, off_m) in ends.items():
        got = reach.get(node)
        if got is None:
            continue
        off = start[1] + off_m
        out[sid] = (got.path.length_m + off, got.path.time_s + off / SNAP_SPEED_MS)
    return out


def _amap(
    client: Amap, origin: tuple[float, float], dests: Mapping[str, tuple[float, float]]
) -> dict[str, tuple[float, float]]:
    out = {}
    for sid, p in dests.items():
        r = client.driving(origin, p)
        out[sid] = (r.distance_m, r.duration_s)
    return out
