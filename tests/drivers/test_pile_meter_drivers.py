"""The register-map pile and meter drivers over a fake line: decoding, sanity, commands."""

from __future__ import annotations

import pytest

from edge.clock import FakeClock
from edge.drivers.base import (
    CommandResult,
    HasWatchdog,
    LimitsPower,
    ReadsGuns,
    ReadsMeter,
    StartsStops,
)
from edge.drivers.bus import Bus, BusSettings
from edge.drivers.errors import InvalidValue
from edge.drivers.meter import RegisterMapMeter
from edge.drivers.pile import RegisterMapPile
from edge.drivers.profile import load_profile
from edge.gunstate import GunState

from .fakes import FakeLine, arcm300t, reference_pile, u32


@pytest.fixture
def line():
    line = FakeLine()
    line.devices[1] = reference_pile(guns=2, rated_w=120_000, kind=2, phases=0)
    line.devices[10] = arcm300t(10)
    return line


@pytest.fixture
def bus(line):
    return Bus(line, BusSettings(retries=0), FakeClock(autoadvance=True))


async def test_pile_identifies_and_reads_its_guns(bus, line):
    pile = RegisterMapPile(bus, 1, load_profile("jc-ref-v1"))
    assert all(isinstance(pile, cap) for cap in (ReadsGuns, LimitsPower, StartsStops, HasWatchdog))
    info = await pile.identify()
    assert (info.gun_count, info.current, info.rated_power_w, info.serial) == (2, "DC", 120_000, "SIM-0001")
    assert info.firmware == "1.2 build 7"
    guns = await pile.read_guns()
    assert [g.gun for g in guns] == [1, 2]
    g = guns[0]
    assert g.state is GunState.AVAILABLE
    assert g.energy_total_wh == 123_456
    assert g.voltage_v == pytest.approx(230.0)
    assert g.soc_pct is None  # 0xFFFF: not available, not 65535 %
    assert g.temperature_c == pytest.approx(25.1)
    assert g.invalid == ()
    # one request per gun: the whole gun block at once
    reads = [e for e in line.log if e[0] == "read" and e[3] >= 100]
    assert [(e[2], e[3], e[4]) for e in reads] == [(4, 100, 25), (4, 200, 25)]


async def test_absurd_values_are_refused_and_counted_not_passed_on(bus, line):
    pile = RegisterMapPile(bus, 1, load_profile("jc-ref-v1"))
    await pile.identify()
    first = await pile.read_gun(1)
    assert first.energy_total_wh == 123_456
    regs = line.devices[1].input
    u32(regs, 110, 100_000)  # lifetime register went backwards
    regs[102] = 0xFFFE  # 6553.4 V
    regs[100] = 42  # a state code the map does not know
    g = await pile.read_gun(1)
    assert g.energy_total_wh is None
    assert g.voltage_v is None
    assert g.state is GunState.UNAVAILABLE
    assert set(g.invalid) == {"energy_total_wh", "voltage_l1_v", "state"}
    assert pile.invalid_counts["energy_total_wh"] == 1
    assert bus.health(1).counters["invalid"] == 3
    u32(regs, 110, 0xFFFFFFFF)  # "not available" is not a reading either
    assert (await pile.read_gun(1)).energy_total_wh is None
    u32(regs, 110, 123_500)  # a good value again
    assert (await pile.read_gun(1)).energy_total_wh == 123_500


async def test_start_writes_tag_and_limits_before_the_command(bus, line):
    pile = RegisterMapPile(bus, 1, load_profile("jc-ref-v1"))
    line.devices[1].input[221] = 1  # last_cmd_result: accepted
    result = await pile.start(2, tag=0xDEADBEEF, energy_limit_wh=20_000, time_limit_s=3600, power_limit_w=60_000)
    assert result is CommandResult.ACCEPTED
    writes = [(e[3], e[4]) for e in line.log if e[0] == "write"]
    assert writes == [(203, [0xDEAD, 0xBEEF]), (205, [0, 20_000]), (207, [0, 3600]),
                      (201, [0, 60_000]), (200, [1])]
    line.devices[1].input[221] = 2
    assert await pile.start(2, tag=1) is CommandResult.NOT_PLUGGED


async def test_watchdog_and_heartbeat(bus, line):
    pile = RegisterMapPile(bus, 1, load_profile("jc-ref-v1"))
    await pile.configure_watchdog(30, 60_000)
    await pile.heartbeat(70_001)
    h = line.devices[1].holding
    assert (h[10], h[11], h[12], h[19]) == (30, 0, 60_000, 70_001 & 0xFFFF)


async def test_meter_reads_load_fast_and_checks_sanity(bus, line):
    meter = RegisterMapMeter(bus, 10, load_profile("arcm300t"), rated_kva=400)
    assert isinstance(meter, ReadsMeter)
    assert await meter.read_load() == 120_000
    assert line.log[-1][1:5] == (10, 3, 52, 2)
    reading = await meter.read_meter()
    assert reading.load_pct(400) == pytest.approx(30.0)
    assert reading.voltages_v == (230.0, 230.0, 230.0)
    assert reading.energy_import_wh == 10_000_000
    assert reading.frequency_hz == pytest.approx(50.0)
    u32(line.devices[10].holding, 52, 1_300_000)  # over 3x a 400 kVA transformer
    with pytest.raises(InvalidValue, match="3x"):
        await meter.read_load()
    u32(line.devices[10].holding, 52, 0xFFFFFFFF)
    with pytest.raises(InvalidValue, match="unreadable"):
        await meter.read_load()
    u32(line.devices[10].holding, 52, 100_000)
    line.devices[10].holding[21] = 4000  # 400 V on a 230 V phase
    with pytest.raises(InvalidValue, match="1.5x"):
        await meter.read_meter()
    line.devices[10].holding[21] = 2300
    u32(line.devices[10].holding, 62, 999_999)  # import energy backwards
    with pytest.raises(InvalidValue, match="energy"):
        await meter.read_meter()


async def test_meter_scales_secondary_values_by_pt_and_ct(bus, line):
    from dataclasses import replace
    profile = load_profile("arcm300t")
    profile = replace(profile, options={**profile.options, "scale_by_pt_ct": True})
    line.devices[10].holding[15] = 40  # CT 200/5
    meter = RegisterMapMeter(bus, 10, profile, rated_kva=10_000)
    assert await meter.read_load() == 120_000 * 40
