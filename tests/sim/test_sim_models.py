"""Register layouts, EVs, the meter, the clock and link-fault planning (pure, no sockets)."""

from __future__ import annotations

import random

import pytest

from firmware_sim.clock import ManualClock, SimClock
from firmware_sim.ev import EV, EVSpec
from firmware_sim.grid import Grid
from firmware_sim.linkfaults import LinkFaults, LinkFaultTable, plan
from firmware_sim.meter import ALARM_RESIDUAL_CURRENT, Meter, MeterSpec
from firmware_sim.pile import WriteError
from firmware_sim.registers import (
    METER_MAIN,
    PILE_HOLDING_DEVICE,
    PILE_HOLDING_GUN,
    PILE_INPUT_DEVICE,
    PILE_INPUT_GUN,
    Field,
    meter_field,
)

# --- registers --------------------------------------------------------------------------------

# (name, address, size) straight from spec/pile-modbus-map.md
SPEC_INPUT_DEVICE = [
    ("map_version", 0, 1), ("gun_count", 1, 1), ("kind", 2, 1), ("phases", 3, 1),
    ("rated_power", 4, 2), ("max_current", 6, 1), ("min_current", 7, 1), ("serial", 8, 8),
    ("firmware", 16, 2), ("uptime_min", 18, 1), ("heartbeat_echo", 19, 1),
]
SPEC_INPUT_GUN = [
    ("state", 0, 1), ("faults", 1, 1), ("voltage_l1", 2, 1), ("voltage_l2", 3, 1),
    ("voltage_l3", 4, 1), ("current_l1", 5, 1), ("current_l2", 6, 1), ("current_l3", 7, 1),
    ("active_power", 8, 2), ("energy_total", 10, 2), ("session_energy", 12, 2),
    ("session_seconds", 14, 2), ("session_counter", 16, 1), ("temperature", 17, 1),
    ("soc", 18, 1), ("power_limit_active", 19, 2), ("last_cmd_result", 21, 1),
    ("stop_reason", 22, 1), ("session_tag", 23, 2),
]
SPEC_HOLDING_DEVICE = [("watchdog_s", 10, 1), ("fallback_power", 11, 2), ("heartbeat", 19, 1)]
SPEC_HOLDING_GUN = [("command", 0, 1), ("power_limit", 1, 2), ("session_tag", 3, 2),
                    ("energy_limit", 5, 2), ("time_limit", 7, 2)]


@pytest.mark.parametrize(
    ("layout", "table"),
    [(PILE_INPUT_DEVICE, SPEC_INPUT_DEVICE), (PILE_INPUT_GUN, SPEC_INPUT_GUN),
     (PILE_HOLDING_DEVICE, SPEC_HOLDING_DEVICE), (PILE_HOLDING_GUN, SPEC_HOLDING_GUN)],
)
def test_pile_layouts_match_the_spec(layout, table) -> None:
    assert [(f.name, f.address, f.size) for f in layout.fields] == table


def test_meter_layout_matches_the_spec() -> None:
    expected = {
        "unit_id": 0, "baud_code": 1, "parity_stop": 4, "pt_ratio": 14, "ct_ratio": 15,
        "n_temperature": 16, "ua": 20, "uab": 23, "ia": 26, "pa": 30, "p_total": 36, "qa": 38,
        "q_total": 44, "sa": 46, "s_total": 52, "pfa": 54, "pf_total": 57, "di_state": 58,
        "frequency": 59, "combined_energy": 60, "import_energy": 62, "export_energy": 64,
        "import_reactive_energy": 66, "export_reactive_energy": 68, "temperature_a": 356,
        "temperature_c": 358, "residual_current": 449, "alarm_status": 491,
    }
    assert {name: meter_field(name)[0] for name in expected} == expected
    assert meter_field("s_total")[1].type == "u32"
    assert meter_field("pa")[1].type == "s32"


@pytest.mark.parametrize(
    ("ftype", "value", "regs"),
    [("u16", 65535, [65535]), ("s16", -5, [0xFFFB]), ("u32", 0x12345678, [0x1234, 0x5678]),
     ("s32", -2, [0xFFFF, 0xFFFE])],
)
def test_field_encoding_is_big_endian_high_word_first(ftype, value, regs) -> None:
    field = Field("x", 0, ftype)
    assert field.encode(value) == regs
    assert field.decode(regs) == value


