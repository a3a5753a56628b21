"""The cloud's `set_tariff` and `start` commands with Revision 1.1 tariffs (prices to four
decimals, an idle fee), through the real handlers and session manager on a fake clock."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from edge.clock import FakeClock
from edge.drivers.base import CommandResult
from edge.gunstate import GunState
from edge.sessions import StartError
from edge.sync import commands
from jcproto import Limit, Reserve, SetTariff, Start, Tariff, TariffPeriod
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


class ReservingPile(Pile):
    """A pile that holds a reservation's tag and refuses any start without it (as the
    reference pile and the simulator do)."""

    reserved: int | None = None

    async def reserve(self, n, tag):
        if self.reserved is not None and self.reserved != tag:
            return CommandResult.RESERVED
        self.reserved, self.state = tag, GunState.RESERVED
        return CommandResult.ACCEPTED

    async def cancel_reservation(self, n):
        self.reserved, self.state = None, GunState.PLUGGED
        return CommandResult.ACCEPTED

    async def start(self, n, *, tag, **kw):
        if self.reserved is not None and self.reserved != tag:
            return CommandResult.RESERVED
        self.reserved = None
        return await super().start(n, tag=tag, **kw)


@pytest.mark.parametrize("then", ["start", "reserve"])
async def test_right_after_until_the_gun_takes_a_start_or_reservation_before_housekeeping_ran(
        tmp_path, monkeypatch, then):
    """At `until` the cloud counts the gun free; the gateway releases the pile's reservation in
    its heartbeat round (every few seconds). A start or reserve in between must not be refused
    `reserved` by the pile."""
    from edge import reservations

    pile = ReservingPile()
    rig = Rig(tmp_path / "s.db", FakeClock(start_wall=WALL0, autoadvance=True), pile)
    try:
        station = station_of(rig)
        station.piles = {"P1": SimpleNamespace(driver=pile)}
        now = [int(WALL0 * 1000)]
        monkeypatch.setattr(reservations, "cloud_now_ms", lambda: now[0])
        monkeypatch.setattr(commands, "cloud_now_ms", lambda: now[0])
        reply = await commands.reserve(station, Reserve(expires_at=FAR, gun="P1-1", reservation_id="rv1",
                                                        until=now[0] + 60_000))
        assert reply.ok and pile.state == GunState.RESERVED
        rig.gun.apply(pile.reading(), rig.clock.monotonic())
        now[0] += 60_000  # `until`: over, and the heartbeat round has not come yet
        if then == "start":
            cmd = Start(expires_at=FAR, gun="P1-1", order_id="o-1", limit=Limit(mode="full"), tariff=E4)
            reply = await commands.start(station, cmd)
        else:
            reply = await commands.reserve(station, Reserve(expires_at=FAR, gun="P1-1", reservation_id="rv2",
                                                            until=now[0] + 60_000))
        assert reply.ok, reply
        assert "rv1" not in reservations.reservations(station)
    finally:
        rig.store.close()
