"""Policy parameters: validation messages and the set_load_policy command."""

from __future__ import annotations

import pytest

from edge.loadctl import ACCEPTANCE_KEYS, Policy, PolicyError, decide, rated_kva_from_command


def test_defaults_are_the_customers_rule():
    p = Policy()
    assert (p.mode, p.cap_above_pct, p.block_above_pct, p.cap_power_pct) == (
        "threshold",
        50.0,
        80.0,
        50.0,
    )
    assert p.hysteresis_pct == 5.0 and p.meter_timeout_s == 3.0 and p.validate() == []


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"cap_above_pct": 80.0}, "cap_above_pct (80) must be above 0 and below block_above_pct"),
        ({"cap_above_pct": 0.0}, "cap_above_pct"),
        ({"block_above_pct": 200.0}, "block_above_pct (200) must be in (0, 100]"),
        ({"cap_power_pct": 0.0}, "cap_power_pct"),
        ({"cap_power_pct": 120.0}, "cap_power_pct"),
        ({"hysteresis_pct": -1.0}, "hysteresis_pct"),
        (
            {"hysteresis_pct": 50.0},
            "hysteresis_pct (50) must be in [0, 20]",
        ),
        ({"meter_timeout_s": 0.0}, "meter_timeout_s"),
        ({"dwell_s": -1.0}, "dwell_s"),
        ({"share_target_pct": 90.0}, "share_target_pct (90) must be above 0 and at most block"),
        ({"power_factor": 1.5}, "power_factor"),
        ({"resume_margin_pct": -1.0}, "resume_margin_pct"),
        ({"mode": "fair"}, "mode must be 'threshold' or 'share'"),
        ({"cap_above_pct": "50"}, "cap_above_pct must be a number"),
        ({"dwell_s": float("inf")}, "dwell_s must be a finite number"),
    ],
)
def test_invalid_policies_say_which_key_and_what_to_write(changes, fragment):
    with pytest.raises(PolicyError) as err:
        Policy(**changes)
    assert fragment in str(err.value)
    assert err.value.problems


def test_all_problems_are_reported_at_once():
    with pytest.raises(PolicyError) as err:
        Policy(cap_power_pct=0.0, meter_timeout_s=-1.0)
    assert len(err.value.problems) == 2


def test_from_command_takes_the_spec_fields():
    cmd = {
        "v": 1,
        "id": "9b1c",
        "type": "set_load_policy",
        "expires_at": 1,
        "rated_kva": 630,
        "cap_above_pct": 60,
        "block_above_pct": 85,
        "cap_power_pct": 40,
        "hysteresis_pct": 3,
        "mode": "share",
        "some_future_field": True,
    }
    p = Policy.from_command(cmd)
    assert p == Policy(
        mode="share",
        cap_above_pct=60.0,
        block_above_pct=85.0,
        cap_power_pct=40.0,
        hysteresis_pct=3.0,
    )
    assert rated_kva_from_command(cmd) == 630.0


def test_from_command_keeps_base_values_for_absent_fields():
    base = Policy(mode="share", hysteresis_pct=2.0, dwell_s=30.0)
    p = Policy.from_command({"block_above_pct": 90}, base=base)
    assert p.mode == "share" and p.hysteresis_pct == 2.0 and p.block_above_pct == 90.0
    assert Policy.from_command({}) == Policy()
    assert rated_kva_from_command({}) is None


@pytest.mark.parametrize(
    ("cmd", "fragment"),
    [
        ({"rated_kva": 0}, "rated_kva (0) must be in (0, 100000]"),
        ({"hysteresis_pct": 12.0, "cap_above_pct": 10.0}, "hysteresis_pct (12) must be at least 0 and below cap_above_pct"),
        ({"emergency_above_pct": 70.0}, "emergency_above_pct (70) must be at least block_above_pct"),
        ({"pile_sessions": "kill"}, "pile_sessions must be 'wait' or 'stop'"),
        ({"rated_kva": "400"}, "rated_kva must be a number"),
        ({"mode": "fair"}, "mode must be 'threshold' or 'share'"),
        ({"cap_above_pct": True}, "cap_above_pct must be a number"),
        ({"cap_above_pct": 90}, "cap_above_pct (90) must be above 0 and below block_above_pct"),
    ],
)
def test_from_command_rejects_bad_fields(cmd, fragment):
    with pytest.raises(PolicyError) as err:
        Policy.from_command(cmd)
    assert fragment in str(err.value)


def test_rated_kva_from_command_rejects_bad_values():
    with pytest.raises(PolicyError):
        rated_kva_from_command({"rated_kva": -5})


def test_decide_dispatches_on_mode():
    from loadctl_support import running, station

    guns = (running("P1-1", power=0),)
    snap = station(79.0, guns=guns)
    assert decide(snap, Policy(mode="threshold"), 100.0).limits == {"P1-1": 60_000}
    assert decide(snap, Policy(mode="share"), 100.0).limits["P1-1"] < 60_000


