"""Every shipped profile loads; a broken profile is refused with the key and the fix named."""

from __future__ import annotations

import copy
import tomllib

import pytest

from edge.drivers.profile import (
    ProfileError,
    encode_value,
    load_profile,
    parse_profile,
    plan_blocks,
    raw_value,
    shipped_profiles,
)


@pytest.mark.parametrize("path", shipped_profiles(), ids=lambda p: p.stem)
def test_every_shipped_profile_loads(path):
    profile = load_profile(path)
    assert profile.id == path.stem
    assert profile.reads
    # every read fits in one request and the plan covers every read exactly once
    for scope in ("device", "gun"):
        reads = [r for r in profile.reads if r.scope == scope]
        blocks = plan_blocks(reads, 0, profile.max_block, profile.max_gap)
        assert sorted(r.name for b in blocks for r, _ in b.reads) == sorted(r.name for r in reads)
        assert all(b.count <= profile.max_block for b in blocks)


def test_reference_pile_reads_a_gun_in_one_request():
    p = load_profile("jc-ref-v1")
    blocks = plan_blocks(p.reads_for("gun", ("cycle", "fast")), p.guns.offset(2), p.max_block, p.max_gap)
    assert [(b.function, b.address, b.count) for b in blocks] == [(4, 200, 25)]


def test_meter_load_read_is_two_registers():
    p = load_profile("arcm300t")
    blocks = plan_blocks(p.reads_for("device", ("fast",)), 0, p.max_block, p.max_gap)
    assert [(b.function, b.address, b.count) for b in blocks] == [(3, 52, 2)]


def test_unknown_profile_name_lists_shipped_ones():
    with pytest.raises(ProfileError, match="jc-ref-v1"):
        load_profile("no-such-pile")


def _ref() -> dict:
    return tomllib.loads(shipped_profiles()[[p.stem for p in shipped_profiles()].index("jc-ref-v1")].read_text())


def _read(d: dict, name: str) -> dict:
    return next(r for r in d["read"] if r["name"] == name)


BROKEN = [
    ("unknown type", lambda d: _read(d, "power_w").update(type="uint32"), ["power_w", "`type`", 'did you mean "u32"']),
    ("typo key", lambda d: _read(d, "power_w").update(adress=8), ["unknown key `adress`", "did you mean `address`"]),
    ("bad function", lambda d: _read(d, "power_w").update(function=5), ["`function` is 5", "write 3", "or 4"]),
    ("overlap", lambda d: _read(d, "power_w").update(address=9), ["overlap", "power_w"]),
    ("missing map", lambda d: _read(d, "state").update(map="nope"), ["[maps.nope]"]),
    ("bad state name", lambda d: d["maps"]["state"].update({"2": "charge"}), ["[maps.state]", '"charge"', "charging"]),
    ("missing required", lambda d: d["read"].remove(_read(d, "energy_total_wh")), ['needs a read named "energy_total_wh"']),
    ("no start code", lambda d: d["write"]["command"]["values"].pop("start"), ["[write.command]", "start"]),
    ("word order", lambda d: d["meta"].update(word_order="middle"), ["`word_order`", '"big"']),
    ("block too big", lambda d: d["meta"].update(max_block=200), ["`max_block`", "1..125"]),
    ("range", lambda d: _read(d, "power_w").update(range=[5, 1]), ["`range`", "[low, high]"]),
    ("bool for int", lambda d: _read(d, "power_w").update(address=True), ["`address`", "integer"]),
    ("string without length", lambda d: _read(d, "serial").pop("length"), ["`length` is missing"]),
    ("identify unknown", lambda d: d["identify"].update(nothing=[1]), ["[identify]", "`nothing`"]),
    ("duplicate name", lambda d: d["read"].append(dict(_read(d, "power_w"), address=300)), ['"power_w" is used twice']),
]


@pytest.mark.parametrize("label,mutate,expected", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_profile_says_where_and_what_to_write(label, mutate, expected):
    data = copy.deepcopy(_ref())
    mutate(data)
    with pytest.raises(ProfileError) as info:
        parse_profile(data, source="vendor.toml")
    msg = str(info.value)
    assert msg.startswith("vendor.toml")
    for part in expected:
        assert part in msg, f"{part!r} not in {msg!r}"


def test_decode_word_and_byte_order():
    p = load_profile("jc-ref-v1")
    spec = p.read("energy_total_wh")
    assert raw_value(spec, [0x0001, 0x0002], p) == 0x00010002
    assert raw_value(spec, [0xFFFF, 0xFFFF], p) is None  # "not available"
    little = parse_profile({**_ref(), "meta": {**_ref()["meta"], "word_order": "little"}})
    assert raw_value(little.read("energy_total_wh"), [0x0002, 0x0001], little) == 0x00010002
    temp = p.read("temperature_c")
    assert raw_value(temp, [0xFF38], p) == -200  # signed
    assert raw_value(p.read("serial"), [0x5349, 0x4D00, 0, 0, 0, 0, 0, 0], p) == "SIM"


def test_encode_round_trip_and_range():
    p = load_profile("jc-ref-v1")
    w = p.writes["power_limit_w"]
    assert encode_value(w, 70_000, p) == [0x0001, 0x1170]
    with pytest.raises(ValueError):
        encode_value(p.writes["heartbeat"], 70_000, p)
