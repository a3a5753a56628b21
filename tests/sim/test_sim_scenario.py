"""Scenario files (loading, validation messages) and the station running them."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from firmware_sim import scenario as scenarios
from firmware_sim.clock import ManualClock
from firmware_sim.errors import SimError
from firmware_sim.pile import GunState, StopReason
from firmware_sim.registers import PILE_INPUT_GUN
from firmware_sim.scenario import ScenarioError, parse
from firmware_sim.station import Station

MINIMAL = """
[scenario]
start_time = "06:00"
[[pile]]
unit = 1
current = "AC"
rated_power_w = 7000
"""


def _parse(text: str) -> scenarios.Scenario:
    return parse(tomllib.loads(text), source="t.toml")


@pytest.mark.parametrize("name", scenarios.shipped_names())
def test_every_shipped_scenario_loads(name: str) -> None:
    sc = scenarios.load(name)
    units = [p.unit for p in sc.piles]
    assert len(units) == len(set(units)) and sc.meter.unit not in units
    Station(sc, ManualClock())  # and builds


def test_shipped_scenarios_are_the_promised_ones() -> None:
    assert {"demo", "test", "bench32"} <= set(scenarios.shipped_names())
    demo = scenarios.load("demo")
    kinds = sorted((p.current, p.phases, p.guns, p.rated_power_w) for p in demo.piles)
    assert kinds == [("AC", 1, 1, 7000), ("AC", 3, 1, 22000), ("DC", 0, 2, 120000)]
    assert [p.unit for p in demo.piles] == [1, 2, 3] and demo.meter.unit == 10
    bench = scenarios.load("bench32")
    assert len(bench.piles) == 16 and sum(p.guns for p in bench.piles) == 32
    assert all(p.current == "DC" for p in bench.piles)
    test = scenarios.load("test")
    assert not test.events and not test.evs and test.timing.start_delay_s <= 0.5


def test_minimal_scenario_defaults() -> None:
    sc = _parse(MINIMAL)
    assert sc.start_time_s == 6 * 3600 and sc.meter.unit == 10 and sc.piles[0].phases == 1
    assert sc.timing.start_delay_s == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('[meter]\nunit = 1', r"\[meter\]\.unit: unit 1 is also a pile's unit"),
        ('[timing]\nstart_delay_s = 3', r"\[timing\]\.start_delay_s: must be within 0.0..2.0"),
        ('[grid]\npowerfactor = 0.9', r"\[grid\]\.powerfactor: unknown key; known keys here"),
        ('[base_load]\npoints = [["25:00", 3]]', r"points #1\.at: give a time of day"),
        ('[[ev]]\nunit = 2\nplug_in = "07:00"', r"\[\[ev\]\] #1\.unit: no pile has unit 2"),
        ('[[ev]]\nunit = 1\nplug_in = "7am"', r"\[\[ev\]\] #1\.plug_in: give a time of day"),
        ('[[ev]]\nunit = 1\nplug_in = "07:00"\nbattery_kwh = -1', r"battery_kwh must be > 0"),
        ('[[event]]\nat = "08:00"\naction = "explode"', r"action: give one of fault, "),
        ('[[event]]\nat = "08:00"\naction = "fault"\nunit = 1', r"fault: missing; the 'fault' "),
        ('[[event]]\nat = "08:00"\naction = "fault"\nunit = 1\nfault = "rain"',
         r"\.fault: unknown fault; known: over_temperature"),
        ('[[event]]\nat = "08:00"\naction = "button"\nunit = 1\ngun = 2', r"pile 1 has 1 gun"),
        ('[[event]]\nat = "08:00"\naction = "garble"\nrate = 2', r"rate: must be within"),
        ('[[event]]\nat = "08:00"\naction = "button"\nunit = 1\ngun = 1\nuntil = "09:00"',
         r"until: unknown key"),
    ],
)
def test_validation_names_the_key_and_the_fix(extra: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as info:
        _parse(MINIMAL + extra)
    assert str(info.value).startswith("t.toml: ")


def test_overlapping_ev_visits_on_one_gun_are_refused() -> None:
    text = MINIMAL + """
