"""Orderly charging in the gateway: the session manager and the load controller on a fake
clock and a real store (the money tests' rig, tests/gateway/money_support.py). A 7 kW gun,
a 100 kVA transformer, a tariff whose valley begins at 21:00; the driver leaves at 23:00
wanting 7 kWh. No cloud anywhere: the plan is the gateway's own."""

from __future__ import annotations

import pytest

from edge.clock import FakeClock
from edge.control import LoadController
from edge.loadctl import Policy
from edge.runtime import MeterRuntime
from edge.sessions import StartError
from jcproto import Limit
from jcproto.tariff import Tariff
from tests.gateway.money_support import Pile, Rig

WALL0 = 1_780_317_000.0  # 2026-06-01 20:30 +08:00
DEPART_MS = int(WALL0 * 1000) + 150 * 60_000  # 23:00
TARIFF = {"id": "t-tou", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "07:00", "end": "21:00", "name": "peak", "energy_price_e4": 10_000, "service_price_e4": 4_000},
    {"start": "21:00", "end": "07:00", "name": "valley", "energy_price_e4": 3_000, "service_price_e4": 4_000}]}
RATED_KVA = 100


class DrawingPile(Pile):
    """Draws what its limit allows (the car takes up to 7 kW)."""

    power_w = 0

    def reading(self, **kw):
        return super().reading(**{"power_w": self.power_w if self.state.value == "charging" else 0, **kw})


class Station:
    """The parts of the gateway an orderly session goes through, no line: the manager, the
    controller and the meter it reads."""

    def __init__(self, tmp_path, policy: Policy | None = None) -> None:
        self.clock = FakeClock(start_wall=WALL0, autoadvance=True)
        self.pile = DrawingPile()
        self.rig = Rig(tmp_path / "s.db", self.clock, self.pile)
        self.rig.store.settings.set_tariff(TARIFF)
        self.meter = MeterRuntime()
        self.base_va = 30_000
        self.ctl = LoadController(policy or Policy(dwell_s=0), RATED_KVA, self.meter, [self.rig.gun], self.rig.sm, self.clock)
        self.load(30_000)

    def load(self, base_va: int | None = None) -> None:
        """The meter reads the base load and what the gun draws."""
        if base_va is not None:
            self.base_va = base_va
        self.meter.s_total_va = self.base_va + round(self.pile.power_w / 0.98)
        self.meter.good_at = self.clock.monotonic()

    async def start(self, wh: int = 7_000, departure_ms: int = DEPART_MS):
        self.rig.poll()
        d, _ = self.ctl.decide()
        cap, first = self.ctl.start_cap(d, "P1-1")
        o = self.ctl.first_orderly_limit("P1-1", cap, wh, departure_ms)
        first = min(first, o.power_w) if o.power_w is not None else first
        row = await self.rig.sm.start("P1-1", auth="remote", order_id="o1", limit=Limit(mode="energy", value=wh),
                                      tariff=Tariff.from_dict(TARIFF), cap_w=cap, start_limit_w=first,
                                      departure_at=departure_ms, orderly=o)
        return row, first, o

    def limit(self) -> int:
        """Decide, and the pile takes the limit."""
        self.load()
        d, _ = self.ctl.decide()
        w = self.ctl.targets(d)["P1-1"]
        self.pile.power_w = w
        self.rig.gun.limit_written_w = w  # as the limit writer notes it (edge/limits.py)
        self.rig.poll()
        self.load()
        return w

    def minutes(self, n: int, wh_per_min: int = 0) -> None:
        for _ in range(n):
            self.clock.advance(60)
            self.pile.energy += wh_per_min
            self.load()
            self.rig.poll()


async def test_the_session_waits_through_the_peak_and_charges_in_the_valley(tmp_path):
    st = Station(tmp_path)
    row, first, o = await st.start()
    # 20:30, peak: the plan puts the 7 kWh into 21:00–22:00 (the valley's first hour)
    assert first == 0 and o.status == "on_track" and o.power_w == 0
    assert o.finish_at == int(WALL0 * 1000) + 90 * 60_000
    assert st.limit() == 0
    s = st.rig.sm.summary("P1-1")
    assert s["orderly"]["waiting"] and s["orderly"]["status"] == "on_track"
    assert s["orderly"]["slots"][0]["power_w"] == 0
    [started] = st.rig.records("session_started")
    assert started["orderly"]["departure_at"] == DEPART_MS and started["orderly"]["status"] == "on_track"
    assert started["limit"] == {"mode": "energy", "value": 7_000}
    st.minutes(29)  # 20:59: still waiting
    assert st.limit() == 0
    st.minutes(1)  # 21:00: the valley
    assert st.limit() == 7_000 and not st.rig.sm.summary("P1-1")["orderly"]["waiting"]
    st.minutes(30, wh_per_min=116)
    progress = st.rig.records("session_progress")
    assert progress and all(p["orderly"]["status"] == "on_track" for p in progress)
    st.minutes(31, wh_per_min=116)  # 7 kWh in: the pile stops at its energy limit
    assert st.pile.limits == (7_000, 0)


