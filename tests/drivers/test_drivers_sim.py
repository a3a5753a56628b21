"""The gateway's drivers against the simulated station, over Modbus TCP and over the
pseudo-terminal RTU link: every pile behaviour of the reference map, the meter, and what
goes wrong on a wire (cut links, CRC errors, short frames, silence, dribbled bytes, absurd
values)."""

from __future__ import annotations

import asyncio
import time

import pytest

from edge.drivers.base import CommandResult
from edge.drivers.bus import Bus, BusSettings
from edge.drivers.errors import (
    BadFrame,
    BusError,
    DeviceLost,
    DeviceRefused,
    InvalidValue,
    NoResponse,
)
from edge.drivers.framewake import EXCEPTION_REPLY_BYTES
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import load_profile
from edge.drivers.transport import PymodbusTransport, SerialSettings, wire_time
from edge.gunstate import GunState
from tests.support.sim import SimProcess

PILE = load_profile("jc-ref-v1")
METER = load_profile("arcm300t")
AC7, AC22, DC = 1, 2, 3


class Rig:
    def __init__(self, sim: SimProcess, kind: str, baud: int) -> None:
        self.sim, self.kind = sim, kind
        if kind == "tcp":
            host, port = sim.tcp
            self.transport = PymodbusTransport(host=host, port=port)
        else:
            self.transport = PymodbusTransport(serial=SerialSettings(sim.rtu, baud=baud))
        self.bus = Bus(self.transport, BusSettings(timeout_s=0.25, retries=1, lost_after=2, backoff_s=0.2,
                                                   backoff_max_s=0.4))

    def pile(self, unit: int) -> RegisterMapPile:
        return RegisterMapPile(self.bus, unit, PILE)

    def meter(self) -> RegisterMapMeter:
        return RegisterMapMeter(self.bus, self.sim.meter_unit, METER, rated_kva=160)

    def ctl(self, method: str, path: str, body=None):
        return self.sim.control(method, path, body)

    def faults(self, unit: int | None = None, **keys):
        body = {"transport": self.kind, **keys}
        if unit is not None:
            body["unit"] = unit
        return self.ctl("PUT", "/link-faults", body)


@pytest.fixture(params=["tcp", "rtu"])
async def rig(request, tmp_path):
    kind = request.param
    with SimProcess("test", tcp=kind == "tcp", rtu=tmp_path / "ttySIM" if kind == "rtu" else None,
                    baud=115200 if kind == "rtu" else None) as sim:
        r = Rig(sim, kind, 115200)
        yield r
        await r.bus.close()