def test_one_range_for_each_key_in_policy_config_and_command_schema():
    """The set_load_policy schema and the config take each key's range from RANGES."""
    import json
    from pathlib import Path

    from edge.config import ConfigError, parse_config
    from edge.loadctl import RANGES, RATED_KVA_RANGE

    schema = json.loads((Path(__file__).resolve().parents[2] / "jcproto" / "schemas"
                         / "cmd_set_load_policy.json").read_text())
    numeric = {k: v for k, v in schema["properties"].items() if v.get("type") == "number"}
    assert set(numeric) - {"rated_kva"} <= set(RANGES)
    for key, prop in numeric.items():
        r = RATED_KVA_RANGE if key == "rated_kva" else RANGES[key]
        low = prop.get("exclusiveMinimum", prop.get("minimum"))
        high = prop.get("exclusiveMaximum", prop.get("maximum"))
        assert (low, high) == (r.low, r.high), key
        assert ("exclusiveMinimum" in prop, "exclusiveMaximum" in prop) == (r.low_open, r.high_open), key

    base = {"station": {"id": "S"}, "bus": [{"name": "b", "host": "127.0.0.1:502"}],
            "pile": [{"id": "P1", "unit": 1}], "meter": {"bus": "b", "unit": 10},
            "transformer": {"rated_kva": 400}}
    for key in ("cap_power_pct", "share_target_pct", "dwell_s", "emergency_above_pct",
                "meter_tolerance_pct", "meter_implausible_s", "hysteresis_pct", "orderly_margin_pct",
                "orderly_replan_pct", "orderly_replan_s", *ACCEPTANCE_KEYS):
        r = RANGES[key]
        outside = r.low if r.low_open else r.low - 1
        with pytest.raises(ConfigError) as err:
            parse_config({**base, "load_policy": {key: outside}}, "t")
        assert key in str(err.value) and r.text() in str(err.value)
        with pytest.raises(PolicyError):
            Policy(**{key: outside})


def test_the_orderly_keys_go_from_the_config_into_the_policy():
    from edge.config import parse_config
    from edge.control import policy_from_config

    base = {"station": {"id": "S"}, "bus": [{"name": "b", "host": "127.0.0.1:502"}],
            "pile": [{"id": "P1", "unit": 1}], "meter": {"bus": "b", "unit": 10},
            "transformer": {"rated_kva": 400}}
    p = policy_from_config(parse_config({**base, "load_policy": {
        "orderly_margin_pct": 7.5, "orderly_replan_pct": 3, "orderly_replan_s": 300}}, "t"))
    assert (p.orderly_margin_pct, p.orderly_replan_pct, p.orderly_replan_s) == (7.5, 3.0, 300.0)
    d = policy_from_config(parse_config(base, "t"))
    assert (d.orderly_margin_pct, d.orderly_replan_pct, d.orderly_replan_s) == (5.0, 2.0, 60.0)
    # a stored cloud policy (set_load_policy keys only) keeps the config's orderly values
    assert Policy.from_command({"rated_kva": 400, "dwell_s": 5}, p).orderly_margin_pct == 7.5


def test_the_acceptance_keys_go_from_the_config_into_the_learner(tmp_path):
    """[load_policy] orderly_ramp_s … orderly_move_min_w set what the gateway's learner of what
    the car takes uses (edge/control.py); absent, the defaults; `check-config` refuses a value
    out of range naming the key and the range."""
    import subprocess
    import sys
    from pathlib import Path

    from edge.config import parse_config
    from edge.control import policy_from_config
    from edge.loadctl.acceptance import AcceptanceRules

    base = {"station": {"id": "S"}, "bus": [{"name": "b", "host": "127.0.0.1:502"}],
            "pile": [{"id": "P1", "unit": 1}], "meter": {"bus": "b", "unit": 10},
            "transformer": {"rated_kva": 400}}
    set_ = {"orderly_ramp_s": 5, "orderly_sustain_s": 30, "orderly_shortfall_pct": 95,
            "orderly_shortfall_min_w": 150, "orderly_move_pct": 5, "orderly_move_min_w": 250}
    p = policy_from_config(parse_config({**base, "load_policy": set_}, "t"))
    assert AcceptanceRules.of(p) == AcceptanceRules(ramp_s=5, sustain_s=30, shortfall_pct=95,
                                                    shortfall_min_w=150, move_pct=5, move_min_w=250)
    assert AcceptanceRules.of(policy_from_config(parse_config(base, "t"))) == AcceptanceRules()
    # a stored cloud policy (set_load_policy keys only) keeps the config's values
    assert AcceptanceRules.of(Policy.from_command({"rated_kva": 400, "dwell_s": 5}, p)) == AcceptanceRules.of(p)

    cfg = tmp_path / "station.toml"
    cfg.write_text('[station]\nid = "ST-1"\n[[bus]]\nname = "l"\nport = "/dev/ttyUSB0"\n'
                   '[[pile]]\nid = "P1"\nunit = 1\n[meter]\nbus = "l"\nunit = 10\n[transformer]\nrated_kva = 400\n'
                   '[load_policy]\norderly_sustain_s = 0\norderly_shortfall_pct = 120\n')
    out = subprocess.run([sys.executable, "-m", "edge.cli", "check-config", str(cfg)], capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1
    assert "`orderly_sustain_s` = 0.0" in out.stderr and "[1, 600]" in out.stderr
    assert "`orderly_shortfall_pct` = 120.0" in out.stderr and "[50, 100]" in out.stderr
    assert "2 problems" in out.stderr