def test_layout_gaps_read_zero() -> None:
    image = METER_MAIN.encode({"ua": 2300})
    assert image[20] == 2300 and image[29] == 0 and len(image) == 70


# --- clock ------------------------------------------------------------------------------------


def test_sim_clock_runs_speed_times_real_time_and_speed_changes_do_not_jump() -> None:
    now = [100.0]
    clock = SimClock(speed=60, real=lambda: now[0])
    now[0] += 2
    assert clock.sim() == pytest.approx(120)
    clock.set_speed(1)
    assert clock.sim() == pytest.approx(120)
    now[0] += 2
    assert clock.sim() == pytest.approx(122)
    assert clock.real() == 104
    with pytest.raises(ValueError):
        clock.set_speed(0)


def test_manual_clock() -> None:
    clock = ManualClock(speed=10)
    clock.advance(1.5)
    assert clock.sim() == pytest.approx(15)
    with pytest.raises(ValueError):
        clock.advance(-1)


# --- EVs --------------------------------------------------------------------------------------


def test_dc_acceptance_is_flat_then_tapers() -> None:
    ev = EV.arriving(EVSpec(dc_max_power_w=100_000, taper_soc=80, start_soc=50))
    assert ev.dc_acceptance_w() == 100_000
    ev.soc = 80
    assert ev.dc_acceptance_w() == 100_000
    ev.soc = 90
    assert 40_000 < ev.dc_acceptance_w() < 60_000
    ev.soc = 99.9
    assert 0 < ev.dc_acceptance_w() <= 10_000
    ev.soc = 100
    assert ev.full and ev.dc_acceptance_w() == 0


def test_ev_soc_follows_energy_with_efficiency() -> None:
    ev = EV.arriving(EVSpec(battery_kwh=50, start_soc=20, efficiency=0.9))
    ev.receive(10_000, dc=False)
    assert ev.soc == pytest.approx(20 + 9 / 50 * 100)
    assert ev.seconds_to_target(10_000, dc=False) == pytest.approx(
        (100 - ev.soc) / 100 * 50_000 / (10_000 * 0.9) * 3600)


def test_ev_spec_validation_names_the_key() -> None:
    with pytest.raises(ValueError, match="ev: unknown key 'batery_kwh'"):
        EVSpec.from_mapping({"batery_kwh": 50})
    with pytest.raises(ValueError, match="ac_phases"):
        EVSpec.from_mapping({"ac_phases": 2})
    with pytest.raises(ValueError, match="start_soc"):
        EVSpec.from_mapping({"start_soc": 120})


# --- meter ------------------------------------------------------------------------------------


def _meter(**kw) -> Meter:
    return Meter(MeterSpec(unit=10, rated_kva=100, power_factor=0.9, **kw),
                 Grid(230.0, 50.0, 0.0), random.Random(1))


def test_meter_values_are_consistent() -> None:
    meter = _meter()
    meter.step([30_000, 20_000, 10_000], dt=3600)
    v = meter.values()
    assert v["p_total"] == 60_000
    assert v["s_total"] == round(60_000 / 0.9)
    assert v["q_total"] == pytest.approx((v["s_total"] ** 2 - v["p_total"] ** 2) ** 0.5, abs=2)
    assert v["pf_total"] == 900
    assert v["ia"] == round(30_000 / 0.9 / 230 * 100)
    assert v["ua"] == 2300 and v["uab"] == round(230 * 3 ** 0.5 * 10)
    assert v["frequency"] == 5000
    assert v["import_energy"] == 6000  # 60 kWh in 0.01 kWh
    assert meter.load_pct == pytest.approx(60_000 / 0.9 / 100_000 * 100)
    assert v["residual_current"] < 30 and v["alarm_status"] == 0


def test_meter_reports_secondary_values_when_pt_ct_are_written() -> None:
    meter = _meter()
    meter.step([10_000, 10_000, 10_000], dt=1)
    assert meter.write(14, [2, 50]) is None
    v = meter.values()
    assert v["pt_ratio"] == 2 and v["ct_ratio"] == 50
    assert v["ua"] == 1150
    assert v["p_total"] == 300  # 30 kW / (2 x 50)