async def until(fn, timeout=5.0, every=0.1):
    """Poll an async reader until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met in {timeout} s; last: {last!r}")


async def test_identify_every_device(rig):
    infos = {u: await rig.pile(u).identify() for u in (AC7, AC22, DC)}
    assert (infos[AC7].current, infos[AC7].phases, infos[AC7].rated_power_w, infos[AC7].gun_count) == ("AC", 1, 7000, 1)
    assert (infos[AC22].phases, infos[AC22].rated_power_w) == (3, 22000)
    assert (infos[DC].current, infos[DC].gun_count, infos[DC].rated_power_w) == ("DC", 2, 120000)
    assert infos[AC7].min_current_a == pytest.approx(6.0)
    assert infos[AC7].serial.startswith("JCT-AC7")
    meter = rig.meter()
    info = await meter.identify()
    assert info.pt_ratio == 1.0
    reading = await meter.read_meter()
    assert 0 < reading.load_pct(160) < 100
    assert reading.frequency_hz == pytest.approx(50, abs=0.5)
    assert all(220 < v < 240 for v in reading.voltages_v)


async def test_session_start_charge_stop_with_counter_tag_and_lifetime_energy(rig):
    pile = rig.pile(DC)
    await pile.identify()
    before = await pile.read_gun(1)
    assert before.state is GunState.AVAILABLE
    assert await pile.start(1, tag=77) is CommandResult.NOT_PLUGGED
    rig.ctl("POST", f"/piles/{DC}/guns/1/plug", {"ev": {"start_soc": 30}})
    assert await pile.start(1, tag=0xCAFE0001, power_limit_w=50_000) is CommandResult.ACCEPTED
    g = await until(lambda: _state(pile, 1, GunState.CHARGING), timeout=2.0)
    assert g.session_counter == (before.session_counter + 1) % 65536
    assert g.session_tag == 0xCAFE0001
    assert await pile.start(1, tag=5) is CommandResult.BUSY
    await until(lambda: _energy_above(pile, 1, before.energy_total_wh))
    assert await pile.stop(1) is CommandResult.ACCEPTED
    g = await until(lambda: _state(pile, 1, GunState.FINISHING))
    assert g.stop_reason == "remote"
    assert g.energy_total_wh - before.energy_total_wh >= g.session_energy_wh > 0
    rig.ctl("POST", f"/piles/{DC}/guns/1/unplug")
    g = await until(lambda: _state(pile, 1, GunState.AVAILABLE))
    assert g.energy_total_wh >= before.energy_total_wh  # the lifetime register never goes back


async def test_power_limits_pause_and_clamp(rig):
    pile = rig.pile(DC)
    await pile.identify()
    rig.ctl("POST", f"/piles/{DC}/guns/2/plug", {"ev": {"start_soc": 20}})
    assert await pile.start(2, tag=2) is CommandResult.ACCEPTED
    await until(lambda: _state(pile, 2, GunState.CHARGING))
    await pile.set_power_limit(2, 30_000)
    g = await until(lambda: _limit_active(pile, 2, 30_000), timeout=1.5)
    assert g.power_w <= 30_000
    await pile.set_power_limit(2, 0)
    g = await until(lambda: _state(pile, 2, GunState.SUSPENDED_EVSE), timeout=1.5)
    assert g.power_w == 0
    await pile.set_power_limit(2, 500_000)  # above rated: clamped
    g = await until(lambda: _state(pile, 2, GunState.CHARGING), timeout=1.5)
    assert g.power_limit_active_w == 120_000


async def test_ac_limit_below_minimum_current_pauses_instead_of_charging_less(rig):
    pile = rig.pile(AC22)
    await pile.identify()
    rig.ctl("POST", f"/piles/{AC22}/guns/1/plug", {"ev": {"start_soc": 50, "ac_phases": 3}})
    assert await pile.start(1, tag=9) is CommandResult.ACCEPTED
    await until(lambda: _state(pile, 1, GunState.CHARGING))
    await pile.set_power_limit(1, 3000)  # 6 A x 230 V x 3 = 4140 W is the least it can do
    g = await until(lambda: _state(pile, 1, GunState.SUSPENDED_EVSE), timeout=1.5)
    assert g.power_w == 0
    await pile.set_power_limit(1, 5000)
    g = await until(lambda: _state(pile, 1, GunState.CHARGING), timeout=1.5)
    assert 0 < g.power_w <= 5000


async def test_energy_and_time_limits_held_by_the_pile(rig):
    pile = rig.pile(DC)
    await pile.identify()
    rig.ctl("PUT", "/clock", {"speed": 60})
    rig.ctl("POST", f"/piles/{DC}/guns/1/plug", {"ev": {"start_soc": 20}})
    assert await pile.start(1, tag=1, energy_limit_wh=400) is CommandResult.ACCEPTED
    g = await until(lambda: _state(pile, 1, GunState.FINISHING), timeout=5)
    assert g.stop_reason == "limit"
    assert g.session_energy_wh == pytest.approx(400, abs=2)
    rig.ctl("POST", f"/piles/{AC7}/guns/1/plug")
    ac = rig.pile(AC7)
    await ac.identify()
    assert await ac.start(1, tag=2, time_limit_s=120) is CommandResult.ACCEPTED
    g = await until(lambda: _state(ac, 1, GunState.FINISHING), timeout=6)
    assert (g.stop_reason, g.session_seconds) == ("limit", 120)


async def test_watchdog_falls_back_and_heartbeat_restores(rig):
    pile = rig.pile(DC)
    await pile.identify()
    rig.ctl("POST", f"/piles/{DC}/guns/1/plug")
    assert await pile.start(1, tag=3) is CommandResult.ACCEPTED
    await until(lambda: _state(pile, 1, GunState.CHARGING))
    await pile.configure_watchdog(1, 0)
    await pile.heartbeat(41)
    assert (await pile.read_device_status()).int("heartbeat_echo") == 41
    g = await until(lambda: _state(pile, 1, GunState.SUSPENDED_EVSE), timeout=3)  # gateway silent
    assert g.power_limit_active_w == 0
    await pile.heartbeat(42)
    g = await until(lambda: _state(pile, 1, GunState.CHARGING), timeout=2)
    assert g.power_limit_active_w == 120_000


async def test_faults_latch_until_cause_gone_and_reset(rig):
    pile = rig.pile(DC)
    await pile.identify()
    rig.ctl("POST", f"/piles/{DC}/guns/2/plug")
    assert await pile.start(2, tag=4) is CommandResult.ACCEPTED
    await until(lambda: _state(pile, 2, GunState.CHARGING))
    rig.ctl("POST", f"/piles/{DC}/faults", {"fault": "insulation_fault", "gun": 2})
    g = await until(lambda: _state(pile, 2, GunState.FAULTED))
    assert g.faults == {"insulation_fault"} and g.stop_reason == "fault"
    assert await pile.start(2, tag=5) is CommandResult.FAULTED
    assert await pile.reset_fault(2) is CommandResult.FAULTED  # the cause is still there
    rig.ctl("DELETE", f"/piles/{DC}/faults/insulation_fault?gun=2")
    assert (await pile.read_gun(2)).state is GunState.FAULTED  # latched
    assert await pile.reset_fault(2) is CommandResult.ACCEPTED
    g = await until(lambda: _state(pile, 2, GunState.PLUGGED))
    assert g.faults == frozenset()
    rig.ctl("POST", f"/piles/{AC7}/faults", {"fault": "emergency_stop"})
    assert (await until(lambda: _state(rig.pile(AC7), 1, GunState.FAULTED))).faults == {"emergency_stop"}


async def test_reservation_admits_only_its_tag(rig):
    pile = rig.pile(AC7)
    await pile.identify()
    rig.ctl("POST", f"/piles/{AC7}/guns/1/plug")
    assert await pile.reserve(1, tag=1234) is CommandResult.ACCEPTED
    assert (await pile.read_gun(1)).state is GunState.RESERVED
    assert await pile.start(1, tag=999) is CommandResult.RESERVED
    assert await pile.start(1, tag=1234) is CommandResult.ACCEPTED
    await until(lambda: _state(pile, 1, GunState.CHARGING))


async def test_out_of_map_writes_are_refused_and_change_nothing(rig):
    pile = rig.pile(AC7)
    with pytest.raises(DeviceRefused) as info:
        await rig.bus.write(AC7, 150, [1])  # not a documented register
    assert info.value.code == 2
    with pytest.raises(DeviceRefused) as info:
        await rig.bus.write(AC7, 100, [9])  # command 9 does not exist
    assert info.value.code == 3
    assert (await pile.read_gun(1)).last_cmd_result == "none"
    assert not rig.bus.health(AC7).lost


async def test_cut_link_marks_the_device_lost_and_back(rig):
    pile = rig.pile(AC22)
    await pile.identify()
    rig.ctl("POST", f"/devices/{AC22}/link", {"cut": True})
    for _ in range(2):
        with pytest.raises(NoResponse):
            await pile.read_gun(1)
    assert rig.bus.health(AC22).lost
    with pytest.raises(DeviceLost):
        await pile.read_gun(1)  # not due: the line is not spent on it
    assert (await rig.pile(AC7).read_gun(1)).state is GunState.AVAILABLE  # the others still answer
    rig.ctl("POST", f"/devices/{AC22}/link", {"cut": False})
    await asyncio.sleep(0.5)
    g = await until(lambda: _read_ok(pile, 1))
    assert g.state is GunState.AVAILABLE and not rig.bus.health(AC22).lost


async def test_silence_is_a_timeout_of_the_computed_length(rig):
    rig.faults(AC7, silence_rate=1.0)
    t0 = time.monotonic()
    with pytest.raises(NoResponse):
        await rig.bus.read(AC7, 4, 100, 25)
    took = time.monotonic() - t0
    # two attempts (retries=1), each 0.25 s plus the frames' wire time
    assert 0.45 < took < 1.5
    assert rig.bus.counters["timeout"] == 2


async def test_dribbled_replies_still_decode(rig):
    pile = rig.pile(DC)
    info = await pile.identify()
    # what is tested is reassembly, not timing: a reply dribbled byte by byte from another
    # process on a busy machine may take longer than the rig's tight 0.25 s
    rig.bus.settings.timeout_s = 2.0
    rig.faults(dribble_rate=1.0, dribble_bytewise=True, dribble_max_pause_ms=3)
    for _ in range(5):
        g = await pile.read_gun(2)
        assert g.state is GunState.AVAILABLE and g.invalid == ()
    rig.faults(dribble_rate=1.0, dribble_bytewise=False, dribble_max_pause_ms=20)
    assert (await pile.identify()) == info
    assert rig.bus.counters["crc"] == rig.bus.counters["short"] == rig.bus.counters["timeout"] == 0


@pytest.mark.parametrize("rig", ["rtu"], indirect=True)  # TCP has no CRC: see the garble test
async def test_damaged_replies_are_counted_and_retried(rig):
    rig.bus.settings.lost_after = 1000  # keep probing: this test counts damaged frames
    pile = rig.pile(AC7)
    await pile.identify()
    rig.faults(AC7, crc_error_rate=1.0)
    with pytest.raises(BadFrame) as info:
        await pile.read_gun(1)
    assert info.value.kind == "crc"
    rig.faults(AC7, crc_error_rate=0.0, short_frame_rate=1.0)
    with pytest.raises(BadFrame) as info:
        await pile.read_gun(1)
    assert info.value.kind == "short"
    rig.faults(AC7, short_frame_rate=0.0, crc_error_rate=0.3)
    for _ in range(10):
        try:
            g = await pile.read_gun(1)
        except BusError:
            continue
        assert g.state is GunState.AVAILABLE and g.invalid == ()  # a damaged frame never gives values
    assert rig.bus.counters["crc"] >= 3 and rig.bus.counters["short"] >= 2 and rig.bus.counters["retries"] >= 3


@pytest.mark.parametrize("rig", ["tcp"], indirect=True)  # on RTU a garbled reply fails its CRC
async def test_garbled_tcp_replies_never_reach_billing_as_truth(rig):
    pile = rig.pile(DC)
    await pile.identify()
    good = await pile.read_gun(1)
    rig.faults(DC, garble_rate=1.0)
    for _ in range(20):
        try:
            g = await pile.read_gun(1)
        except BusError:
            continue
        # whatever decodes, the billing register never moves backwards or jumps absurdly
        assert g.energy_total_wh is None or g.energy_total_wh >= good.energy_total_wh


async def test_absurd_values_are_refused(rig):
    pile = rig.pile(DC)
    await pile.identify()
    good = await pile.read_gun(1)
    assert good.energy_total_wh == 0
    # 0 − 1000 wraps to 4 294 966 296 Wh: a jump no 120 kW gun can make
    rig.ctl("POST", f"/devices/{DC}/overrides", {"field": "energy_total", "gun": 1, "delta": -1000})
    g = await pile.read_gun(1)
    assert g.energy_total_wh is None and "energy_total_wh" in g.invalid
    rig.ctl("DELETE", f"/devices/{DC}/overrides")
    assert (await pile.read_gun(1)).energy_total_wh == good.energy_total_wh
    # charge a little, then make the register go backwards
    rig.ctl("PUT", "/clock", {"speed": 60})
    pile.rate_scale = 60  # the simulator's hour passes in a minute
    rig.ctl("POST", f"/piles/{DC}/guns/1/plug")
    assert await pile.start(1, tag=1) is CommandResult.ACCEPTED
    charged = await until(lambda: _energy_above(pile, 1, 2000))
    await pile.stop(1)
    await until(lambda: _state(pile, 1, GunState.FINISHING))
    rig.ctl("POST", f"/devices/{DC}/overrides", {"field": "energy_total", "gun": 1, "delta": -1000})
    g = await pile.read_gun(1)
    assert g.energy_total_wh is None and "energy_total_wh" in g.invalid
    rig.ctl("DELETE", f"/devices/{DC}/overrides")
    assert (await pile.read_gun(1)).energy_total_wh >= charged.energy_total_wh
    rig.ctl("POST", f"/devices/{DC}/overrides", {"field": "voltage_l1", "gun": 1, "value": 65534})
    g = await pile.read_gun(1)
    assert g.voltage_v is None and "voltage_l1_v" in g.invalid
    meter = rig.meter()
    await meter.identify()
    rig.ctl("POST", f"/devices/{rig.sim.meter_unit}/overrides", {"field": "ua", "value": 4000})
    with pytest.raises(InvalidValue, match="1.5x"):
        await meter.read_meter()
    rig.ctl("POST", f"/devices/{rig.sim.meter_unit}/overrides", {"field": "s_total", "value": 0xFFFFFFFF})
    with pytest.raises(InvalidValue):
        await meter.read_load()
    assert pile.invalid_counts["energy_total_wh"] == 2


async def test_rtu_read_takes_its_wire_time_at_9600_baud(tmp_path):
    with SimProcess("test", tcp=False, rtu=tmp_path / "tty9600", baud=9600) as sim:
        bus = Bus(PymodbusTransport(serial=SerialSettings(sim.rtu, baud=9600)), BusSettings(timeout_s=0.3))
        try:
            await bus.read(1, 4, 0, 1)
            t0 = time.monotonic()
            await bus.read(3, 4, 100, 40)
            took = time.monotonic() - t0
        finally:
            await bus.close()
    wire = wire_time(8 + 5 + 80, 9600) + 2 * 3.5 * wire_time(1, 9600)
    assert wire == pytest.approx(0.114, abs=0.005)
    assert took >= 0.95 * wire


async def test_rtu_replies_are_read_once_complete_not_byte_by_byte(tmp_path):
    # edge/drivers/framewake.py: at 9600 baud an 85-byte reply arrives over ~90 ms; the port is
    # read a few times per reply, not once per byte, and exception replies (5 bytes, shorter than
    # the reply asked for) are not waited for beyond their own length.
    with SimProcess("test", tcp=False, rtu=tmp_path / "tty9600", baud=9600) as sim:
        transport = PymodbusTransport(serial=SerialSettings(sim.rtu, baud=9600))
        bus = Bus(transport, BusSettings(timeout_s=0.5, retries=0))
        try:
            await bus.read(1, 4, 0, 1)
            waker = transport.waker
            assert waker is not None
            before = waker.reads
            for _ in range(3):
                t0 = time.monotonic()
                assert len(await bus.read(3, 4, 100, 40)) == 40
                # when the reply was complete, for the line's silence (edge/drivers/bus.py):
                # no sooner than its wire time after the request, and not after its return
                assert t0 + wire_time(8 + 85, 9600) <= transport.reply_at <= time.monotonic()
            # Read once per byte, three 85-byte replies would be ~255 reads; woken by the frame's
            # length it is 2-3 a reply on a quiet machine. A loaded machine delays the
            # simulator's paced bytes past the waker's timer (each late wake reads what came and
            # sleeps again), so the bound is a quarter of once-per-byte, not the quiet count.
            assert waker.reads - before <= 3 * 85 // 4
            before = waker.reads
            t0 = time.monotonic()
            with pytest.raises(DeviceRefused):
                await bus.read(3, 4, 9000, 40)
            took = time.monotonic() - t0
            assert t0 < transport.reply_at < t0 + took  # an exception reply is complete at 5 bytes
            assert waker.reads - before <= EXCEPTION_REPLY_BYTES  # at most once a byte, and
            # not past its 5 bytes (waiting for 85 would be a timeout, asserted next)
            assert took < 0.5  # answered, not timed out waiting for 85 bytes
            assert bus.counters["timeout"] == 0
        finally:
            await bus.close()


async def _state(pile, gun, state):
    g = await pile.read_gun(gun)
    return g if g.state is state else None


async def _energy_above(pile, gun, wh):
    g = await pile.read_gun(gun)
    return g if (g.energy_total_wh or 0) > wh else None


async def _limit_active(pile, gun, watts):
    g = await pile.read_gun(gun)
    return g if g.power_limit_active_w == watts else None


async def _read_ok(pile, gun):
    try:
        return await pile.read_gun(gun)
    except BusError:
        return None
