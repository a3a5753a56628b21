"""A road graph for routing (pure, no I/O): nodes with coordinates, directed edges with length
(m) and free-flow travel time (s), kept compactly as CSR arrays (stdlib `array`), forward and
reverse.

Searches, all by travel time:
- `astar(src, dst)`: fastest path, with the straight-line distance at the graph's top speed as
  the lower bound (a projection that never overstates distance keeps it admissible);
- `dijkstra(src, dst)`: the same without the bound (the bench's reference);
- `spread(sources, max_m, reverse)`: from every node of a route at once, outwards (or inwards
  on the reverse graph) until `max_m` of road: which route node each nearby node is closest
  to, and the path there; the trip planner's detours to and from stations.

Coordinates are whatever datum the graph was built in (OSM: WGS-84); the caller converts.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
INF = math.inf


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class GraphBuilder:
    """Collects nodes and edges; `build()` packs them into a RoadGraph."""

    def __init__(self) -> None:
        self.lat = array("d")
        self.lng = array("d")
        self._u = array("l")
        self._v = array("l")
        self._len = array("d")
        self._time = array("d")

    def add_node(self, lat: float, lng: float) -> int:
        self.lat.append(lat)
        self.lng.append(lng)
        return len(self.lat) - 1

    def add_edge(self, u: int, v: int, length_m: float, time_s: float) -> None:
        if u == v:
            return
        if not (length_m >= 0 and time_s > 0):
            raise ValueError(f"edge {u}->{v}: length ≥ 0 and time > 0")
        self._u.append(u)
        self._v.append(v)
        self._len.append(length_m)
        self._time.append(time_s)

    def add_road(self, u: int, v: int, speed_kmh: float, oneway: bool = False,
                 length_m: float | None = None) -> None:
        """An edge u→v (and v→u unless oneway) at `speed_kmh`, its length by haversine unless given."""
        n = length_m if length_m is not None else haversine_m(self.lat[u], self.lng[u], self.lat[v], self.lng[v])
        t = max(n, 0.1) / (speed_kmh / 3.6)
        self.add_edge(u, v, n, t)
        if not oneway:
            self.add_edge(v, u, n, t)

    def build(self) -> RoadGraph:
        n = len(self.lat)
        fwd = _csr(n, self._u, self._v, self._len, self._time)
        rev = _csr(n, self._v, self._u, self._len, self._time)
        return RoadGraph(self.lat, self.lng, fwd, rev)


@dataclass(frozen=True)
class _Csr:
    off: array  # node → first edge; off[n] = edge count
    src: array
    dst: array
    length: array
    time: array


def _csr(n: int, u: array, v: array, length: array, time: array) -> _Csr:
    m = len(u)
    count = array("l", bytes(8 * (n + 1)))
    for a in u:
        count[a + 1] += 1
    for i in range(n):
        count[i + 1] += count[i]
    pos = array("l", count)
    src, dst = array("l", bytes(8 * m)), array("l", bytes(8 * m))
    ln, tm = array("d", bytes(8 * m)), array("d", bytes(8 * m))
    for e in range(m):
        a = u[e]
        p = pos[a]
        pos[a] = p + 1
        src[p], dst[p], ln[p], tm[p] = a, v[e], length[e], time[e]
    return _Csr(count, src, dst, ln, tm)


@dataclass(frozen=True)
class Path:
    nodes: list[int]
    lengths: list[float]  # per edge, m
    times: list[float]  # per edge, s
    settled: int  # nodes the search took off its queue (the work it did)

    @property
    def length_m(self) -> float:
        return sum(self.lengths)

    @property
    def time_s(self) -> float:
        return sum(self.times)


@dataclass(frozen=True)
class Reach:
    """What `spread` found for one node: the route node it joins, and the path between."""

    source: int  # the route node (graph id)
    path: Path  # from the route node to it (forward) or from it to the route node (reverse)


class RoadGraph:
    def __init__(self, lat: array, lng: array, fwd: _Csr, rev: _Csr) -> None:
        self.lat, self.lng, self.fwd, self.rev = lat, lng, fwd, rev
        self.n = len(lat)
        vmax = max((ln / t for ln, t in zip(fwd.length, fwd.time, strict=True) if t > 0), default=1.0)
        self.vmax_ms = max(vmax, 1.0)
        # an equirectangular projection at the largest |latitude| understates east-west
        # distances everywhere in the graph, so its straight line is a lower bound of the road
        lat_max = max((abs(x) for x in lat), default=0.0)
        kx = EARTH_RADIUS_M * math.cos(math.radians(min(lat_max, 89.0))) * math.pi / 180
        ky = EARTH_RADIUS_M * math.pi / 180 * 0.999
        self.x = array("d", (g * kx * 0.999 for g in lng))
        self.y = array("d", (a * ky for a in lat))
        self._cells: dict[tuple[int, int], list[int]] | None = None

    @property
    def edges(self) -> int:
        return len(self.fwd.dst)

    # --- nearest node --------------------------------------------------------------------------
    _CELL_DEG = 0.02

    def _index(self) -> dict[tuple[int, int], list[int]]:
        if self._cells is None:
            cells: dict[tuple[int, int], list[int]] = {}
            c = self._CELL_DEG
            for i in range(self.n):
                cells.setdefault((int(self.lat[i] // c), int(self.lng[i] // c)), []).append(i)
            self._cells = cells
        return self._cells

    def nearest(self, lat: float, lng: float, max_m: float = 5_000.0) -> tuple[int, float] | None:
        """The node nearest to (lat, lng) within max_m, with its distance; None if none."""
        cells, c = self._index(), self._CELL_DEG
        ci, cj = int(lat // c), int(lng // c)
        ring_m = c * 111_000 * max(0.2, math.cos(math.radians(lat)))
        best: tuple[int, float] | None = None
        r = 0
        while r * ring_m <= max_m + ring_m:
            for i in range(ci - r, ci + r + 1):
                for j in range(cj - r, cj + r + 1):
                    if max(abs(i - ci), abs(j - cj)) != r:
                        continue
                    for node in cells.get((i, j), ()):
                        d = haversine_m(lat, lng, self.lat[node], self.lng[node])
                        if d <= max_m and (best is None or d < best[1]):
                            best = (node, d)
            if best is not None and best[1] <= r * ring_m:
                break  # nothing in a further ring can be nearer
            r += 1
        return best

    # --- searches ------------------------------------------------------------------------------
    def _path(self, csr: _Csr, parent: dict[int, int], end: int, settled: int, reverse: bool = False) -> Path:
        nodes, lengths, times = [end], [], []
        v = end
        while v in parent:
            e = parent[v]
            v = csr.src[e]
            nodes.append(v)
            lengths.append(csr.length[e])
            times.append(csr.time[e])
        if not reverse:
            nodes.reverse()
            lengths.reverse()
            times.reverse()
        return Path(nodes, lengths, times, settled)

    def astar(self, src: int, dst: int) -> Path | None:
        """Fastest path src → dst, or None if dst cannot be reached."""
        f = self.fwd
        off, tgt, tm = f.off, f.dst, f.time
        xs, ys = self.x, self.y
        xd, yd = xs[dst], ys[dst]
        inv_v = 1.0 / self.vmax_ms
        hyp = math.hypot
        g: dict[int, float] = {src: 0.0}
        parent: dict[int, int] = {}
        heap = [(hyp(xs[src] - xd, ys[src] - yd) * inv_v, 0.0, src)]
        pop, push = heapq.heappop, heapq.heappush
        settled = 0
        while heap:
            _, gu, u = pop(heap)
            if gu > g[u]:
                continue
            settled += 1
            if u == dst:
                return self._path(f, parent, dst, settled)
            for e in range(off[u], off[u + 1]):
                v = tgt[e]
                nd = gu + tm[e]
                if nd < g.get(v, INF):
                    g[v] = nd
                    parent[v] = e
                    push(heap, (nd + hyp(xs[v] - xd, ys[v] - yd) * inv_v, nd, v))
        return None

    def dijkstra(self, src: int, dst: int) -> Path | None:
        """Fastest path src → dst by plain Dijkstra (stops when dst is settled)."""
        f = self.fwd
        off, tgt, tm = f.off, f.dst, f.time
        g: dict[int, float] = {src: 0.0}
        parent: dict[int, int] = {}
        heap = [(0.0, src)]
        pop, push = heapq.heappop, heapq.heappush
        settled = 0
        while heap:
            gu, u = pop(heap)
            if gu > g[u]:
                continue
            settled += 1
            if u == dst:
                return self._path(f, parent, dst, settled)
            for e in range(off[u], off[u + 1]):
                v = tgt[e]
                nd = gu + tm[e]
                if nd < g.get(v, INF):
                    g[v] = nd
                    parent[v] = e
                    push(heap, (nd, v))
        return None

    def spread(self, sources: Iterable[int], max_m: float, reverse: bool = False,
               targets: Iterable[int] = ()) -> dict[int, Reach]:
        """From all `sources` at once (time 0), the fastest way to every node within `max_m`
        of road; returns only `targets`. On the reverse graph (reverse=True) the paths run
        from the target to its route node."""
        csr = self.rev if reverse else self.fwd
        off, tgt, tm, ln = csr.off, csr.dst, csr.time, csr.length
        # one dict, node -> (time, length, route node, edge in): one write per improvement
        best: dict[int, tuple[float, float, int, int]] = {}
        heap = []
        for s in sources:
            if s not in best:
                best[s] = (0.0, 0.0, s, -1)
                heap.append((0.0, s))
        heapq.heapify(heap)
        want = set(targets)
        left = len(want)
        pop, push, get = heapq.heappop, heapq.heappush, best.get
        far = (INF, 0.0, 0, 0)
        while heap and left:
            gu, u = pop(heap)
            bu = best[u]
            if gu > bu[0]:
                continue
            if u in want:
                left -= 1
            du, ru = bu[1], bu[2]
            for e in range(off[u], off[u + 1]):
                v = tgt[e]
                nd = gu + tm[e]
                if nd < get(v, far)[0]:
                    dl = du + ln[e]
                    if dl <= max_m:
                        best[v] = (nd, dl, ru, e)
                        push(heap, (nd, v))
        parent = {v: b[3] for v, b in best.items() if b[3] >= 0}
        out: dict[int, Reach] = {}
        for t in want:
            if t in best:
                out[t] = Reach(best[t][2], self._path(csr, parent, t, 0, reverse=reverse))
        return out

def largest_component(g: RoadGraph) -> RoadGraph:
    """The graph cut to its largest strongly connected part (every node reaches every other):
    an extract's clipped edges and one-way dead ends leave islands a route can snap into but
    never leave. Kosaraju's two passes, iteratively."""
    n, f, r = g.n, g.fwd, g.rev
    seen = bytearray(n)
    order: list[int] = []
    for s in range(n):
        if seen[s]:
            continue
        seen[s] = 1
        stack = [(s, f.off[s])]
        while stack:
            u, e = stack[-1]
            if e < f.off[u + 1]:
                stack[-1] = (u, e + 1)
                v = f.dst[e]
                if not seen[v]:
                    seen[v] = 1
                    stack.append((v, f.off[v]))
            else:
                stack.pop()
                order.append(u)
    comp = array("l", [-1]) * n
    sizes: list[int] = []
    for s in reversed(order):
        if comp[s] != -1:
            continue
        c = len(sizes)
        comp[s] = c
        stack2, size = [s], 0
        while stack2:
            u = stack2.pop()
            size += 1
            for e in range(r.off[u], r.off[u + 1]):
                v = r.dst[e]
                if comp[v] == -1:
                    comp[v] = c
                    stack2.append(v)
        sizes.append(size)
    if not sizes or len(sizes) == 1:
        return g
    big = max(range(len(sizes)), key=sizes.__getitem__)
    b = GraphBuilder()
    new: dict[int, int] = {}
    for u in range(n):
        if comp[u] == big:
            new[u] = b.add_node(g.lat[u], g.lng[u])
    for e in range(len(f.dst)):
        u, v = f.src[e], f.dst[e]
        if u in new and v in new:
            b.add_edge(new[u], new[v], f.length[e], f.time[e])
    return b.build()
