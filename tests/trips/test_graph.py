"""The road graph: A* finds what plain Dijkstra finds, the spread from a route, the nearest
node, and the largest strongly connected part."""

from __future__ import annotations

import random

import pytest

from cloud.trips.graph import GraphBuilder, RoadGraph, largest_component


def grid(n: int, seed: int) -> RoadGraph:
    """n × n nodes ~1 km apart, random speeds 30..120 km/h, some one-way streets."""
    rnd = random.Random(seed)
    b = GraphBuilder()
    for i in range(n):
        for j in range(n):
            b.add_node(30.0 + i * 0.009 + rnd.uniform(-0.002, 0.002), 110.0 + j * 0.0104 + rnd.uniform(-0.002, 0.002))
    for i in range(n):
        for j in range(n):
            u = i * n + j
            for v in ((u + 1) if j + 1 < n else None, (u + n) if i + 1 < n else None):
                if v is not None:
                    b.add_road(u, v, rnd.choice([30, 50, 80, 120]), oneway=rnd.random() < 0.1)
    return largest_component(b.build())


@pytest.mark.parametrize("seed", range(6))
def test_astar_finds_the_same_fastest_time_as_dijkstra(seed: int) -> None:
    g = grid(25, seed)
    rnd = random.Random(seed)
    for _ in range(10):
        s, t = rnd.randrange(g.n), rnd.randrange(g.n)
        a, d = g.astar(s, t), g.dijkstra(s, t)
        assert a is not None and d is not None
        assert a.time_s == pytest.approx(d.time_s, rel=1e-9)
        assert a.nodes[0] == s and a.nodes[-1] == t
        assert a.settled <= d.settled


def test_largest_component_drops_a_one_way_dead_end() -> None:
    b = GraphBuilder()
    for i in range(4):
        b.add_node(30.0, 110.0 + i * 0.01)
    b.add_road(0, 1, 50)
    b.add_road(1, 2, 50)
    b.add_road(2, 3, 50, oneway=True)  # 3 can be reached but never left
    g = largest_component(b.build())
    assert g.n == 3
    assert g.astar(0, 2) is not None


def test_nearest_node_and_nothing_beyond_the_limit() -> None:
    g = grid(10, 1)
    node, d = g.nearest(g.lat[37], g.lng[37] + 0.0001) or (None, None)
    assert node == 37 and d is not None and d < 20
    assert g.nearest(31.0, 111.0, max_m=1_000) is None


def test_spread_finds_the_way_to_and_back_from_the_route() -> None:
    # a route 0-1-2 and a station 3 reached from 1 (2 km) and leaving towards 2 (one way, 1 km)
    b = GraphBuilder()
    for lng in (110.0, 110.01, 110.02):
        b.add_node(30.0, lng)
    b.add_node(30.01, 110.015)
    b.add_road(0, 1, 60)
    b.add_road(1, 2, 60)
    b.add_road(1, 3, 60, oneway=True, length_m=2_000)
    b.add_road(3, 2, 60, oneway=True, length_m=1_000)
    g = b.build()
    route = [0, 1, 2]
    into = g.spread(route, 10_000, targets=[3])[3]
    back = g.spread(route, 10_000, reverse=True, targets=[3])[3]
    assert into.source == 1 and into.path.nodes == [1, 3] and into.path.length_m == 2_000
    assert back.source == 2 and back.path.nodes == [3, 2] and back.path.length_m == 1_000
    assert g.spread(route, 1_500, targets=[3]) == {}
