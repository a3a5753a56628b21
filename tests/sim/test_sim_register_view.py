"""The register view on its own: field values in, register images and checked writes out,
with no pile behind it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_sim.pile.gun import CmdResult, Gun, GunState, StopReason
from firmware_sim.pile.limits import Watchdog
from firmware_sim.pile.register_view import (
    WriteError,
    decode_holding_write,
    device_holding_values,
    device_input_values,
    gun_holding_values,
    gun_input_values,
    locate_holding,
    read_registers,
)
from firmware_sim.pile.spec import PileSpec
from firmware_sim.registers import NA16, NA32, PILE_INPUT_DEVICE, PILE_INPUT_GUN

AC7 = PileSpec(unit=1, id="AC7", current="AC", guns=1, rated_power_w=7000, phases=1,
               max_current_a=32, min_current_a=6, serial="T-AC7", firmware=(1, 4, 210))
AC22 = PileSpec(unit=2, id="AC22", current="AC", guns=1, rated_power_w=22000, phases=3)
DC = PileSpec(unit=3, id="DC", current="DC", guns=2, rated_power_w=120000, phases=0)


def new_gun(number: int = 1) -> Gun:
    return Gun(number=number, power_limit_w=7000, limit_active_w=7000, temperature_c=25.0)


def holding_of(guns: dict[int, Gun], watchdog: Watchdog):
    return lambda gun_no: gun_holding_values(guns[gun_no]) if gun_no else (
        device_holding_values(watchdog))


# --- values -----------------------------------------------------------------------------------


def test_device_input_values() -> None:
    values = device_input_values(AC7, uptime_s=3 * 60 + 59, heartbeat=77)
    assert values["firmware"] == ((1 * 256 + 4) << 16) | 210
    assert (values["uptime_min"], values["heartbeat_echo"]) == (3, 77)
    assert (values["max_current"], values["min_current"]) == (320, 60)
    assert device_input_values(DC, 0.0, 0)["max_current"] == NA16
    assert device_input_values(AC7, 65536 * 60.0, 0)["uptime_min"] == 0  # wraps
    assert device_input_values(AC7, -5.0, 0)["uptime_min"] == 0


def test_gun_input_values_mark_what_does_not_apply() -> None:
    gun = new_gun()
    gun.voltages_v = [231.04, 0.0, 0.0]
    gun.currents_a = [31.996, 0.0, 0.0]
    values = gun_input_values(AC7, gun)
    assert (values["voltage_l1"], values["current_l1"]) == (2310, 3200)
    assert values["voltage_l2"] == values["current_l3"] == NA16
    assert values["soc"] == NA16  # AC: unknown
    three = gun_input_values(AC22, gun)
    assert three["voltage_l2"] == 0 and three["current_l3"] == 0


def test_gun_input_values_clamp_into_their_registers() -> None:
    gun = new_gun()
    gun.voltages_v = [9999.0, 0.0, 0.0]  # would read 99990 in 0.1 V: capped below "unknown"
    gun.energy_total_wh = 5e9
    gun.temperature_c = -12.34
    values = gun_input_values(DC, gun)
    assert values["voltage_l1"] == NA16 - 1
    assert values["energy_total"] == NA32
    assert values["temperature"] == -123


def test_gun_input_values_follow_the_record() -> None:
    gun = new_gun()
    gun.state, gun.stop_reason, gun.last_cmd_result = (GunState.FINISHING, StopReason.EV_FULL,
                                                       CmdResult.BUSY)
    gun.session_tag, gun.session_counter, gun.limit_active_w = 0xCAFEF00D, 12, 3000
    values = gun_input_values(DC, gun)
    assert (values["state"], values["stop_reason"], values["last_cmd_result"]) == (5, 4, 4)
    assert (values["session_tag"], values["session_counter"]) == (0xCAFEF00D, 12)
    assert values["power_limit_active"] == 3000


def test_command_register_reads_zero_and_limits_read_back_as_written() -> None:
    gun = new_gun()
    gun.power_limit_w = 999_999  # above rated: the holding register shows what was written
    assert gun_holding_values(gun)["command"] == 0
    assert gun_holding_values(gun)["power_limit"] == 999_999


# --- reads ------------------------------------------------------------------------------------


def test_read_spans_blocks_and_unassigned_addresses_read_zero() -> None:
    gun = new_gun()
    gun.session_counter = 4

    def values(gun_no: int):
        if gun_no == 0:
            return device_input_values(AC7, 0.0, 5)
        return gun_input_values(AC7, gun)

    image = read_registers("input", 0, 125, AC7.guns, values)
    assert PILE_INPUT_DEVICE.decode(image[:20])["heartbeat_echo"] == 5
    assert image[20:100] == [0] * 80  # between the blocks
    assert PILE_INPUT_GUN.decode(image[100:125])["session_counter"] == 4
    assert read_registers("input", 125, 15, AC7.guns, values) == [0] * 15  # offsets 25..39
    assert read_registers("input", 200, 10, AC7.guns, values) == [0] * 10  # no second gun
    assert read_registers("input", 116, 1, AC7.guns, values) == [4]


def test_read_asks_each_block_by_its_gun_number() -> None:
    asked: list[int] = []
    guns = {1: new_gun(1), 2: new_gun(2)}

    def values(gun_no: int):
        asked.append(gun_no)
        return holding_of(guns, Watchdog())(gun_no)

    read_registers("holding", 0, 210, DC.guns, values)
    assert asked == [0, 1, 2]


# --- writes -----------------------------------------------------------------------------------


def test_write_decodes_into_fields_in_order() -> None:
    guns = {1: new_gun()}
    fields = decode_holding_write(
        100, [1, 0, 5000, 0xDEAD, 0xBEEF], AC7.guns, holding_of(guns, Watchdog())
    )
    assert fields == [(1, "command", 1), (1, "power_limit", 5000), (1, "session_tag", 0xDEADBEEF)]


def test_half_of_a_32_bit_field_keeps_the_other_half() -> None:
    guns = {1: new_gun()}
    guns[1].power_limit_w = 0x0001_2345
    fields = decode_holding_write(102, [0x6789], AC7.guns, holding_of(guns, Watchdog()))
    assert fields == [(1, "power_limit", 0x0001_6789)]


def test_device_fields_decode() -> None:
    wd = Watchdog(period_s=5, fallback_power_w=0x0002_0000, heartbeat=1)
    fields = decode_holding_write(10, [30, 0], 1, holding_of({}, wd))
    assert fields == [(0, "fallback_power", 0), (0, "watchdog_s", 30)]
    assert decode_holding_write(19, [7], 1, holding_of({}, wd)) == [(0, "heartbeat", 7)]


def test_undocumented_registers_refuse_the_whole_write() -> None:
    guns = {1: new_gun(), 2: new_gun(2)}
    current = holding_of(guns, Watchdog())
    for address, count in [(0, 1), (9, 2), (13, 1), (18, 2), (109, 1), (108, 2), (110, 1),
                           (300, 1), (250, 1)]:
        result = decode_holding_write(address, [0] * count, DC.guns, current)
        assert result is WriteError.ILLEGAL_ADDRESS, (address, count)
    assert decode_holding_write(201, [0, 1], DC.guns, current) == [(2, "power_limit", 1)]


def test_command_values_outside_the_map_are_illegal_value() -> None:
    current = holding_of({1: new_gun()}, Watchdog())
    for command in (5, 7, 0xFFFF):
        assert decode_holding_write(100, [command], 1, current) is WriteError.ILLEGAL_VALUE
    # an address error anywhere wins over a value error
    assert decode_holding_write(100, [5] + [0] * 9, 1, current) is WriteError.ILLEGAL_ADDRESS


def test_locate_holding() -> None:
    located = locate_holding(104, 1)
    assert located is not None and (located[0], located[1].name, located[2]) == (1, "session_tag",
                                                                               1)
    assert locate_holding(204, 1) is None
    assert locate_holding(12, 1) is not None and locate_holding(14, 1) is None


@settings(max_examples=400, deadline=None)
@given(
    address=st.integers(0, 330),
    registers=st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=12),
)
def test_an_accepted_write_reads_back_what_was_written(address: int, registers: list[int]) -> None:
    guns = {1: new_gun(1), 2: new_gun(2)}
    wd = Watchdog()
    current = holding_of(guns, wd)
    fields = decode_holding_write(address, registers, DC.guns, current)
    if isinstance(fields, WriteError):
        return
    # apply the fields the way a pile stores them, then read the written range back
    for gun_no, name, value in fields:
        if gun_no == 0:
            attr = {"watchdog_s": "period_s", "fallback_power": "fallback_power_w",
                    "heartbeat": "heartbeat"}[name]
            setattr(wd, attr, value)
        elif name != "command":
            attr = {"power_limit": "power_limit_w", "session_tag": "session_tag_reg",
                    "energy_limit": "energy_limit_wh", "time_limit": "time_limit_s"}[name]
            setattr(guns[gun_no], attr, value)
    back = read_registers("holding", address, len(registers), DC.guns, current)
    expected = [0 if locate_holding(address + i, DC.guns)[1].name == "command" else r
                for i, r in enumerate(registers)]
    assert back == expected
