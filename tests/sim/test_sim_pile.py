"""The pile model against spec/pile-modbus-map.md, on a manual clock (no sockets)."""

from __future__ import annotations

import pytest

from firmware_sim.ev import EV, EVSpec
from firmware_sim.pile import CmdResult, GunState, Pile, StopReason, WriteError
from firmware_sim.registers import NA16, PILE_HOLDING_GUN, PILE_INPUT_DEVICE, PILE_INPUT_GUN

AC_EV = EVSpec(name="ac", battery_kwh=60, start_soc=30, ac_phases=3, ac_max_current_a=32)
DC_EV = EVSpec(name="dc", battery_kwh=80, start_soc=30, dc_max_power_w=100_000,
               battery_voltage_v=400)


def advance(pile: Pile, seconds: float, step: float = 0.25) -> None:
    clock = pile.clock
    done = 0.0
    while done < seconds - 1e-9:
        dt = min(step, seconds - done)
        clock.advance(dt)  # type: ignore[attr-defined]
        pile.step(dt * clock.speed)
        done += dt


def gun_regs(pile: Pile, gun: int = 1) -> dict:
    return PILE_INPUT_GUN.decode(pile.read("input", 100 * gun, 40))


def device_regs(pile: Pile) -> dict:
    return PILE_INPUT_DEVICE.decode(pile.read("input", 0, 20))


def write(pile: Pile, address: int, *values: int) -> WriteError | None:
    return pile.write_holding(address, list(values))


def write_u32(pile: Pile, address: int, value: int) -> WriteError | None:
    return write(pile, address, value >> 16, value & 0xFFFF)


def start(pile: Pile, gun: int = 1, tag: int | None = None) -> int:
    if tag is not None:
        assert write_u32(pile, 100 * gun + 3, tag) is None
    assert write(pile, 100 * gun, 1) is None
    return gun_regs(pile, gun)["last_cmd_result"]


def charging(pile: Pile, gun: int = 1, ev: EVSpec = AC_EV, tag: int = 0) -> None:
    pile.plug(gun, EV.arriving(ev))
    assert start(pile, gun, tag) == CmdResult.ACCEPTED
    advance(pile, 1.5)
    assert gun_regs(pile, gun)["state"] == GunState.CHARGING


# --- device block -----------------------------------------------------------------------------


def test_device_block_ac(ac7: Pile) -> None:
    regs = device_regs(ac7)
    assert regs["map_version"] == 1
    assert regs["gun_count"] == 1
    assert regs["kind"] == 1
    assert regs["phases"] == 1
    assert regs["rated_power"] == 7000
    assert regs["max_current"] == 320
    assert regs["min_current"] == 60
    assert regs["serial"] == "T-AC7"
    assert regs["firmware"] == ((1 * 256 + 4) << 16) | 210
    assert regs["heartbeat_echo"] == 0


def test_device_block_dc_marks_ac_only_values_unknown(dc120: Pile) -> None:
    regs = device_regs(dc120)
    assert (regs["kind"], regs["phases"], regs["gun_count"]) == (2, 0, 2)
    assert regs["max_current"] == NA16
    assert regs["min_current"] == NA16


def test_uptime_counts_minutes_of_simulated_time(ac7: Pile) -> None:
    advance(ac7, 119, step=10)
    assert device_regs(ac7)["uptime_min"] == 1
    advance(ac7, 2, step=1)
    assert device_regs(ac7)["uptime_min"] == 2


def test_serial_is_ascii_nul_padded(ac7: Pile) -> None:
    raw = ac7.read("input", 8, 8)
    data = b"".join(r.to_bytes(2, "big") for r in raw)
    assert data == b"T-AC7".ljust(16, b"\x00")


# --- start / stop -----------------------------------------------------------------------------


def test_start_without_ev_is_rejected_not_plugged(ac7: Pile) -> None:
    assert start(ac7) == CmdResult.NOT_PLUGGED
    assert gun_regs(ac7)["state"] == GunState.AVAILABLE


