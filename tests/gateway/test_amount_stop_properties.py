"""Charging by amount, closed loop: the gateway's session manager and limit writer (real
SQLite store, fake clock) run a pile that obeys the energy limit it is given, at a constant
power, polled every tick; the session's records are then billed by the cloud's judge.

Over random tariffs (periods cut at any minute, prices to 0.0001 CNY/kWh, service fees), start
instants, powers, poll periods and amounts (many chosen so the money runs out near a period
boundary), the rule of docs/money.md "Charging by amount" holds:
- the cloud's bill equals the gateway's cost (never `cost_mismatch`);
- the bill is never above the amount (nor the hold, which is the amount);
- stopped at an exact limit, the shortfall is less than the price of one more Wh: that Wh,
  billed where it would have gone, would have crossed the amount;
- stopped at a limit guarded against a boundary's split, the shortfall stays within the
  bound docs/money.md gives for it.
A pile that ignores the limit overruns; that is the debt path (tests/billing/test_service.py).
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from cloud.billing.judge import Bill, Ended, Started, judge
from edge.cache import Store
from edge.clock import FakeClock
from edge.drivers.base import CommandResult, GunReading
from edge.gunstate import GunState
from edge.limits import LimitWriter
from edge.runtime import GunRuntime, PileRuntime
from edge.sessions import SessionManager
from jcproto import Limit, parse_record
from jcproto.tariff import CostMeter, Tariff, amount_limit_wh, names_within, wh_until_amount
from tests.gateway.money_support import KEY

DAY_MS = 86_400_000
T0_S = 1_780_243_200  # 2026-06-01 00:00 +08:00


class ObedientPile:
    """One gun at a constant power that stops itself exactly when its session energy reaches
    the energy limit (as the spec's register 5 says), or at once when told to stop."""

    def __init__(self, power_w: int, lifetime_wh: int) -> None:
        self.power_w, self.base_wh = power_w, lifetime_wh
        self.counter, self.state, self.tag = 3, GunState.PLUGGED, None
        self.session_wh, self.seconds, self.limit_wh = 0.0, 0.0, 0
        self.stopped_by_limit = False

    def reading(self) -> GunReading:
        return GunReading(gun=1, state=self.state, energy_total_wh=self.base_wh + math.floor(self.session_wh),
                          session_energy_wh=math.floor(self.session_wh), session_seconds=math.floor(self.seconds),
                          session_counter=self.counter, session_tag=self.tag,
                          power_w=self.power_w if self.state == GunState.CHARGING else 0)

    async def start(self, n, *, tag, energy_limit_wh, time_limit_s, power_limit_w):
        self.counter, self.tag, self.state = self.counter + 1, tag, GunState.CHARGING
        self.limit_wh = energy_limit_wh
        return CommandResult.ACCEPTED

    async def read_gun(self, n):
        return self.reading()

    async def write_value(self, name, value, n):
        assert name == "energy_limit_wh"
        self.limit_wh = value
        self._check_limit()

    def _check_limit(self) -> None:
        if self.state == GunState.CHARGING and self.limit_wh and self.session_wh >= self.limit_wh:
            self.state, self.stopped_by_limit = GunState.FINISHING, True

    def run(self, seconds: float) -> None:
        if self.state != GunState.CHARGING:
            return
        more = self.power_w * seconds / 3600
        if self.limit_wh and self.session_wh + more >= self.limit_wh:
            seconds = (self.limit_wh - self.session_wh) * 3600 / self.power_w
            self.session_wh = float(self.limit_wh)  # lands on the limit, not a float hair below
            self.seconds += seconds
            self._check_limit()
            return
        self.session_wh += more
        self.seconds += seconds


@st.composite
def tariffs(draw) -> Tariff:
    """1–5 periods cut at any minute; prices in _e4 (to 0.0001 CNY/kWh), electricity and
    service apart, 0.2–3 CNY/kWh in all so that sessions end in a few hundred ticks."""
    cuts = sorted(draw(st.sets(st.integers(0, 1439), min_size=1, max_size=5)))
    names = draw(st.lists(st.sampled_from(["valley", "flat", "peak", "sharp"]),
                          min_size=len(cuts), max_size=len(cuts)))
    prices = {}
    for n in sorted(set(names)):
        energy = draw(st.one_of(st.integers(0, 20_000), st.integers(0, 200).map(lambda f: f * 100)))
        service = draw(st.one_of(st.integers(0, 10_000), st.just(0)))
        prices[n] = (max(energy, 2_000 - service), service)
    periods = []
    for i, cut in enumerate(cuts):
        end = cuts[(i + 1) % len(cuts)]
        periods.append({"start": f"{cut // 60:02d}:{cut % 60:02d}", "end": f"{end // 60:02d}:{end % 60:02d}",
                        "name": names[i], "energy_price_e4": prices[names[i]][0],
                        "service_price_e4": prices[names[i]][1]})
    return Tariff.from_dict({"id": "amount-prop", "tz": "Asia/Shanghai", "periods": periods})


@st.composite
def cases(draw) -> dict:
    tariff = draw(tariffs())
    start_ms = T0_S * 1000 + draw(st.integers(0, DAY_MS - 1))
    power_w = draw(st.sampled_from([1_400, 3_700, 7_000, 11_000, 22_000, 60_000, 120_000, 150_000]))
    tick_s = draw(st.sampled_from([1.0, 1.0, 2.0, 5.0, 15.0]))
    ticks = draw(st.integers(3, 300))  # how long the money should last, roughly
    # What a constant-power session costs by then (or by a boundary near then): an amount that
    # runs out there, plus or minus a few fen.
    until = start_ms + int(ticks * tick_s * 1000)
    nb = tariff.next_boundary(until - int(2 * tick_s * 1000))
    if nb is not None and draw(st.booleans()):
        until = nb + draw(st.integers(-int(3 * tick_s * 1000), int(3 * tick_s * 1000)))
        until = max(until, start_ms + 1000)
    meter = CostMeter(tariff, start_ms, 0)
    meter.feed(until, power_w * (until - start_ms) // 3_600_000)
    amount = max(100, meter.cost_fen + draw(st.integers(-3, 3)))
    # Polled slower where the least amount (1 CNY) takes long at a low power: a few hundred ticks.
    cheapest = min(p.price_e4 for p in tariff.periods)
    seconds = amount * 100_000 // cheapest * 3600 // power_w
    tick_s = max(tick_s, float(seconds // 200))
    return {"tariff": tariff, "start_ms": start_ms, "power_w": power_w, "tick_s": tick_s, "amount": amount,
            "lifetime_wh": draw(st.integers(0, 10**8))}


class Loop:
    """The bus loop's part for one gun: poll, judge, stop, amount limits."""

    def __init__(self, path: Path, case: dict) -> None:
        self.clock = FakeClock(start_wall=case["start_ms"] / 1000, autoadvance=True)
        self.pile = ObedientPile(case["power_w"], case["lifetime_wh"])
        self.gun = GunRuntime(id="P1-1", pile_id="P1", n=1, rated_power_w=case["power_w"], min_power_w=1_400)
        self.store = Store.open(path, clock=self.clock)
        pile_rt = PileRuntime(SimpleNamespace(id="P1"), self.pile)  # type: ignore[arg-type]
        pile_rt.guns = [self.gun]
        self.piles = [pile_rt]
        self.sm = SessionManager(self.store, self.clock, {"P1": pile_rt}, KEY)
        self.sm.load()
        self.limits = LimitWriter(None, self.sm, {"P1": pile_rt}, self.clock)  # type: ignore[arg-type]
        self.tick_s = case["tick_s"]
        self.amount = case["amount"]
        # The pile's limit in force: the cost meter it was computed from and whether the
        # boundary guard made it lower than the exact stop.
        self.basis: tuple[CostMeter, bool] | None = None
        self.stopped_by_gateway = False

    def guard_ms(self) -> int:
        return self.sm.amount_guard_ms(SimpleNamespace(tick_s=self.tick_s))  # type: ignore[arg-type]

    def note_basis(self, stopping: bool = False) -> None:
        """`stopping`: the gateway stops the session itself, from this reading (the pile would
        have stopped at the limit the same reading gives it)."""
        row = self.sm.open.get("P1-1")
        live = self.sm.live(row.session_id) if row is not None else None
        if live is None or live.cost is None or (live.pile_energy_limit_wh != self.pile.limit_wh and not stopping):
            return
        meter = snapshot(live.cost)
        exact = wh_until_amount(meter, self.amount, meter.last_ts_ms)
        self.basis = (meter, amount_limit_wh(meter, self.amount, self.guard_ms(), self.gun.rated_power_w) != exact)

    async def run(self, tariff: Tariff, max_ticks: int = 1_000) -> None:
        self.gun.apply(self.pile.reading(), self.clock.monotonic())
        await self.sm.start("P1-1", auth="remote", order_id="o-1", limit=Limit(mode="amount", value=self.amount),
                            tariff=tariff, cap_w=self.pile.power_w, start_limit_w=self.pile.power_w)
        self.note_basis()
        for _ in range(max_ticks):
            if "P1-1" not in self.sm.open:
                return  # ended
            self.clock.advance(self.tick_s)
            self.pile.run(self.tick_s)
            r = self.pile.reading()
            self.gun.apply(r, self.clock.monotonic())
            if self.sm.observe(self.gun, r):
                self.note_basis(stopping=True)
                self.pile.state, self.stopped_by_gateway = GunState.FINISHING, True  # the stop command
            await self.limits.amount_limits(self.piles, self.tick_s)
            self.note_basis()
        raise AssertionError("the session did not end")

    def records(self, kind: str) -> list[dict]:
        return [parse_record(r.to_wire()).to_dict() for r in self.store.outbox.batch(after_seq=0, limit=100_000)
                if r.type == kind]


def snapshot(meter: CostMeter) -> CostMeter:
    copy = CostMeter(meter.tariff, meter.start_ts_ms, meter.start_wh)
    copy.last_ts_ms, copy.last_wh = meter.last_ts_ms, meter.last_wh
    copy._wh = dict(meter._wh)
    return copy


def replay(tariff: Tariff, progress: list[dict], ended: dict, extra_wh: int = 0) -> CostMeter:
    """The session as the cloud replays it, optionally with `extra_wh` more at the end."""
    return CostMeter.replay(tariff, ended["started_at"], ended["energy_start_wh"],
                            [*((p["ts"], p["energy_wh"]) for p in progress),
                             (ended["ended_at"], ended["energy_stop_wh"] + extra_wh)])


def guard_bound(meter: CostMeter, amount: int, guard_ms: int) -> int:
    """docs/money.md: stopped at a guarded limit computed with `left` fen to go, over k period
    names whose dearest electricity and dearest service add up to pmax and whose cheapest
    price is pmin, the shortfall is at most left × (pmax − pmin) / pmax + 4k + 1 fen."""
    periods = [meter.tariff.prices(n) for n in
               names_within(meter.tariff, meter.last_ts_ms, meter.last_ts_ms + guard_ms)]
    pmax = max(p.energy_price_e4 for p in periods) + max(p.service_price_e4 for p in periods)
    pmin = min(p.price_e4 for p in periods)
    left = amount - meter.cost_fen
    return left * (pmax - pmin) // pmax + 4 * len(periods) + 1


PROP = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Found without the boundary guard: the pile's limit, exact for the cheap period, was reached
# after the switch to the dear one, before the next reading: 454 fen billed for 443.
DEAR_AFTER_CHEAP = {
    "tariff": Tariff.from_dict({"id": "found", "tz": "Asia/Shanghai", "periods": [
        {"start": "02:05", "end": "05:41", "name": "peak", "energy_price_e4": 18900, "service_price_e4": 1264},
        {"start": "05:41", "end": "20:10", "name": "flat", "energy_price_e4": 1842, "service_price_e4": 158},
        {"start": "20:10", "end": "02:05", "name": "flat", "energy_price_e4": 1842, "service_price_e4": 158}]}),
    "start_ms": 1780243462143, "power_w": 11000, "tick_s": 36.0, "amount": 443, "lifetime_wh": 3190}


@PROP
@given(case=cases())
@example(case=DEAR_AFTER_CHEAP)
def test_an_amount_session_bills_within_the_amount_and_as_close_as_a_wh_allows(case):
    with tempfile.TemporaryDirectory() as tmp:
        loop = Loop(Path(tmp) / "s.db", case)
        try:
            asyncio.run(loop.run(case["tariff"]))
            [started] = loop.records("session_started")
            progress = loop.records("session_progress")
            [ended] = loop.records("session_ended")
        finally:
            loop.store.close()
    tariff, amount = case["tariff"], case["amount"]
    bill = judge(Started(started["ts"], started["energy_start_wh"], tuple((p["ts"], p["energy_wh"]) for p in progress)),
                 Ended.from_record(ended), None, tariff, case["power_w"])
    assert isinstance(bill, Bill), bill  # the cloud's cost is the gateway's: no cost_mismatch
    assert bill.total_fen == ended["cost_fen"] <= amount, (bill.total_fen, amount)
    assert (loop.pile.stopped_by_limit or loop.stopped_by_gateway) and loop.basis is not None
    meter, guarded = loop.basis
    shortfall = amount - bill.total_fen
    event(f"stopped at a {'guarded' if guarded else 'exact'} limit, {len(bill.cost_lines)} period name(s)")
    if not guarded:
        one_more = replay(tariff, progress, ended, extra_wh=1).cost_fen
        assert one_more > amount, (shortfall, one_more)  # i.e. shortfall < the price of that Wh
    else:
        assert shortfall <= guard_bound(meter, amount, loop.guard_ms()), shortfall