def test_meter_config_writes_are_checked() -> None:
    meter = _meter()
    assert meter.write(20, [1]) == WriteError.ILLEGAL_ADDRESS  # a measurement
    assert meter.write(2, [1]) == WriteError.ILLEGAL_ADDRESS  # undocumented
    assert meter.write(0, [248]) == WriteError.ILLEGAL_VALUE
    assert meter.write(1, [5]) == WriteError.ILLEGAL_VALUE
    assert meter.write(4, [0x0300]) == WriteError.ILLEGAL_VALUE
    assert meter.write(0, [5, 2]) is None
    assert meter.read(0, 2) == [5, 2]


def test_meter_conditions_raise_residual_current_alarm() -> None:
    meter = _meter()
    meter.set_conditions(residual_current_ma=350)
    meter.step([0, 0, 0], 1)
    v = meter.values()
    assert v["residual_current"] == 350 and v["alarm_status"] & ALARM_RESIDUAL_CURRENT
    meter.set_conditions(clear=True)
    meter.step([0, 0, 0], 1)
    assert meter.values()["alarm_status"] == 0


# --- link faults ------------------------------------------------------------------------------


def test_plan_without_faults_passes_the_frame() -> None:
    frame = bytes(range(20))
    fate = plan(frame, LinkFaults(), random.Random(1), "rtu", 1)
    assert fate.what == "ok" and fate.frame == frame and not fate.chunks and not fate.silent


@pytest.mark.parametrize(
    ("faults", "what"),
    [(LinkFaults(silence_rate=1), "silence"), (LinkFaults(crc_error_rate=1), "crc_error"),
     (LinkFaults(garble_rate=1), "garble"), (LinkFaults(short_frame_rate=1), "short_frame"),
     (LinkFaults(dribble_rate=1), "dribble")],
)
def test_plan_applies_each_fault(faults, what) -> None:
    frame = bytes(range(1, 41))
    fate = plan(frame, faults, random.Random(3), "rtu", 1)
    assert fate.what == what
    if what == "crc_error":
        assert fate.frame[:-1] == frame[:-1] and fate.frame[-1] != frame[-1]
    if what == "garble":
        assert fate.frame[0] == frame[0] and fate.frame[-2:] == frame[-2:]
        assert fate.frame != frame and len(fate.frame) == len(frame)
    if what == "short_frame":
        assert frame.startswith(fate.frame) and len(fate.frame) < len(frame)
    if what == "dribble":
        assert b"".join(c for c, _ in fate.chunks) == frame and len(fate.chunks) > 1


def test_bytewise_dribble_sends_one_byte_at_a_time() -> None:
    fate = plan(b"abcdef", LinkFaults(dribble_rate=1, dribble_bytewise=True,
                                      dribble_max_pause_ms=10), random.Random(1), "tcp", 0)
    assert [c for c, _ in fate.chunks] == [b"a", b"b", b"c", b"d", b"e", b"f"]
    assert all(0.002 <= p <= 0.010 for _, p in fate.chunks[:-1]) and fate.chunks[-1][1] == 0


def test_link_fault_table_combines_link_and_unit_settings() -> None:
    table = LinkFaultTable()
    table.update({"crc_error_rate": 0.1}, "rtu")
    table.update({"delay_ms": 500, "dribble_rate": 1, "dribble_max_pause_ms": 5}, "all", unit=3)
    eff = table.effective("rtu", 3)
    assert eff.crc_error_rate == 0.1 and eff.delay_ms == 500 and eff.dribble_max_pause_ms == 5
    assert table.effective("rtu", 1).delay_ms == 0
    assert table.effective("tcp", 3).crc_error_rate == 0
    table.clear("all", unit=3)
    assert table.effective("rtu", 3) == LinkFaults(crc_error_rate=0.1)


def test_link_faults_validation() -> None:
    from firmware_sim.errors import SimError

    with pytest.raises(SimError, match="probability"):
        LinkFaults.from_mapping({"crc_error_rate": 2})
    with pytest.raises(SimError, match="unknown key 'crc_rate'"):
        LinkFaults.from_mapping({"crc_rate": 0.5})
