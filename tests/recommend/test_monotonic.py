"""Property: improving one term of one candidate (a lower price, a shorter wait, more power, a
better load level, more visits, better ratings, a shorter drive to a free gun) never moves it
down the list, whatever the other candidates and the weights."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.recommend.scorer import TERMS, Candidate, Gun, Weights, rank
from tests.recommend.situations import NOW, flat, situation, station

MIN = 60_000
LEVELS = ("normal", "capped", "blocked", None)


@st.composite
def candidate(draw, sid: str) -> Candidate:
    guns = []
    for i in range(draw(st.integers(1, 3))):
        free = draw(st.booleans())
        guns.append(Gun(f"P{i}", draw(st.sampled_from([7, 60, 120, 240])) * 1000,
                        in_service=draw(st.booleans()) or free, free=free,
                        free_at=None if free else NOW + draw(st.integers(0, 180)) * MIN))
    stars = st.none() | st.floats(1, 5)
    return station(sid, draw(st.floats(0.1, 20)), price=draw(st.integers(2000, 20000)) / 10_000,
                   level=draw(st.sampled_from(LEVELS)), online=draw(st.booleans()) or True,
                   guns=tuple(guns), visits=draw(st.integers(0, 8)), own_stars=draw(stars),
                   avg_stars=draw(stars), ratings=draw(st.integers(0, 50)))


weights = st.builds(Weights, *[st.floats(0, 10) for _ in TERMS])


def improve(c: Candidate, how: str, by: float) -> Candidate:
    r = dataclasses.replace
    if how == "price":
        w = c.prices[0]
        return r(c, prices=(r(w, price_e4=max(0, int(w.price_e4 * (1 - by)))),))
    if how == "wait":
        return r(c, guns=tuple(r(g, free_at=None if g.free_at is None else g.free_at - int(by * 60 * MIN))
                               for g in c.guns))
    if how == "free":
        return r(c, guns=tuple(r(g, free=True, free_at=None) if g.in_service else g for g in c.guns))
    if how == "power":
        return r(c, guns=tuple(r(g, rated_power_w=int(g.rated_power_w * (1 + by))) for g in c.guns))
    if how == "level":
        better = {"blocked": "capped", "capped": "normal", "normal": "normal", None: None}
        return r(c, load_level=better[c.load_level])
    if how == "visits":
        return r(c, visits=c.visits + 1)
    if how == "own_stars":
        return r(c, own_stars=min(5.0, (c.own_stars or 3.0) + by)) if c.own_stars is not None else c
    if how == "avg_stars":
        return r(c, avg_stars=min(5.0, c.avg_stars + by)) if c.avg_stars is not None else c
    if how == "nearer":
        # only where the drive is its own term: every gun free (with a queue, an earlier arrival
        # means a longer wait, which an operator may weigh more than the drive)
        if not all(g.free for g in c.guns):
            return c
        return r(c, lng=c.lng - (c.lng - 121.4) * by)
    raise AssertionError(how)


HOWS = ("price", "wait", "free", "power", "level", "visits", "own_stars", "avg_stars", "nearer")


@settings(max_examples=150, deadline=None)
@given(data=st.data(), w=weights, how=st.sampled_from(HOWS), by=st.floats(0.01, 0.9))
def test_improving_one_term_never_moves_it_down(data, w, how, by) -> None:
    n = data.draw(st.integers(2, 6))
    cands = [data.draw(candidate(f"S{i}")) for i in range(n)]
    pick = data.draw(st.integers(0, n - 1))
    sid = cands[pick].sid
    before = [r.candidate.sid for r in rank(cands, situation(), w, limit=50)]
    better = list(cands)
    better[pick] = improve(cands[pick], how, by)
    after = [r.candidate.sid for r in rank(better, situation(), w, limit=50)]
    assert after.index(sid) <= before.index(sid), (how, before, after)
    # and the others keep their order among themselves
    assert [x for x in before if x != sid] == [x for x in after if x != sid]


def test_the_property_can_fail() -> None:
    # a worse price (the opposite of an improvement) does move a candidate down: the property
    # above is no tautology
    a, b = station("a", 2, price=0.9), station("b", 2, price=1.0)
    assert [r.candidate.sid for r in rank([a, b], situation(), Weights())] == ["a", "b"]
    worse = dataclasses.replace(a, prices=flat(1.1))
    assert [r.candidate.sid for r in rank([worse, b], situation(), Weights())] == ["b", "a"]
