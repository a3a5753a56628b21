"""Orderly charging in the gateway with a car that takes less than the pile allows (its
on-board charger): the manager and the load controller on a fake clock and a real store, as in
test_orderly_unit.py (a 7 kW gun, a 100 kVA transformer, the valley from 21:00, the driver
leaving at 23:00). The gateway learns what the car takes from the gun's readings
(edge/loadctl/acceptance.py) and plans with it."""

from __future__ import annotations

from edge.clock import FakeClock
from edge.control import LoadController
from edge.loadctl import Policy
from edge.runtime import MeterRuntime
from tests.gateway.money_support import Rig
from tests.gateway.test_orderly_unit import (
    DEPART_MS,
    RATED_KVA,
    TARIFF,
    WALL0,
    DrawingPile,
    Station,
)


class TakingLessPile(DrawingPile):
    """A car that takes at most `accept_w` whatever the pile allows (its on-board charger);
    the pile reports the limit it holds."""

    accept_w = 3_600

    def reading(self, **kw):
        charging = self.state.value == "charging"
        return super().reading(
            **{
                "power_w": min(self.power_w, self.accept_w) if charging else 0,
                "power_limit_active_w": self.power_w,
                **kw,
            }
        )


def taking_less(tmp_path, accept_w: int, policy: Policy | None = None) -> Station:
    st = Station.__new__(Station)
    st.clock = FakeClock(start_wall=WALL0, autoadvance=True)
    st.pile = TakingLessPile()
    st.pile.accept_w = accept_w
    st.rig = Rig(tmp_path / "s.db", st.clock, st.pile)
    st.rig.store.settings.set_tariff(TARIFF)
    st.meter = MeterRuntime()
    st.base_va = 30_000
    st.ctl = LoadController(
        policy or Policy(dwell_s=0), RATED_KVA, st.meter, [st.rig.gun], st.rig.sm, st.clock
    )
    st.load(30_000)
    return st


def run_minutes(st: Station, n: int) -> None:
    """Minute by minute: the pile takes its limit, the car draws what it takes of it."""
    for _ in range(n):
        drawn = min(st.pile.power_w, st.pile.accept_w) if st.pile.state.value == "charging" else 0
        st.minutes(1, wh_per_min=drawn // 60)
        st.limit()


async def test_a_car_taking_less_is_learned_and_the_plan_takes_the_second_valley_hour(tmp_path):
    st = taking_less(tmp_path, 3_600)
    await st.start()
    o = st.rig.sm.orderly_of(st.rig.sm.session_on("P1-1"))
    assert o.finish_at == int(WALL0 * 1000) + 90 * 60_000  # the pile's 7 kW: one valley hour
    st.clock.advance(30 * 60)  # 21:00, the valley
    assert st.limit() == 7_000
    run_minutes(st, 1)
    s = st.rig.sm.summary("P1-1")
    assert s["orderly"]["acceptance_w"] is None  # one reading short is no shortfall
    run_minutes(st, 3)  # sustained: learned, and the plan made again with it
    s = st.rig.sm.summary("P1-1")
    assert s["orderly"]["acceptance_w"] == 3_600
    assert s["orderly"]["status"] == "on_track" and s["orderly"]["expected_wh"] == 7_000
    assert (
        s["orderly"]["finish_at"] > int(WALL0 * 1000) + 150 * 60_000 - 30 * 60_000
    )  # into the second hour
    # the ceiling stays the pile's power in a slot used in full: the car may take more
    assert st.pile.power_w == 7_000 and s["orderly"]["slots"][0]["energy_wh"] < 7_000 * 15 // 60
    # the car takes more (its battery warmed): the figure rises, the plan finishes earlier
    st.pile.accept_w = 6_000
    run_minutes(st, 4)
    s = st.rig.sm.summary("P1-1")
    assert s["orderly"]["acceptance_w"] == 6_000 and s["orderly"]["status"] == "on_track"
    finish_6kw = s["orderly"]["finish_at"]
    # the cloud learns it from the session's records (the next progress after the figure
    # moved): null while not known, then the figure
    [started] = st.rig.records("session_started")
    assert started["orderly"]["acceptance_w"] is None
    seen = [p["orderly"]["acceptance_w"] for p in st.rig.records("session_progress")]
    assert seen[0] is None and 3_600 in seen
    assert finish_6kw < int(WALL0 * 1000) + 150 * 60_000
    # the energy is in by the departure, under the target throughout
    for _ in range(150):
        run_minutes(st, 1)
        assert st.meter.s_total_va <= RATED_KVA * 1000 * 0.80
        if st.pile.energy - 500_000 >= 7_000:
            break
    assert st.pile.energy - 500_000 >= 7_000 and st.clock.time() * 1000 <= DEPART_MS


async def test_a_car_too_slow_for_the_departure_is_said_cannot_meet_once_known(tmp_path):
    st = taking_less(tmp_path, 2_500)
    st.clock.set_wall(WALL0 + 30 * 60)  # 21:00, the valley
    await st.start(wh=8_000)
    assert st.limit() == 7_000
    o = st.rig.sm.orderly_of(st.rig.sm.session_on("P1-1"))
    assert o.status == "on_track"  # at the pile's power 8 kWh in 2 h is easy
    run_minutes(st, 4)
    o = st.rig.sm.orderly_of(st.rig.sm.session_on("P1-1"))
    # 2 h at 2.5 kW is 5 kWh: said honestly, with what it will have, charging as fast as allowed
    assert o.status == "cannot_meet" and 4_800 <= o.expected_wh <= 5_000
    assert st.limit() == 7_000


async def test_the_learner_follows_the_load_policy_s_acceptance_keys(tmp_path):
    """A car taking 6.5 of 7 kW (93 %) is no clear shortfall under the default 90 %; with
    `[load_policy] orderly_shortfall_pct = 95` the gateway learns it."""
    found = {}
    for pct in (90.0, 95.0):
        st = taking_less(tmp_path / str(pct), 6_500, Policy(dwell_s=0, orderly_shortfall_pct=pct))
        st.clock.set_wall(WALL0 + 30 * 60)  # 21:00, the valley
        await st.start()
        assert st.limit() == 7_000
        run_minutes(st, 4)
        found[pct] = st.rig.sm.summary("P1-1")["orderly"]["acceptance_w"]
    assert found == {90.0: None, 95.0: 6_500}
