"""The cloud's `set_tariff` and `start` commands with Revision 1.1 tariffs (prices to four
decimals, an idle fee), through the real handlers and session manager on a fake clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge.clock import FakeClock
from edge.sessions import StartError
from edge.sync import commands
from jcproto import Limit, SetTariff, Start, Tariff, TariffPeriod
from jcproto.commands import IdleFee
from jcproto.tariff import CostMeter, wh_until_amount
from tests.gateway.money_support import WALL0, Pile, Rig

E4 = Tariff(id="t-e4", periods=[
    TariffPeriod(start="00:00", end="24:00", name="flat", energy_price_e4=6855, service_fen_per_kwh=40)],
    idle=IdleFee(grace_min=10, step_min=15, fen_per_step=150, cap_fen=1_000))
FAR = int(WALL0 * 1000) + 10**10


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "s.db", FakeClock(start_wall=WALL0, autoadvance=True), Pile())
    yield r
    r.store.close()


def station_of(rig: Rig, start_session=None) -> SimpleNamespace:
    async def start(gun_id, **kw):
        row = await rig.sm.start(gun_id, cap_w=7000, start_limit_w=7000, **kw)
        return {"session_id": row.session_id, "power_cap_w": 7000}

    rig.gun.apply(rig.pile.reading(), rig.clock.monotonic())
    return SimpleNamespace(store=rig.store, guns={"P1-1": rig.gun}, start_session=start_session or start)


async def test_set_tariff_with_e4_prices_and_idle_is_the_station_tariff(rig):
    reply = await commands.set_tariff(station_of(rig), SetTariff(expires_at=FAR, tariff=E4))
    now = rig.store.now_ms()
    assert reply.ok and reply.detail == {"tariff_id": "t-e4", "effective_from": now, "pending": [],
                                         "in_force": {"tariff_id": "t-e4", "effective_from": now}}
    t = rig.sm.station_tariff()
    assert (t.periods[0].energy_price_e4, t.periods[0].service_price_e4) == (6855, 4000)
    assert t.idle is not None and t.idle.cap_fen == 1_000


async def test_an_amount_start_is_priced_with_the_commands_e4_tariff(rig):
    cmd = Start(expires_at=FAR, gun="P1-1", order_id="o-1", limit=Limit(mode="amount", value=500), tariff=E4)
    reply = await commands.start(station_of(rig), cmd)
    assert reply.ok, reply
    row = rig.store.sessions.get(reply.detail["session_id"])
    meter = CostMeter.from_dict(row.cost_state)
    assert meter.tariff.periods[0].energy_price_e4 == 6855 and meter.tariff.idle.fen_per_step == 150
    # the pile was given the energy the amount buys at 0.6855 + 0.40 CNY/kWh
    assert rig.pile.limits == (wh_until_amount(meter, 500, row.started_at), 0)
    # 4 612 Wh: 316.15 → 316 + 184.48 → 184 = 500 fen; at 4 613 Wh the service fee is 184.52 → 185
    assert rig.pile.limits[0] == 4_612


async def test_a_start_refused_for_want_of_a_tariff_answers_invalid_with_the_reason(rig):
    async def refuse(gun_id, **kw):
        raise StartError("no_tariff", "P1-1: a start limited by amount needs a tariff")

    cmd = Start(expires_at=FAR, gun="P1-1", order_id="o-2", limit=Limit(mode="amount", value=500), tariff=E4)
    reply = await commands.start(station_of(rig, refuse), cmd)
    assert not reply.ok and reply.error == "invalid"
    assert reply.detail["reason"] == "no_tariff" and "needs a tariff" in reply.detail["message"]
    reply.to_json()  # a valid reply
