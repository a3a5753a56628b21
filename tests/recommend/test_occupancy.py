"""The occupancy forecast in the recommendations: with everything seen now equal, history
decides the order, and the reason says the wait comes from the station's habit. Hand-made
forecasts in the scorer's table; real session rows through the API (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.fakes.server import FakeServer
from cloud.models import ChargingSession, now_ms
from cloud.occupancy import service as occupancy
from cloud.occupancy.forecast import WEEK_MS, Profile, slot_of
from cloud.recommend import messages
from cloud.recommend.scorer import Gun, Weights, rank
from tests.charging.support import ORIGIN, new_driver, seed, seed_station
from tests.drivers_api.support import BASE
from tests.recommend.situations import NOW, situation, station
from tests.recommend.test_api import app, wechat  # noqa: F401  (fixtures: a cloud app with the fake WeChat)
from tests.support.databases import db_url  # noqa: F401  (fixture)

MIN = 60_000


def habit(busy_at: dict[int, float], other: float = 0.1) -> Profile:
    """A forecast: `busy_at` by slot of the week, `other` elsewhere; four weeks of evidence."""
    return Profile(tuple(busy_at.get(h, other) for h in range(168)), (4.0,) * 168)


ARRIVAL_SLOT = slot_of(NOW + 20 * MIN)  # Wednesday 14:xx in Shanghai
FULL_AT_ARRIVAL = habit({ARRIVAL_SLOT: 0.95, ARRIVAL_SLOT - 1: 0.95})
QUIET = habit({}, 0.1)
FULL_AT_NIGHT = habit({h: 0.95 for h in range(168) if h % 24 in (1, 2, 3)})
TWO = (Gun("g1", 120_000), Gun("g2", 120_000))


def two(sid: str, km: float, occ: Profile | None) -> object:
    return station(sid, km, guns=tuple(Gun(f"{sid}-{g.gun}", g.rated_power_w) for g in TWO), occupancy=occ)


CASES = [
    pytest.param([two("habitually_full", 8, FULL_AT_ARRIVAL), two("quiet", 8, QUIET)],
                 ["quiet", "habitually_full"], id="equal now: the one usually full at arrival ranks lower"),
    pytest.param([two("full_at_night", 8, FULL_AT_NIGHT), two("quiet", 8.3, QUIET)],
                 ["full_at_night", "quiet"], id="a habit at another hour does not count"),
    pytest.param([two("no_forecast", 8, None), two("quiet", 8.2, QUIET)],
                 ["no_forecast", "quiet"], id="without a forecast the wait is what is seen now"),
    pytest.param([two("full_near", 0.3, FULL_AT_ARRIVAL), two("quiet_near", 0.6, QUIET)],
                 ["full_near", "quiet_near"], id="a minute away, the habit counts little"),
    pytest.param([station("busy_now_quiet_later", 8, guns=(Gun("b1", 120_000, free=False, free_at=NOW + 60 * MIN),),
                          occupancy=QUIET), two("free_now_full_later", 8, FULL_AT_ARRIVAL)],
                 ["free_now_full_later", "busy_now_quiet_later"], id="a known session past the arrival still waits"),
]


def order(cands) -> list[str]:
    return [r.candidate.sid for r in rank(cands, situation(), Weights(), limit=50)]


@pytest.mark.parametrize(("cands", "expected"), CASES)
def test_history_decides_when_now_is_equal(cands, expected) -> None:
    assert order(cands) == expected
    assert order(list(reversed(cands))) == expected


def test_the_reason_says_the_wait_is_the_station_s_habit() -> None:
    first, second = rank([two("full", 8, FULL_AT_ARRIVAL), two("quiet", 8, QUIET)], situation(), Weights())
    assert (first.candidate.sid, second.candidate.sid) == ("quiet", "full")
    t = second.terms
    assert t.busy_share == 0.95 and t.wait_history_s == t.wait_s > 60
    # 8 km x 1.3 at 30 km/h: 20.8 min away, so 1 - e^(-1248/1800) of the habit's wait
    # (0.95² x 40 min ÷ 2 guns) counts
    import math
    assert t.wait_s == pytest.approx((1 - math.exp(-t.drive_s / 1800)) * 0.95 ** 2 * 2400 / 2, abs=0.01)
    usual = [x for x in second.reasons if x.key == "usually_busy"]
    assert usual and usual[0].effect == "-"
    p = usual[0].params
    assert p == {"time": "14:20", "pct": 95, "min": round(t.wait_s / 60)}
    assert messages.render("usually_busy", p, "zh-CN") == f"这里在 14:20 前后通常繁忙（约 95% 的枪在用），预计排队约 {p['min']} 分钟"
    assert messages.render("usually_busy", p, "en") == (
        f"usually busy at this hour: about 95 % of guns in use around 14:20, expected wait about {p['min']} min")
    assert "usually_busy" not in [x.key for x in first.reasons]
    # a wait that is mostly a running session's known end is worded as before
    known = rank([station("s", 8, guns=(Gun("b", 120_000, free=False, free_at=NOW + 90 * MIN),), occupancy=QUIET),
                  two("q", 8, QUIET)], situation(), Weights())
    assert "usually_busy" not in [x.key for x in known[1].reasons] and "wait" in [x.key for x in known[1].reasons]


def test_a_quiet_one_gun_station_is_not_called_usually_busy() -> None:
    # one gun 10 % busy at the arrival's hour still waits two minutes from history (0.1 x 40 min
    # x half the habit): a wait, worded as one, never "usually busy (about 10 % of guns in use)"
    one = station("one", 8, guns=(Gun("one-g1", 120_000),), occupancy=QUIET)
    ranked = rank([one, two("q", 8, QUIET), two("r", 8.1, QUIET)], situation(), Weights())
    [r] = [x for x in ranked if x.candidate.sid == "one"]
    assert r.terms.busy_share == 0.1 and r.terms.wait_history_s >= 60
    keys = [x.key for x in r.reasons]
    assert "usually_busy" not in keys and "wait" in keys
    [w] = [x for x in r.reasons if x.key == "wait"]
    assert messages.render("wait", w.params, "zh-CN") == "预计排队约 2 分钟"


def test_the_own_reservation_has_no_history_wait() -> None:
    [r] = rank([station("mine", 8, guns=(Gun("m", 120_000, free=False, mine_until=NOW + 60 * MIN),),
                        occupancy=FULL_AT_ARRIVAL)], situation(), Weights())
    assert r.terms.wait_s == 0 and r.terms.wait_history_s == 0
    # the station's forecast is still told (busy_at_arrival_pct is null only without a forecast)
    assert r.terms.busy_share == 0.95


@settings(max_examples=80, deadline=None)
@given(kms=st.lists(st.floats(0.2, 15), min_size=2, max_size=5), shares=st.lists(st.floats(0, 1), min_size=5,
                                                                                   max_size=5),
       guns=st.lists(st.integers(1, 4), min_size=5, max_size=5), who=st.integers(0, 4), lower=st.floats(0, 1))
def test_a_quieter_habit_never_moves_a_station_down(kms, shares, guns, who, lower) -> None:
    """Lowering one station's usual share at every hour (prices flat) never ranks it lower,
    and the others keep their order."""
    who %= len(kms)

    def cands(k_share: float) -> list:
        out = []
        for i, km in enumerate(kms):
            share = k_share if i == who else shares[i]
            out.append(station(f"s{i}", km, guns=tuple(Gun(f"s{i}-{g}", 120_000) for g in range(guns[i])),
                               occupancy=Profile((share,) * 168, (4.0,) * 168)))
        return out

    before = order(cands(shares[who]))
    after = order(cands(shares[who] * lower))
    me = f"s{who}"
    assert after.index(me) <= before.index(me)
    assert [x for x in after if x != me] == [x for x in before if x != me]


# --- through the API, from real session rows ---------------------------------------------------
def test_api_ranks_by_history_from_the_sessions(app: Flask, wechat: FakeServer) -> None:  # noqa: F811
    """Two stations 8 km east and west, both guns free now; EAST's guns were busy around this
    hour of the week in each of the last eight weeks, WEST's never: WEST first, EAST with the
    reason in the driver's language and the figures in the answer."""
    lat, lng = ORIGIN
    now = now_ms()

    def world(s) -> None:
        seed_station(s, "EAST", lat, lng + 8 / 95.2, name="东站", guns={"P1-1": "available", "P1-2": "available"})
        seed_station(s, "WEST", lat, lng - 8 / 95.2, name="西站", guns={"P1-1": "available", "P1-2": "available"})
        for w in range(1, 9):
            at = now - w * WEEK_MS
            for gun in ("P1-1", "P1-2"):
                s.add(ChargingSession(session_id=f"eve-{w}-{gun}", sid="EAST", gun=gun, status="ended",
                                      started_at=at - 90 * MIN, ended_at=at + 150 * MIN))
            s.add(ChargingSession(session_id=f"west-{w}", sid="WEST", gun="P1-1", status="ended",
                                  started_at=at - 12 * 3_600_000, ended_at=at - 11 * 3_600_000))
        s.flush()

    seed(app, world)
    client = app.test_client()
    headers, _ = new_driver(client, wechat, "occ")
    params = {"lat": lat, "lng": lng, "radius_m": 20_000}
    before = client.get(f"{BASE}/recommendations", query_string=params, headers=headers).json
    assert {r["busy_at_arrival_pct"] for r in before["recommendations"]} == {None}  # no forecast yet
    assert {r["wait_history_s"] for r in before["recommendations"]} == {0}
    seed(app, lambda s: occupancy.refresh(s, now))
    for lang, text in (("zh-CN", "通常繁忙"), ("en", "usually busy at this hour")):
        r = client.get(f"{BASE}/recommendations", query_string=params,
                       headers={**headers, "Accept-Language": lang}).json["recommendations"]
        assert [x["sid"] for x in r] == ["WEST", "EAST"]
        east = r[1]
        assert east["busy_at_arrival_pct"] >= 70 and east["wait_history_s"] == east["wait_s"] > 60
        assert r[0]["busy_at_arrival_pct"] < 30
        usual = [x for x in east["reasons"] if x["key"] == "usually_busy"]
        assert usual and text in usual[0]["text"], east["reasons"]
