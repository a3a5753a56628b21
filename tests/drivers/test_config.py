"""The station config: a good one loads; each mistake is named with the fix."""

from __future__ import annotations

import tomllib

import pytest

from edge.config import ConfigError, load_config, parse_config

GOOD = """
[station]
id = "ST-0001"
name = "Test station"

[[bus]]
name = "rs485-1"
port = "/dev/ttyUSB0"
baud = 9600

[[bus]]
name = "lan"
host = "192.168.1.50:502"

[[pile]]
id = "P1"
bus = "rs485-1"
unit = 1

[[pile]]
id = "P2"
bus = "lan"
unit = 1
free_vend_guns = [2]

[meter]
bus = "rs485-1"
unit = 10

[transformer]
rated_kva = 400
"""


def test_good_config_loads(tmp_path):
    f = tmp_path / "station.toml"
    f.write_text(GOOD)
    cfg = load_config(f)
    assert cfg.station.id == "ST-0001"
    assert cfg.bus("lan").host == "192.168.1.50" and cfg.bus("lan").tcp_port == 502
    assert cfg.piles[1].free_vend_guns == (2,)
    assert cfg.meter.unit == 10 and cfg.meter.timeout_s == 3.0
    assert cfg.load_policy.cap_above_pct == 50 and cfg.load_policy.block_above_pct == 80


def edit(text: str, old: str, new: str) -> dict:
    assert old in text
    return tomllib.loads(text.replace(old, new, 1))


CASES = [
    ('id = "ST-0001"', 'id = "ST 0001"', ["[station]", "`id`", "letters, digits"]),
    ("baud = 9600", "baud = 9601", ["[[bus]] #1", "`baud` = 9601", "9600"]),
    ("baud = 9600", "buad = 9600", ["unknown key `buad`", "did you mean `baud`?"]),
    ('port = "/dev/ttyUSB0"', 'port = "/dev/ttyUSB0"\nhost = "1.2.3.4:502"', ["either `port`", "not both"]),
    ('bus = "lan"', 'bus = "lann"', ['[[pile]] #2 (id "P2")', "`bus` = 'lann' names no [[bus]]", "lan, rs485-1"]),
    ("unit = 1\n\n[[pile]]", "unit = 300\n\n[[pile]]", ["`unit` = 300", "1..247", "unit = 1"]),
    ('id = "P2"\nbus = "lan"\nunit = 1', 'id = "P1"\nbus = "lan"\nunit = 1', ["`id` = 'P1' is used by another"]),
    ("[meter]\nbus = \"rs485-1\"\nunit = 10", "[meter]\nbus = \"rs485-1\"\nunit = 1", ["[meter]", "also a pile's unit"]),
    ("rated_kva = 400", "rated_kva = \"400\"", ["[transformer]", "`rated_kva`", "a number"]),
    ("rated_kva = 400", "", ["`rated_kva` is missing", "rated_kva = 400"]),
    ("unit = 1\n\n[[pile]]", 'unit = 1\nprofile = "acme"\n\n[[pile]]', ["`profile`", "no profile named 'acme'", "jc-ref-v1"]),
    ("[transformer]", "[load_policy]\ncap_above_pct = 90\n\n[transformer]", ["`cap_above_pct` (90) must be below `block_above_pct` (80)"]),
    ("[transformer]", "[watchdog]\ntimeout_s = 6\nheartbeat_s = 5\n\n[transformer]", ["[watchdog]", "at most half"]),
    ("[transformer]", "[cloud]\nbroker = \"http://x\"\n\n[transformer]", ["[cloud]", "mqtts://host:port"]),
    # "²" is a digit to str.isdigit but not to int(): a clear error, not a crash
    ('host = "192.168.1.50:502"', 'host = "192.168.1.50:5²"', ["`host`", "ip:port"]),
    ("[transformer]", "[status]\nlisten = \"127.0.0.1:80²\"\n\n[transformer]", ["[status]", "host:port"]),
]


@pytest.mark.parametrize("old,new,expected", CASES)
def test_each_mistake_is_named_with_its_fix(old, new, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(edit(GOOD, old, new), "station.toml")
    msg = "\n".join(info.value.errors)
    for part in expected:
        assert part in msg, f"{part!r} not in:\n{msg}"
    assert all(e.startswith("station.toml") for e in info.value.errors)


def test_all_problems_are_reported_at_once():
    data = edit(GOOD, "baud = 9600", "baud = 1")
    data["pile"][0]["unit"] = 0
    with pytest.raises(ConfigError) as info:
        parse_config(data, "station.toml")
    assert len(info.value.errors) == 2


def test_not_toml(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[station\nid=1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(f)


def test_meter_fast_period_defaults_by_line(tmp_path):
    # docs/config.md: the S-total read period is 0.1 s on an RS-485 line up to 19,200 baud,
    # 0.25 s on a faster one and over TCP.
    from edge.config import FAST_PERIOD_S, load_config

    def meter_period(bus: str, extra: str = "") -> float:
        p = tmp_path / "station.toml"
        p.write_text(f'[station]\nid = "S1"\n{bus}\n[meter]\nbus = "b"\nunit = 1\n{extra}'
                     '[transformer]\nrated_kva = 400\n')
        return load_config(p).meter.fast_period_s

    assert meter_period('[[bus]]\nname = "b"\nport = "/dev/ttyUSB0"\n') == FAST_PERIOD_S["slow_serial"] == 0.1
    assert meter_period('[[bus]]\nname = "b"\nport = "/dev/ttyUSB0"\nbaud = 115200\n') == 0.25
    assert meter_period('[[bus]]\nname = "b"\nhost = "10.0.0.5:502"\n') == FAST_PERIOD_S["other"] == 0.25
    assert meter_period('[[bus]]\nname = "b"\nport = "/dev/ttyUSB0"\n', "fast_period_s = 0.5\n") == 0.5