[[ev]]
name = "a"
unit = 1
plug_in = "07:00"
unplug = "09:00"
[[ev]]
name = "b"
unit = 1
plug_in = "08:00"
"""
    with pytest.raises(ScenarioError, match="'a' and 'b' are both plugged into pile 1 gun 1"):
        _parse(text)


def test_unknown_scenario_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="demo"):
        scenarios.load("no-such-scenario")


def test_times_resolve_relative_to_the_start_and_wrap_midnight() -> None:
    text = MINIMAL + """
[[ev]]
unit = 1
plug_in = "05:00"
unplug = "+30m"
[[event]]
at = "+90s"
action = "link_cut"
unit = 1
until = "06:00"
"""
    sc = _parse(text)
    assert sc.evs[0].plug_in_s == 23 * 3600  # 05:00 is the next morning
    assert sc.evs[0].unplug_s == 23 * 3600 + 1800
    assert sc.events[0].at_s == 90 and sc.events[0].until_s == 24 * 3600


def test_pile_count_expands_units_and_ids() -> None:
    sc = _parse(MINIMAL.replace("unit = 1\n", "unit = 1\ncount = 3\nid = \"P\"\n"))
    assert [(p.unit, p.id) for p in sc.piles] == [(1, "P01"), (2, "P02"), (3, "P03")]
    assert len({p.serial for p in sc.piles}) == 3


def test_base_load_interpolates_and_wraps() -> None:
    sc = _parse(MINIMAL + '[base_load]\npoints = [["06:00", 10], ["18:00", 30]]')
    assert sc.base_load.kw_at(12 * 3600) == pytest.approx(20)
    assert sc.base_load.kw_at(0) == pytest.approx(20)  # halfway from 18:00 back to 06:00
    assert sc.base_load.kw_at(6 * 3600) == pytest.approx(10)


# --- the station running a scenario -------------------------------------------------------------


def _gun(station: Station, unit: int, gun: int = 1) -> dict:
    return PILE_INPUT_GUN.decode(station.read(unit, "input", 100 * gun, 40))


def _run(station: Station, clock: ManualClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        station.tick()


def test_demo_day_crosses_50_and_80_percent_load_when_the_piles_charge() -> None:
    """The demo's transformer rating and base load are chosen so that a day of charging
    crosses both thresholds of the threshold policy (here without a gateway: free mode)."""
    sc = dataclasses.replace(scenarios.load("demo"), autostart=True)
    clock = ManualClock(speed=1200)
    station = Station(sc, clock)
    loads = []
    for _ in range(24 * 60 // 2):  # 0.1 s real = 2 min simulated
        clock.advance(0.1)
        station.tick()
        loads.append(station.meter.load_pct)
    assert max(loads) > 80
    assert sum(1 for x in loads if 50 < x) >= 10
    assert min(loads) < 50
    snap = station.snapshot()
    reasons = {g["session"]["stop_reason_name"] for p in snap["piles"] for g in p["guns"]}
    assert "ev_unplugged" in reasons or "ev_full" in reasons


def test_scheduled_fault_link_cut_and_ev(clock: ManualClock) -> None:
    text = MINIMAL + """
