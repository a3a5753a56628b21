"""The road a trip follows and how each station nearby is reached from it (pure, no I/O).

A corridor is the fastest route from origin to destination as points with the length and
time of each piece between them, plus, for each station near it, the way off the route to the
station (leaving at route point `k_in`) and back onto it (at `k_out`). The planner drives
the route and leaves it only for its stops, so every leg it plans is a real path:
origin → route → station → route → … → destination.

Three ways to make one, by what is configured:
- `from_graph`: a road graph (OpenStreetMap): the route by A*, the detours by a search
  spreading from the whole route at once (exact road paths both ways);
- `from_polyline`: a map provider's route (AMap); detours to stations are the straight line
  times the detour factor at town speed, and the plan says so;
- `straight_line`: neither configured: the straight line times the detour factor at an
  assumed speed, and the plan says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from cloud.trips.graph import RoadGraph, haversine_m

LatLng = tuple[float, float]
Convert = Callable[[float, float], LatLng]


class RouteError(ValueError):
    """No route: `code` is stable (off_road, no_route), `facts` fill the driver's message."""

    def __init__(self, code: str, message: str, **facts: float | str) -> None:
        super().__init__(message)
        self.code = code
        self.facts = facts


@dataclass(frozen=True)
class Access:
    k_in: int
    in_len: tuple[float, ...]
    in_time: tuple[float, ...]
    k_out: int
    out_len: tuple[float, ...]
    out_time: tuple[float, ...]

    @property
    def detour_m(self) -> float:
        return sum(self.in_len) + sum(self.out_len)


@dataclass(frozen=True)
class Corridor:
    source: str  # "osm", "amap" or "straight_line"
    points: list[LatLng]
    seg_len: list[float]
    seg_time: list[float]
    access: dict[str, Access] = field(default_factory=dict)
    estimated_detours: bool = False
    settled: int = 0  # nodes the route search settled (graph only)

    def __post_init__(self) -> None:
        if len(self.seg_len) != len(self.points) - 1 or len(self.seg_time) != len(self.seg_len):
            raise ValueError("a corridor has one length and one time per piece between points")

    @property
    def length_m(self) -> float:
        return sum(self.seg_len)


def from_graph(graph: RoadGraph, origin: LatLng, destination: LatLng, stations: Mapping[str, LatLng], *,
               corridor_m: float = 10_000.0, snap_m: float = 5_000.0,
               to_graph: Convert | None = None, from_graph_: Convert | None = None) -> Corridor:
    """Route and detours on a road graph. Points are converted with to_graph before snapping
    and the route's points back with from_graph_ (GCJ-02 ⇄ WGS-84 for OSM)."""
    tg = to_graph or (lambda a, b: (a, b))
    fg = from_graph_ or (lambda a, b: (a, b))
    snapped = []
    for what, p in (("origin", origin), ("destination", destination)):
        hit = graph.nearest(*tg(*p), max_m=snap_m)
        if hit is None:
            raise RouteError("off_road", f"the {what} is more than {snap_m / 1000:g} km from any road of the graph",
                             what=what, km=round(snap_m / 1000, 1))
        snapped.append(hit[0])
    path = graph.astar(snapped[0], snapped[1])
    if path is None:
        raise RouteError("no_route", "no road connects the origin and the destination in the graph")
    nodes = path.nodes
    points = [fg(graph.lat[n], graph.lng[n]) for n in nodes]
    where = {n: i for i, n in enumerate(nodes)}
    near = _near_route(points, stations, corridor_m)
    station_node: dict[str, int] = {}
    for key in near:
        hit = graph.nearest(*tg(*stations[key]), max_m=min(corridor_m, 2_000.0))
        if hit is not None:
            station_node[key] = hit[0]
    targets = set(station_node.values())
    ins = graph.spread(nodes, corridor_m, reverse=False, targets=targets)
    outs = graph.spread(nodes, corridor_m, reverse=True, targets=targets)
    access: dict[str, Access] = {}
    for key, node in station_node.items():
        a, b = ins.get(node), outs.get(node)
        if a is None or b is None:
            continue
        access[key] = Access(where[a.source], tuple(a.path.lengths), tuple(a.path.times),
                             where[b.source], tuple(b.path.lengths), tuple(b.path.times))
    return Corridor("osm", points, list(path.lengths), list(path.times), access, False, path.settled)


