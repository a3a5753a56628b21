"""The scorer on hand-made situations whose right order is obvious, the reasons it gives, and
the weights changing the order."""

from __future__ import annotations

import pytest

from cloud.recommend import messages
from cloud.recommend.scorer import Gun, Known, Params, PriceWindow, StraightLine, Weights, rank
from tests.recommend.situations import NOW, at, busy, flat, situation, station

MIN = 60_000


def order(cands, s=None, w=None) -> list[str]:
    return [r.candidate.sid for r in rank(cands, s or situation(), w or Weights(), limit=50)]


def keys(r) -> list[str]:
    return [x.key for x in r.reasons]


CASES = [
    pytest.param([station("peak_near", 1, price=1.2, prices=flat(1.2, "peak")),
                  station("valley_far", 3, prices=flat(0.35, "valley"))],
                 ["valley_far", "peak_near"], id="cheaper valley now beats peak nearby"),
    pytest.param([station("blocked_near", 0.5, level="blocked"), station("b", 5), station("c", 8)],
                 ["b", "c", "blocked_near"], id="blocked station last however near"),
    pytest.param([station("offline_near", 0.5, online=False), station("b", 5)],
                 ["b", "offline_near"], id="offline station last"),
    pytest.param([station("capped", 2, level="capped"), station("normal", 2)],
                 ["normal", "capped"], id="capped station slower"),
    pytest.param([station("queue_near", 1, guns=(busy("q1", NOW + 90 * MIN), busy("q2", NOW + 120 * MIN))),
                  station("free_far", 6)],
                 ["free_far", "queue_near"], id="long queue loses to a short drive"),
    pytest.param([station("short_queue_near", 1, guns=(busy("q1", NOW + 5 * MIN),)), station("free_far", 15)],
                 ["short_queue_near", "free_far"], id="a five-minute wait beats a long drive"),
    pytest.param([station("a", 2), station("fav", 2, visits=5, own_stars=5.0)],
                 ["fav", "a"], id="driver's favourite first when the rest is equal"),
    pytest.param([station("disliked", 2, own_stars=1.0), station("b", 2.5)],
                 ["b", "disliked"], id="a station the driver rated 1 star drops"),
    pytest.param([station("well_rated", 3, avg_stars=4.8, ratings=40), station("poorly_rated", 3, avg_stars=1.5,
                                                                                ratings=40)],
                 ["well_rated", "poorly_rated"], id="better average rating first"),
    pytest.param([station("ac7", 1, kw=7), station("dc120", 3)],
                 ["dc120", "ac7"], id="a fast gun a little further beats a slow one"),
    pytest.param([station("faulted", 1, guns=(Gun("f1", 120_000, in_service=False),)), station("b", 4)],
                 ["b", "faulted"], id="a gun out of service last"),
    pytest.param([station("held_near", 1, guns=(Gun("h1", 120_000, free=False, free_at=NOW + 60 * MIN,
                                                     reserved_until=NOW + 60 * MIN),)), station("b", 6)],
                 ["b", "held_near"], id="a gun reserved by another past the arrival last"),
    pytest.param([station("ends_first", 3, guns=(Gun("e1", 120_000, free=False, free_at=NOW + MIN,
                                                      reserved_until=NOW + MIN),)), station("far", 9)],
                 ["ends_first", "far"], id="another's reservation ending before the arrival is no obstacle"),
    pytest.param([station("mine_far", 9, price=1.5, guns=(Gun("m1", 60_000, free=False,
                                                               mine_until=NOW + 30 * MIN),)),
                  station("cheap_near", 1, price=0.5)],
                 ["mine_far", "cheap_near"], id="the driver's own reserved gun first"),
]


@pytest.mark.parametrize(("cands", "expected"), CASES)
def test_obvious_orders(cands, expected) -> None:
    assert order(cands) == expected
    assert order(list(reversed(cands))) == expected  # the input order does not matter


def test_reservation_reasons() -> None:
    held = station("held", 1, guns=(Gun("h1", 120_000, free=False, free_at=at(15), reserved_until=at(15)),))
    mine = station("mine", 5, guns=(Gun("m1", 120_000, mine_until=at(14, 30)),))
    first, last = rank([held, mine], situation(), Weights())
    assert (first.candidate.sid, first.available, keys(first)[0]) == ("mine", True, "reserved_for_you")
    assert first.reasons[0].params == {"time": "14:30"}
    assert (last.available, keys(last)) == (False, ["reserved"])
    assert messages.render("reserved", last.reasons[0].params, "zh-CN") == "该枪已被其他车主预约至 15:00，到站时仍不可用"


def test_road_times_from_a_router_change_the_order() -> None:
    """Two stations, B a little further by the straight line but much nearer by road: the
    router's times (`Known`) decide; a station it did not route keeps the straight line."""
    a, b, c = station("a", 2), station("b", 2.5), station("c", 4)
    assert order([a, b, c]) == ["a", "b", "c"]
    roads = Known({(a.lat, a.lng): (9_000.0, 900.0), (b.lat, b.lng): (2_600.0, 240.0)}, StraightLine())
    ranked = rank([a, b, c], situation(), Weights(), drive=roads)
    assert [r.candidate.sid for r in ranked] == ["b", "c", "a"]
    assert ranked[0].terms.drive_s == 240.0 and ranked[0].distance_m == 2_600.0
    assert ranked[1].distance_m == pytest.approx(4_000 * 1.3, rel=0.01)  # c: the straight line