[timing]
start_delay_s = 0.5
[[ev]]
unit = 1
plug_in = "+10s"
unplug = "+5m"
local_start = true
[[event]]
at = "+1m"
action = "fault"
unit = 1
fault = "over_temperature"
until = "+1m"
[[event]]
at = "+3m"
action = "reset"
unit = 1
[[event]]
at = "+4m"
action = "link_cut"
unit = 1
until = "+30s"
"""
    station = Station(_parse(text), clock)
    _run(station, clock, 20)
    assert _gun(station, 1)["state"] == GunState.CHARGING
    _run(station, clock, 50)
    regs = _gun(station, 1)
    assert regs["state"] == GunState.FAULTED and regs["stop_reason"] == StopReason.FAULT
    _run(station, clock, 90)  # cause cleared at 2 min, still latched
    assert _gun(station, 1)["state"] == GunState.FAULTED
    _run(station, clock, 60)  # reset at 3 min
    assert _gun(station, 1)["state"] == GunState.PLUGGED
    _run(station, clock, 30)  # 4:10: the link is cut
    assert not station.reachable(1)
    _run(station, clock, 40)  # 4:50: restored at 4:30
    assert station.reachable(1)
    _run(station, clock, 30)  # 5:20: unplugged at 5:10
    assert _gun(station, 1)["state"] == GunState.AVAILABLE


def test_station_plug_and_errors(station: Station) -> None:
    station.plug(1, 1, {"battery_kwh": 40, "start_soc": 20})
    with pytest.raises(SimError) as info:
        station.plug(1, 1, {})
    assert info.value.status == 409
    with pytest.raises(SimError) as info:
        station.plug(9, 1, {})
    assert info.value.status == 404
    with pytest.raises(SimError) as info:
        station.plug(3, 3, {})
    assert info.value.status == 404 and "has no gun 3" in info.value.message
    with pytest.raises(SimError) as info:
        station.plug(2, 1, {"battery": 1})
    assert info.value.status == 400


def test_overrides_force_absurd_values(station: Station) -> None:
    before = _gun(station, 3)["energy_total"]
    station.set_override(3, {"field": "voltage_l1", "gun": 1, "value": 0xFFFF})
    station.set_override(10, {"field": "import_energy", "delta": -1000, "reads": 1})
    assert _gun(station, 3)["voltage_l1"] == 0xFFFF
    meter_energy = station.read(10, "input", 62, 2)
    assert (meter_energy[0] << 16 | meter_energy[1]) == (-1000) & 0xFFFFFFFF  # went "backwards"
    assert station.read(10, "input", 62, 2) == [0, 0]  # one read only
    station.set_override(3, {"field": "energy_total", "gun": 2, "delta": -5})
    assert _gun(station, 3, 2)["energy_total"] == (before - 5) & 0xFFFFFFFF
    station.clear_overrides(3)
    assert _gun(station, 3)["voltage_l1"] != 0xFFFF
    with pytest.raises(SimError, match="no input field 'bogus'"):
        station.set_override(3, {"field": "bogus", "value": 1})


def test_snapshot_has_registers_and_physical_values(station: Station) -> None:
    station.plug(2, 1, {"start_soc": 50})
    snap = station.snapshot()
    assert snap["clock"]["time_of_day"] == "12:00:00"
    pile = next(p for p in snap["piles"] if p["unit"] == 2)
    gun = pile["guns"][0]
    assert gun["state_name"] == "plugged" and gun["registers"]["input"]["state"] == 1
    assert gun["ev"]["soc"] == 50
    assert snap["meter"]["registers"]["s_total"] > 0
    assert snap["transformer"]["rated_kva"] == 160


def test_bench32_charges_all_32_guns_cheaply() -> None:
    import time

    sc = dataclasses.replace(scenarios.load("bench32"), autostart=True)
    clock = ManualClock(speed=600)
    station = Station(sc, clock)
    t0 = time.process_time()
    for _ in range(30):  # 30 x 0.5 s real = 2.5 simulated hours
        clock.advance(0.5)
        station.tick()
    charged = [g.session_counter for p in station.piles.values() for g in p.guns]
    assert charged == [1] * 32
    assert time.process_time() - t0 < 5


def test_firmware_sim_never_imports_the_gateway_the_cloud_or_the_contract() -> None:
    """The simulator implements the specs on its own (subpackages such as pile/ included)."""
    import ast
    from pathlib import Path

    import firmware_sim

    paths = list(Path(firmware_sim.__file__).parent.rglob("*.py"))
    assert any(p.parent.name == "pile" for p in paths)
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for banned in ("edge", "cloud", "jcproto"):
                assert not any(n == banned or n.startswith(banned + ".") for n in names), path