async def test_a_busy_transformer_holds_the_plan_under_its_target_and_says_it_cannot_meet(tmp_path):
    st = Station(tmp_path)
    st.clock.set_wall(WALL0 + 30 * 60)  # 21:00, valley
    await st.start(departure_ms=DEPART_MS)
    assert st.limit() == 7_000
    # a base load of 71 kVA: (80 − 71 − 5) kVA × 0.98 = 3.92 kW of room for it under the
    # 80 % target, with the 5 % margin
    st.load(71_000)
    limit = st.limit()
    target_va = RATED_KVA * 1000 * 0.80
    assert 3_900 <= limit <= 3_920
    assert st.meter.s_total_va <= target_va  # the plan keeps the load under the target
    o = st.rig.sm.orderly_of(st.rig.sm.session_on("P1-1"))
    assert o.status == "on_track" and o.expected_wh == 7_000  # two hours at ~4 kW still make it
    # even busier: 1.47 kW of room for two hours cannot make 7 kWh; as fast as allowed, said
    st.load(73_500)
    assert 1_450 <= st.limit() <= 1_470 and st.meter.s_total_va <= target_va
    o = st.rig.sm.orderly_of(st.rig.sm.session_on("P1-1"))
    assert o.status == "cannot_meet" and o.expected_wh < 7_000


async def test_the_live_rule_caps_the_plan(tmp_path):
    """The plan never raises a gun above what the rule allows: blocked holds the cap the
    session started with, and the plan (7 kW in the valley) can only lower it."""
    st = Station(tmp_path)
    st.clock.set_wall(WALL0 + 30 * 60)
    st.load(60_000)  # capped: the session starts capped at 3.5 kW
    row, first, o = await st.start()
    assert row.power_cap_w == 3_500 and first == 3_500
    st.load(10_000)
    assert st.limit() == 3_500
    assert st.ctl.plans[row.session_id][0].power_now_w == 3_500  # planned within its cap


async def test_an_orderly_start_needs_an_energy_limit_and_a_departure_ahead(tmp_path):
    st = Station(tmp_path)
    st.rig.poll()
    with pytest.raises(StartError) as e:
        await st.rig.sm.start("P1-1", auth="remote", limit=Limit(mode="full"), cap_w=7000, start_limit_w=7000,
                              departure_at=DEPART_MS)
    assert e.value.code == "invalid"
    with pytest.raises(StartError):
        await st.rig.sm.start("P1-1", auth="remote", limit=Limit(mode="energy", value=5000), cap_w=7000,
                              start_limit_w=7000, departure_at=int(WALL0 * 1000) - 1)
    assert st.rig.sm.session_on("P1-1") is None


@pytest.mark.parametrize("ahead_ms", [8 * 86_400_000 + 1, 4102444800000, 10**15])
async def test_an_orderly_start_refuses_a_departure_beyond_the_horizon_at_once(tmp_path, ahead_ms):
    """A departure decades ahead would be millions of 15-minute slots, planned again every
    minute on the station's loop: refused (`invalid`) before anything is planned."""
    import time

    st = Station(tmp_path)
    st.rig.poll()
    t = time.monotonic()
    with pytest.raises(StartError) as e:
        await st.rig.sm.start("P1-1", auth="remote", limit=Limit(mode="energy", value=5000), cap_w=7000,
                              start_limit_w=7000, departure_at=int(WALL0 * 1000) + ahead_ms)
    assert e.value.code == "invalid" and "days ahead" in str(e.value)
    assert time.monotonic() - t < 1.0
    assert st.rig.sm.session_on("P1-1") is None
    row, _first, o = await st.start(departure_ms=int(WALL0 * 1000) + 7 * 86_400_000)  # a week: planned
    assert o.status == "on_track" and st.rig.sm.session_on("P1-1") is not None


async def test_after_a_restart_the_plan_is_made_again_from_the_store(tmp_path):
    st = Station(tmp_path)
    await st.start()
    st.rig.restart(down_s=60)
    st.ctl = LoadController(Policy(dwell_s=0), RATED_KVA, st.meter, [st.rig.gun], st.rig.sm, st.clock)
    st.rig.poll()
    assert st.limit() == 0  # still the peak: still waiting, offline and after a restart
    st.minutes(30)
    assert st.limit() == 7_000


@pytest.mark.parametrize(("margin_pct", "room_w"), [(2.0, 6_860), (5.0, 3_920), (10.0, 0)])
async def test_the_headroom_margin_is_the_load_policy_s(tmp_path, margin_pct, room_w):
    """orderly_margin_pct (config [load_policy]) is the share of rated kVA the forecast keeps
    free: (80 − 71 − margin) kVA × 0.98 for the orderly session at a base load of 71 kVA."""
    st = Station(tmp_path, Policy(dwell_s=0, orderly_margin_pct=margin_pct))
    st.clock.set_wall(WALL0 + 30 * 60)  # 21:00, valley
    await st.start(departure_ms=DEPART_MS)
    st.load(71_000)
    assert abs(st.limit() - room_w) <= 20
    assert st.meter.s_total_va <= RATED_KVA * 1000 * 0.80


async def test_a_headroom_move_under_orderly_replan_pct_keeps_the_plan(tmp_path):
    """A move of 3 kVA replans under the default 2 % of 100 kVA, not under orderly_replan_pct 5;
    orderly_replan_s then makes it again anyway."""
    st = Station(tmp_path, Policy(dwell_s=0, orderly_replan_pct=5.0, orderly_replan_s=120.0))
    st.clock.set_wall(WALL0 + 30 * 60)  # 21:00, valley
    await st.start(departure_ms=DEPART_MS)
    st.load(71_000)
    first = st.limit()
    st.load(74_000)  # 3 kVA more: within 5 % of rated, the plan is kept
    assert st.limit() == first
    st.minutes(2)  # orderly_replan_s passed: made again under the new load
    assert st.limit() < first