def _near_route(points: list[LatLng], stations: Mapping[str, LatLng], within_m: float) -> list[str]:
    """The stations within about `within_m` (straight) of a route point: the cells around the
    route are marked once, then each station is one look-up (thousands of stations, one route)."""
    c = _PointIndex.CELL
    mid = points[len(points) // 2][0] if points else 0.0
    ri = int(within_m / (c * 111_000)) + 1
    rj = int(within_m / (c * 111_000 * max(0.2, math.cos(math.radians(mid))))) + 1
    marked: set[tuple[int, int]] = set()
    last = None
    for a, b in points:
        ci, cj = int(a // c), int(b // c)
        if (ci, cj) == last:
            continue
        last = (ci, cj)
        for i in range(ci - ri, ci + ri + 1):
            for j in range(cj - rj, cj + rj + 1):
                marked.add((i, j))
    return [k for k, (a, b) in stations.items() if (int(a // c), int(b // c)) in marked]


class _PointIndex:
    """Route points bucketed by ~2 km cells, for the nearest route point to a station."""

    CELL = 0.02

    def __init__(self, points: list[LatLng]) -> None:
        self.points = points
        self.cells: dict[tuple[int, int], list[int]] = {}
        for i, (a, b) in enumerate(points):
            self.cells.setdefault((int(a // self.CELL), int(b // self.CELL)), []).append(i)

    def nearest(self, lat: float, lng: float, max_m: float) -> tuple[int, float] | None:
        c = self.CELL
        r = int(max_m / (c * 111_000 * max(0.2, math.cos(math.radians(lat))))) + 1
        ci, cj = int(lat // c), int(lng // c)
        best: tuple[int, float] | None = None
        for i in range(ci - r, ci + r + 1):
            for j in range(cj - r, cj + r + 1):
                for k in self.cells.get((i, j), ()):
                    d = haversine_m(lat, lng, *self.points[k])
                    if d <= max_m and (best is None or d < best[1]):
                        best = (k, d)
        return best


def _estimated_access(points: list[LatLng], stations: Mapping[str, LatLng], corridor_m: float,
                      detour_factor: float, town_kmh: float) -> dict[str, Access]:
    index = _PointIndex(points)
    out: dict[str, Access] = {}
    for key, (lat, lng) in stations.items():
        hit = index.nearest(lat, lng, corridor_m / detour_factor)
        if hit is None:
            continue
        k, d = hit
        road = d * detour_factor
        t = max(road, 1.0) / (town_kmh / 3.6)
        out[key] = Access(k, (road,), (t,), k, (road,), (t,))
    return out


def from_polyline(points: list[LatLng], seg_len: list[float], seg_time: list[float],
                  stations: Mapping[str, LatLng], *, source: str = "amap", corridor_m: float = 10_000.0,
                  detour_factor: float = 1.3, town_kmh: float = 40.0) -> Corridor:
    """A provider's route; the way to each station estimated (straight line × detour factor)."""
    access = _estimated_access(points, stations, corridor_m, detour_factor, town_kmh)
    return Corridor(source, points, seg_len, seg_time, access, True)


def straight_line(origin: LatLng, destination: LatLng, stations: Mapping[str, LatLng], *,
                  detour_factor: float = 1.3, speed_kmh: float = 80.0, corridor_m: float = 10_000.0,
                  step_m: float = 1_000.0) -> Corridor:
    """Neither a graph nor a provider: the straight line, each piece `step_m` long, its road
    length the straight one × detour_factor, driven at speed_kmh."""
    direct = haversine_m(*origin, *destination)
    n = max(1, math.ceil(direct / step_m))
    points = [(origin[0] + (destination[0] - origin[0]) * i / n, origin[1] + (destination[1] - origin[1]) * i / n)
              for i in range(n + 1)]
    seg_len = [haversine_m(*points[i], *points[i + 1]) * detour_factor for i in range(n)]
    seg_time = [max(x, 0.1) / (speed_kmh / 3.6) for x in seg_len]
    access = _estimated_access(points, stations, corridor_m, detour_factor, min(speed_kmh, 40.0))
    return Corridor("straight_line", points, seg_len, seg_time, access, True)
