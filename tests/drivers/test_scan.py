"""`scan` finds devices on a line and names the profile that fits each."""

from __future__ import annotations

import pytest

from edge.drivers.scan import format_table, parse_units, scan_line

from .fakes import FakeDevice, FakeLine, arcm300t, reference_pile


def test_parse_units():
    assert parse_units("1-3,10") == [1, 2, 3, 10]
    for bad in ("0-3", "5-2", "x", "", "1-300"):
        with pytest.raises(ValueError, match="--units"):
            parse_units(bad)


async def test_scan_finds_piles_meter_and_unknown_devices_at_their_baud():
    lines = {9600: FakeLine(9600), 1200: FakeLine(1200)}
    lines[9600].devices[1] = reference_pile()
    lines[9600].devices[2] = reference_pile(guns=2, rated_w=120_000, kind=2, phases=0)
    lines[9600].devices[7] = FakeDevice(holding={0: 5})  # something else
    lines[1200].devices[3] = arcm300t(3)
    found = await scan_line(lambda b: lines[b], range(1, 9), [9600, 1200], timeout_s=0.01)
    by_unit = {f.unit: f for f in found}
    assert sorted(by_unit) == [1, 2, 3, 7]
    assert (by_unit[1].profile, by_unit[1].baud, by_unit[1].details["guns"]) == ("jc-ref-v1", 9600, 1)
    assert by_unit[2].details["current"] == "DC"
    assert (by_unit[3].profile, by_unit[3].kind, by_unit[3].baud) == ("arcm300t", "meter", 1200)
    assert by_unit[7].profile is None and "no shipped profile fits" in by_unit[7].note
    table = format_table(found, serial=True)
    assert "arcm300t" in table and "1200" in table and "AC 1-phase 7000 W, 1 gun" in table


async def test_a_meter_whose_unit_register_disagrees_is_not_taken_for_one():
    line = FakeLine(9600)
    line.devices[4] = arcm300t(9)  # answers at 4 but says it is unit 9
    found = await scan_line(lambda b: line, [4], [9600], timeout_s=0.01)
    assert found[0].profile is None