def test_weights_change_the_order() -> None:
    cands = [station("near_dear", 1, price=1.0), station("far_cheap", 4, price=0.6)]
    assert order(cands) == ["far_cheap", "near_dear"]
    assert order(cands, w=Weights(distance=5.0)) == ["near_dear", "far_cheap"]
    assert order(cands, w=Weights(price=0.0)) == ["near_dear", "far_cheap"]


def test_history_weight_zero_ignores_the_favourite() -> None:
    cands = [station("fav", 2.2, visits=5, own_stars=5.0), station("a", 2)]
    assert order(cands) == ["fav", "a"]
    assert order(cands, w=Weights(history=0.0)) == ["a", "fav"]


def test_best_gun_of_a_station_kept_once() -> None:
    st = station("s", 1, guns=(busy("P1-1", NOW + 60 * MIN), Gun("P1-2", 60_000), Gun("P2-1", 120_000)))
    [r] = rank([st], situation(), Weights())
    assert r.gun.gun == "P2-1" and r.terms.wait_s == 0


def test_contributions_add_up_and_follow_the_weights() -> None:
    [r] = rank([station("s", 3, price=0.8)], situation(), Weights(distance=2.0, price=0.5))
    assert r.score == pytest.approx(sum(r.contributions.values()))
    # 30 kWh at ¥0.80 = 2400 fen, half weighted
    assert r.contributions["price"] == pytest.approx(1200)
    d, drive_s = StraightLine().estimate((31.2, 121.4), (r.candidate.lat, r.candidate.lng))
    assert d == pytest.approx(3_000 * 1.3, rel=2e-3)  # 111.32 km per degree vs the mean radius
    assert r.contributions["distance"] == pytest.approx(2.0 * drive_s * 3000 / 3600)


def test_wait_counts_from_arrival() -> None:
    # the session ends 30 min from now; the drive takes 2.6 min: about 27.4 min of wait
    [r] = rank([station("s", 1, guns=(busy("g", NOW + 30 * MIN),))], situation(), Weights())
    assert r.terms.wait_s == pytest.approx(30 * 60 - r.terms.drive_s, abs=1)
    # a session ending before the driver gets there costs no wait
    [r2] = rank([station("s", 10, guns=(busy("g", NOW + MIN),))], situation(), Weights())
    assert r2.terms.wait_s == 0


def test_price_at_the_start_of_charging_and_valley_reason() -> None:
    now = at(22, 30)
    periods = (PriceWindow(at(8), at(23), 12_000, "peak"), PriceWindow(at(23), at(23) + 8 * 3_600_000, 3_500, "valley"))
    [r] = rank([station("s", 1, prices=periods)], situation(now), Weights())
    assert r.period == "peak" and r.terms.price_e4 == 12_000
    cheaper = [x for x in r.reasons if x.key == "cheaper_from"]
    assert cheaper and cheaper[0].params == {"time": "23:00", "period": "valley", "price": "0.35"}
    assert messages.render("cheaper_from", cheaper[0].params, "en") == "valley price from 23:00: ¥0.35/kWh"
    assert messages.render("cheaper_from", cheaper[0].params, "zh-CN") == "23:00 起谷电价 ¥0.35/度"
    # a queue that lasts into the valley: the price is the valley's
    [q] = rank([station("s", 1, prices=periods, guns=(busy("g", at(23, 20)),))], situation(now), Weights())
    assert q.period == "valley" and q.terms.price_e4 == 3_500


def test_capped_reason_and_half_power() -> None:
    [normal, capped] = rank([station("c", 2, level="capped"), station("n", 2)], situation(), Weights())
    assert capped.power_w == 60_000 and normal.power_w == 120_000
    assert keys(capped)[0] == "capped"
    text = messages.render("capped", capped.reasons[0].params, "en")
    assert text == "transformer busy: new sessions capped at 50 %"
    assert messages.render("capped", capped.reasons[0].params, "zh-CN") == "变压器繁忙：新启动的充电限功率 50%"


def test_blocked_and_offline_reasons() -> None:
    out = rank([station("b", 1, level="blocked"), station("o", 1, online=False), station("ok", 3)],
               situation(), Weights())
    by = {r.candidate.sid: r for r in out}
    assert keys(by["b"]) == ["blocked"] and not by["b"].available
    assert keys(by["o"]) == ["offline"]
    assert by["b"].power_w is None and by["b"].terms.charge_s == float("inf")


def test_reasons_name_what_sets_it_apart() -> None:
    out = rank([station("peak_near", 1, prices=flat(1.2, "peak")), station("valley_far", 3, prices=flat(0.35, "valley")),
                station("fav", 2.5, price=1.0, visits=4)], situation(), Weights())
    by = {r.candidate.sid: r for r in out}
    first = by["valley_far"].reasons[0]
    assert (first.key, first.effect, first.params["period"]) == ("price", "+", "valley")
    assert ("price", "-") in [(x.key, x.effect) for x in by["peak_near"].reasons]
    assert "visits" in keys(by["fav"])
    assert messages.render("visits", {"n": 4}, "en") == "you charged here 4 times"


def test_no_price_no_recommendation_but_a_blocked_one_is_still_shown() -> None:
    out = rank([station("noprice", 1, prices=()), station("b", 2, prices=(), level="blocked"), station("ok", 4)],
               situation(), Weights())
    assert [r.candidate.sid for r in out] == ["ok", "b"]


def test_car_limit_and_weights_validated() -> None:
    from cloud.recommend.scorer import Situation

    s = Situation(31.2, 121.4, NOW, 30_000, max_power_w=50_000)
    [r] = rank([station("s", 1)], s, Weights())
    assert r.power_w == 50_000
    with pytest.raises(ValueError):
        Weights(price=-1)
    with pytest.raises(ValueError):
        Weights(price=float("nan"))
    assert Params().capped_share == 0.5