def test_start_accepted_in_state_1_and_charging_begins_after_the_delay(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    assert gun_regs(ac7)["state"] == GunState.PLUGGED
    assert start(ac7, tag=0xDEADBEEF) == CmdResult.ACCEPTED
    advance(ac7, 0.75)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.PLUGGED and regs["session_counter"] == 0
    advance(ac7, 0.5)  # 1.25 s: the 1 s start delay is over (the spec: within 2 s)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.CHARGING
    assert regs["session_counter"] == 1
    assert regs["session_tag"] == 0xDEADBEEF
    assert regs["stop_reason"] == StopReason.NONE
    assert 6900 <= regs["active_power"] <= 7000


def test_second_start_is_busy_while_pending_and_while_charging(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    assert start(ac7) == CmdResult.ACCEPTED
    assert start(ac7) == CmdResult.BUSY
    advance(ac7, 1.5)
    assert start(ac7) == CmdResult.BUSY
    assert gun_regs(ac7)["session_counter"] == 1


def test_remote_stop_then_unplug(ac7: Pile) -> None:
    charging(ac7)
    advance(ac7, 60, step=1)
    energy = gun_regs(ac7)["session_energy"]
    assert energy > 100
    assert write(ac7, 100, 2) is None
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.FINISHING
    assert regs["stop_reason"] == StopReason.REMOTE
    assert regs["last_cmd_result"] == CmdResult.ACCEPTED
    assert regs["active_power"] == 0 and regs["current_l1"] == 0
    advance(ac7, 30, step=1)
    assert gun_regs(ac7)["session_energy"] == energy  # "of the last session" now
    assert start(ac7) == CmdResult.BUSY  # finishing: unplug first
    ac7.unplug(1)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.AVAILABLE
    assert regs["stop_reason"] == StopReason.REMOTE


def test_stop_with_nothing_to_stop_is_accepted(ac7: Pile) -> None:
    assert write(ac7, 100, 2) is None
    assert gun_regs(ac7)["last_cmd_result"] == CmdResult.ACCEPTED


def test_stop_cancels_a_pending_start(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    start(ac7)
    write(ac7, 100, 2)
    advance(ac7, 2)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.PLUGGED and regs["session_counter"] == 0


def test_command_register_reads_zero(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    write(ac7, 100, 1)
    assert ac7.read("holding", 100, 1) == [0]


def test_block_write_sets_tag_and_limit_before_the_command(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    image = PILE_HOLDING_GUN.encode({"command": 1, "power_limit": 3000, "session_tag": 77,
                                     "energy_limit": 0, "time_limit": 0})
    assert ac7.write_holding(100, image[:9]) is None
    advance(ac7, 1.5)
    regs = gun_regs(ac7)
    assert regs["session_tag"] == 77
    assert regs["power_limit_active"] == 3000
    assert abs(regs["active_power"] - 3000) <= 1


def test_local_card_start_has_tag_zero_and_button_stops_with_reason_2(ac7: Pile) -> None:
    write_u32(ac7, 103, 1234)  # a tag written for a remote start does not apply
    ac7.plug(1, EV.arriving(AC_EV))
    assert ac7.card_start(1) == CmdResult.ACCEPTED
    advance(ac7, 1.5)
    assert gun_regs(ac7)["session_tag"] == 0
    ac7.press_stop_button(1)
    assert gun_regs(ac7)["stop_reason"] == StopReason.LOCAL


# --- reservation ------------------------------------------------------------------------------


def test_reserve_and_start_with_matching_tag(ac7: Pile) -> None:
    write_u32(ac7, 103, 42)
    write(ac7, 100, 3)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.RESERVED and regs["last_cmd_result"] == CmdResult.ACCEPTED
    assert start(ac7, tag=42) == CmdResult.NOT_PLUGGED
    ac7.plug(1, EV.arriving(AC_EV))
    assert gun_regs(ac7)["state"] == GunState.RESERVED  # plugged, still reserved
    assert start(ac7, tag=41) == CmdResult.RESERVED_OTHER
    assert start(ac7, tag=42) == CmdResult.ACCEPTED
    advance(ac7, 1.5)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.CHARGING and regs["session_tag"] == 42


def test_cancel_reservation(ac7: Pile) -> None:
    write_u32(ac7, 103, 42)
    write(ac7, 100, 3)
    write(ac7, 100, 4)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.AVAILABLE and regs["last_cmd_result"] == CmdResult.ACCEPTED


def test_reserve_while_charging_is_busy(ac7: Pile) -> None:
    charging(ac7)
    write(ac7, 100, 3)
    assert gun_regs(ac7)["last_cmd_result"] == CmdResult.BUSY


# --- power limits -----------------------------------------------------------------------------


def test_power_limit_takes_effect_within_a_second(ac7: Pile) -> None:
    charging(ac7)
    write_u32(ac7, 101, 3000)
    advance(ac7, 0.25)
    assert gun_regs(ac7)["power_limit_active"] == 7000  # not yet: the pile needs a moment
    advance(ac7, 0.5)
    regs = gun_regs(ac7)
    assert regs["power_limit_active"] == 3000
    assert abs(regs["active_power"] - 3000) <= 1
    assert ac7.read("holding", 101, 2) == [0, 3000]


def test_power_limit_zero_pauses_with_state_4(ac7: Pile) -> None:
    charging(ac7)
    write_u32(ac7, 101, 0)
    advance(ac7, 1)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.SUSPENDED_EVSE
    assert regs["active_power"] == 0 and regs["stop_reason"] == StopReason.NONE
    write_u32(ac7, 101, 7000)
    advance(ac7, 1)
    assert gun_regs(ac7)["state"] == GunState.CHARGING


def test_power_limit_above_rated_is_clamped(dc120: Pile) -> None:
    write_u32(dc120, 101, 500_000)
    advance(dc120, 1)
    assert gun_regs(dc120)["power_limit_active"] == 120_000
    assert dc120.read("holding", 101, 2) == [500_000 >> 16, 500_000 & 0xFFFF]


@pytest.mark.parametrize(
    ("limit_w", "state", "power"),
    [
        (1000, GunState.SUSPENDED_EVSE, 0),  # 1000/230 = 4.3 A < 6 A: pause, not 4.3 A
        (1300, GunState.SUSPENDED_EVSE, 0),  # 5.65 A
        (1400, GunState.CHARGING, 1400),  # 6.09 A
        (4000, GunState.CHARGING, 4000),
    ],
)
def test_ac_limit_below_min_current_pauses(ac7: Pile, limit_w: int, state: GunState,
                                            power: int) -> None:
    charging(ac7)
    write_u32(ac7, 101, limit_w)
    advance(ac7, 1)
    regs = gun_regs(ac7)
    assert regs["state"] == state
    assert abs(regs["active_power"] - power) <= 1


def test_three_phase_min_current_counts_all_phases(ac22: Pile) -> None:
    charging(ac22)
    write_u32(ac22, 101, 4000)  # 4000 / (3 x 230) = 5.8 A < 6 A
    advance(ac22, 1)
    assert gun_regs(ac22)["state"] == GunState.SUSPENDED_EVSE
    write_u32(ac22, 101, 4500)  # 6.5 A
    advance(ac22, 1)
    regs = gun_regs(ac22)
    assert regs["state"] == GunState.CHARGING
    assert regs["current_l1"] == regs["current_l2"] == regs["current_l3"] == 652


def test_three_phase_pile_with_single_phase_ev_draws_on_l1(ac22: Pile) -> None:
    charging(ac22, ev=EVSpec(ac_phases=1, ac_max_current_a=32))
    regs = gun_regs(ac22)
    assert regs["current_l1"] == 3200 and regs["current_l2"] == 0 and regs["current_l3"] == 0
    assert abs(regs["active_power"] - 32 * 230) <= 1


# --- energy, time, SoC ------------------------------------------------------------------------


def test_energy_limit_stops_with_reason_6_at_the_limit(ac7: Pile) -> None:
    write_u32(ac7, 105, 500)
    charging(ac7)
    advance(ac7, 600, step=5)  # 7 kW: 500 Wh after ~257 s
    regs = gun_regs(ac7)
    assert regs["stop_reason"] == StopReason.LIMIT
    assert regs["state"] == GunState.FINISHING
    assert regs["session_energy"] == 500
    assert 255 <= regs["session_seconds"] <= 260


def test_time_limit_stops_with_reason_6(ac7: Pile) -> None:
    write_u32(ac7, 107, 90)
    charging(ac7)
    advance(ac7, 200, step=7)
    regs = gun_regs(ac7)
    assert regs["stop_reason"] == StopReason.LIMIT
    assert regs["session_seconds"] == 90


def test_ev_full_stops_with_reason_4(ac7: Pile) -> None:
    charging(ac7, ev=EVSpec(battery_kwh=10, start_soc=95, ac_phases=1))
    advance(ac7, 3600, step=10)
    regs = gun_regs(ac7)
    assert regs["stop_reason"] == StopReason.EV_FULL
    assert regs["state"] == GunState.FINISHING
    assert ac7.guns[0].ev is not None and ac7.guns[0].ev.soc == pytest.approx(100)
    # 5 % of 10 kWh through a 92 % efficient charger
    assert regs["session_energy"] == pytest.approx(500 / 0.92, abs=2)


def test_dc_power_tapers_above_80_percent_and_soc_follows_energy(dc120: Pile) -> None:
    charging(dc120, ev=DC_EV)
    regs = gun_regs(dc120)
    assert regs["soc"] == 30
    assert regs["active_power"] == 100_000
    assert regs["voltage_l1"] > 3000 and regs["current_l1"] > 20_000  # ~370 V, ~270 A
    assert regs["voltage_l2"] == NA16 and regs["current_l3"] == NA16
    advance(dc120, 60 * 25, step=2)  # 41.7 kWh in 25 min, 40 kWh stored -> 80 %
    early = gun_regs(dc120)
    assert 78 <= early["soc"] <= 80
    advance(dc120, 60 * 6, step=2)
    late = gun_regs(dc120)
    assert late["soc"] > 85
    assert late["active_power"] < 70_000  # the taper
    ev = dc120.guns[0].ev
    assert ev is not None
    stored_kwh = (ev.soc - 30) / 100 * 80
    assert stored_kwh == pytest.approx(late["session_energy"] / 1000 * 0.96, rel=0.01)


def test_dc_guns_share_the_cabinet(dc120: Pile) -> None:
    charging(dc120, 1, DC_EV)
    charging(dc120, 2, DC_EV)
    advance(dc120, 2)
    total = gun_regs(dc120, 1)["active_power"] + gun_regs(dc120, 2)["active_power"]
    assert total == pytest.approx(120_000, abs=2)


def test_energy_total_never_decreases_and_session_energy_restarts(ac7: Pile) -> None:
    seen = []
    for _ in range(3):
        charging(ac7)
        for _ in range(5):
            advance(ac7, 30, step=5)
            seen.append(gun_regs(ac7)["energy_total"])
        session = gun_regs(ac7)["session_energy"]
        write(ac7, 100, 2)
        ac7.unplug(1)
        ac7.power_off()
        ac7.power_on()
        seen.append(gun_regs(ac7)["energy_total"])
    assert seen == sorted(seen)
    assert seen[-1] > 3 * session * 0.9
    charging(ac7)
    assert gun_regs(ac7)["session_energy"] < 10


def test_unplug_mid_session_stops_with_reason_3(ac7: Pile) -> None:
    charging(ac7)
    ac7.unplug(1)
    regs = gun_regs(ac7)
    assert regs["stop_reason"] == StopReason.EV_UNPLUGGED
    assert regs["state"] == GunState.AVAILABLE


def test_ev_suspending_shows_state_3(ac7: Pile) -> None:
    charging(ac7)
    ac7.set_ev_suspended(1, True)
    advance(ac7, 1)
    assert gun_regs(ac7)["state"] == GunState.SUSPENDED_EV
    assert gun_regs(ac7)["active_power"] == 0


# --- unknown / not applicable -----------------------------------------------------------------


def test_ac_reports_soc_unknown_and_single_phase_l2_l3_not_applicable(ac7: Pile) -> None:
    charging(ac7)
    regs = gun_regs(ac7)
    assert regs["soc"] == NA16
    assert regs["voltage_l2"] == regs["voltage_l3"] == NA16
    assert regs["current_l2"] == regs["current_l3"] == NA16
    assert 2250 <= regs["voltage_l1"] <= 2350


def test_reserved_offsets_of_the_gun_block_read_zero(ac7: Pile) -> None:
    assert ac7.read("input", 125, 15) == [0] * 15


# --- watchdog ---------------------------------------------------------------------------------


def test_watchdog_expiry_applies_fallback_and_heartbeat_restores(ac7: Pile) -> None:
    write(ac7, 10, 5)  # watchdog 5 s
    write_u32(ac7, 11, 2000)  # fallback 2 kW
    charging(ac7)
    for _ in range(4):  # heartbeats every 2 s keep full power
        advance(ac7, 2)
        write(ac7, 19, 7)
    assert device_regs(ac7)["heartbeat_echo"] == 7
    assert gun_regs(ac7)["power_limit_active"] == 7000
    advance(ac7, 5.5)  # silence: expired
    advance(ac7, 0.75)  # plus the limit delay
    regs = gun_regs(ac7)
    assert regs["power_limit_active"] == 2000
    assert abs(regs["active_power"] - 2000) <= 1
    assert regs["state"] == GunState.CHARGING and regs["stop_reason"] == StopReason.NONE
    write(ac7, 19, 8)
    advance(ac7, 1)
    assert gun_regs(ac7)["power_limit_active"] == 7000
    assert device_regs(ac7)["heartbeat_echo"] == 8


def test_watchdog_fallback_zero_pauses_without_stopping(ac7: Pile) -> None:
    write(ac7, 10, 3)
    charging(ac7)
    advance(ac7, 5)
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.SUSPENDED_EVSE
    assert regs["stop_reason"] == StopReason.NONE
    advance(ac7, 600, step=10)
    assert gun_regs(ac7)["state"] == GunState.SUSPENDED_EVSE  # still the same session
    write(ac7, 19, 1)
    advance(ac7, 1)
    assert gun_regs(ac7)["state"] == GunState.CHARGING


def test_watchdog_disabled_by_default_and_pile_keeps_charging(ac7: Pile) -> None:
    charging(ac7)
    advance(ac7, 3600, step=30)
    assert gun_regs(ac7)["state"] == GunState.CHARGING


def test_fallback_stop_after_gives_stop_reason_7(clock, grid) -> None:
    from dataclasses import replace

    from tests.sim.simtest_helpers import AC7, make_pile

    pile = make_pile(replace(AC7, fallback_stop_after_s=10), clock, grid)
    write(pile, 10, 2)
    charging(pile)
    advance(pile, 15)
    regs = gun_regs(pile)
    assert regs["stop_reason"] == StopReason.FALLBACK
    assert regs["state"] == GunState.FINISHING


# --- faults -----------------------------------------------------------------------------------


def test_fault_latches_until_cause_gone_and_reset(ac7: Pile) -> None:
    charging(ac7)
    ac7.raise_fault("insulation_fault")
    regs = gun_regs(ac7)
    assert regs["state"] == GunState.FAULTED
    assert regs["faults"] == 1 << 5
    assert regs["stop_reason"] == StopReason.FAULT
    assert regs["active_power"] == 0
    assert start(ac7) == CmdResult.FAULTED
    write(ac7, 100, 6)  # reset while the cause is there: refused
    assert gun_regs(ac7)["last_cmd_result"] == CmdResult.FAULTED
    ac7.clear_fault("insulation_fault")
    advance(ac7, 5)
    assert gun_regs(ac7)["state"] == GunState.FAULTED  # latched
    assert gun_regs(ac7)["faults"] == 1 << 5
    write(ac7, 100, 6)
    regs = gun_regs(ac7)
    assert regs["last_cmd_result"] == CmdResult.ACCEPTED
    assert regs["state"] == GunState.PLUGGED and regs["faults"] == 0
    assert start(ac7) == CmdResult.ACCEPTED


def test_fault_without_session_and_without_ev(ac7: Pile) -> None:
    ac7.raise_fault("emergency_stop")
    assert gun_regs(ac7)["state"] == GunState.FAULTED
    assert gun_regs(ac7)["stop_reason"] == StopReason.NONE
    ac7.clear_fault("emergency_stop")
    write(ac7, 100, 6)
    assert gun_regs(ac7)["state"] == GunState.AVAILABLE


def test_pile_wide_fault_hits_every_gun(dc120: Pile) -> None:
    charging(dc120, 1, DC_EV)
    dc120.raise_fault("emergency_stop")
    for gun in (1, 2):
        assert gun_regs(dc120, gun)["state"] == GunState.FAULTED
    assert gun_regs(dc120, 1)["stop_reason"] == StopReason.FAULT


def test_fault_causes_show_in_measurements(ac7: Pile) -> None:
    ac7.raise_fault("over_temperature")
    ac7.raise_fault("input_undervoltage")
    advance(ac7, 1)
    regs = gun_regs(ac7)
    assert regs["temperature"] >= 800
    assert regs["voltage_l1"] < 1900
    assert regs["faults"] == (1 << 0) | (1 << 2)


def test_unknown_fault_name_is_refused(ac7: Pile) -> None:
    from firmware_sim.errors import SimError

    with pytest.raises(SimError, match="unknown fault"):
        ac7.raise_fault("gremlins")


# --- session counter, power loss, availability --------------------------------------------------


def test_session_counter_wraps_at_65535(ac7: Pile) -> None:
    ac7.guns[0].session_counter = 65535
    charging(ac7)
    assert gun_regs(ac7)["session_counter"] == 0
    write(ac7, 100, 2)
    ac7.unplug(1)
    charging(ac7)
    assert gun_regs(ac7)["session_counter"] == 1


def test_power_loss_stops_with_reason_8_and_reboot_resets_volatile_state(ac7: Pile) -> None:
    write(ac7, 10, 30)
    write(ac7, 19, 5)
    charging(ac7)
    advance(ac7, 180, step=5)
    energy = gun_regs(ac7)["energy_total"]
    ac7.power_off()
    assert not ac7.powered
    ac7.power_on()
    dev = device_regs(ac7)
    regs = gun_regs(ac7)
    assert regs["stop_reason"] == StopReason.POWER_LOSS
    assert regs["state"] == GunState.FINISHING  # EV still plugged, session over
    assert regs["energy_total"] == energy and regs["session_counter"] == 1
    assert dev["uptime_min"] == 0 and dev["heartbeat_echo"] == 0
    assert ac7.read("holding", 10, 1) == [0]  # watchdog back to its default
    assert regs["last_cmd_result"] == CmdResult.NONE


def test_unavailable_gun_rejects_start(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    ac7.set_available(1, False)
    assert gun_regs(ac7)["state"] == GunState.UNAVAILABLE
    assert start(ac7) == CmdResult.UNAVAILABLE
    ac7.set_available(1, True)
    assert gun_regs(ac7)["state"] == GunState.PLUGGED


# --- refused writes: exception 02 / 03, nothing changes ------------------------------------------


@pytest.mark.parametrize("address", [0, 9, 13, 18, 20, 99, 109, 110, 200, 300])
def test_writes_outside_documented_registers_are_illegal_address(ac7: Pile, address: int) -> None:
    assert write(ac7, address, 1) == WriteError.ILLEGAL_ADDRESS


def test_second_gun_of_a_dc_pile_is_writable_but_not_a_third(dc120: Pile) -> None:
    assert write(dc120, 201, 0, 1000) is None
    assert write(dc120, 300, 1) == WriteError.ILLEGAL_ADDRESS


@pytest.mark.parametrize("command", [5, 7, 99, 0xFFFF])
def test_unknown_command_is_illegal_value(ac7: Pile, command: int) -> None:
    assert write(ac7, 100, command) == WriteError.ILLEGAL_VALUE


def test_refused_block_write_changes_nothing(ac7: Pile) -> None:
    ac7.plug(1, EV.arriving(AC_EV))
    before = ac7.read("holding", 100, 10)
    assert ac7.write_holding(100, [9, 0, 1234, 0, 99]) == WriteError.ILLEGAL_VALUE
    assert ac7.write_holding(101, [0, 1234, 0, 5, 0, 0, 0, 0, 0]) == WriteError.ILLEGAL_ADDRESS
    assert ac7.read("holding", 100, 10) == before
    assert gun_regs(ac7)["last_cmd_result"] == CmdResult.NONE


def test_command_zero_is_a_no_op(ac7: Pile) -> None:
    assert write(ac7, 100, 0) is None
    assert gun_regs(ac7)["last_cmd_result"] == CmdResult.NONE


def test_half_of_a_32_bit_register_can_be_written(ac7: Pile) -> None:
    assert write(ac7, 102, 2500) is None  # low word of power_limit; high word stays 0
    advance(ac7, 1)
    assert gun_regs(ac7)["power_limit_active"] == 2500
