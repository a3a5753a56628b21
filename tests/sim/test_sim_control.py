"""The JSON control API (in-process app, real HTTP)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest

from firmware_sim import scenario as scenarios
from firmware_sim.app import Options, SimApp


@pytest.fixture
async def app() -> AsyncIterator[SimApp]:
    sim = SimApp(Options(scenario=scenarios.load("test"), tcp=("127.0.0.1", 0),
                         control=("127.0.0.1", 0)))
    await sim.start()
    yield sim
    await sim.stop()


async def api(app: SimApp, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """Call the API from a worker thread: the handler needs this test's event loop free."""
    assert app.control is not None
    url = app.control.url + path

    def call() -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    return await asyncio.to_thread(call)


async def ok(app: SimApp, method: str, path: str, body: Any = None) -> Any:
    status, answer = await api(app, method, path, body)
    assert status == 200, answer
    return answer


async def eventually(app: SimApp, path: str, cond: Any, timeout: float = 20.0) -> Any:
    """GET `path` until `cond` holds for the answer: the simulator's tick comes when the
    (possibly busy) machine lets it, and `timeout` only guards against one that never comes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond(answer := await ok(app, "GET", path)):
        assert asyncio.get_running_loop().time() < deadline, f"{path}: not in {timeout} s: {answer}"
        await asyncio.sleep(0.05)
    return answer


async def test_state_has_everything(app: SimApp) -> None:
    state = await ok(app, "GET", "/state")
    assert state["scenario"] == "test"
    assert {"clock", "transformer", "piles", "meter", "link_faults", "stats"} <= set(state)
    assert [p["unit"] for p in state["piles"]] == [1, 2, 3]
    gun = state["piles"][2]["guns"][1]
    assert gun["id"] == "DC120-2" and "input" in gun["registers"] and "holding" in gun["registers"]
    assert state["meter"]["model"] == "ARCM300T" and state["meter"]["reachable"]
    index = await ok(app, "GET", "/")
    assert any("/state" in e for e in index["endpoints"])
    assert (await ok(app, "GET", "/devices"))[-1]["kind"] == "meter"


async def test_plug_card_start_button_unplug(app: SimApp) -> None:
    gun = await ok(app, "POST", "/piles/3/guns/2/plug",
                   {"ev": {"battery_kwh": 50, "dc_max_power_w": 50000}, "soc": 60})
    assert gun["state_name"] == "plugged" and gun["ev"]["soc"] == 60
    started = await ok(app, "POST", "/piles/3/guns/2/card")
    assert started["result"] == "accepted"
    await eventually(app, "/piles/3", lambda p: p["guns"][1]["state_name"] == "charging"
                     and p["guns"][1]["power_w"] == pytest.approx(50_000, rel=0.01))
    gun = await ok(app, "POST", "/piles/3/guns/2/button")
    assert gun["session"]["stop_reason_name"] == "local"
    gun = await ok(app, "POST", "/piles/3/guns/2/unplug")
    assert gun["state_name"] == "available"


async def test_faults_latch_and_reset(app: SimApp) -> None:
    pile = await ok(app, "POST", "/piles/1/faults", {"fault": "emergency_stop"})
    assert pile["guns"][0]["state_name"] == "faulted"
    reset = await ok(app, "POST", "/piles/1/reset", {})
    assert reset["results"] == ["faulted"]
    pile = await ok(app, "DELETE", "/piles/1/faults/emergency_stop")
    assert pile["guns"][0]["faults"] == ["emergency_stop"] and not pile["guns"][0]["fault_causes"]
    reset = await ok(app, "POST", "/piles/1/reset", {"gun": 1})
    assert reset["results"] == ["accepted"]
    assert reset["pile"]["guns"][0]["state_name"] == "available"


async def test_link_power_base_load_meter_clock(app: SimApp) -> None:
    assert (await ok(app, "POST", "/devices/10/link", {"cut": True}))["reachable"] is False
    assert (await ok(app, "POST", "/devices/10/link", {"cut": False}))["reachable"] is True
    assert (await ok(app, "POST", "/piles/2/power", {"on": False}))["reachable"] is False
    assert (await ok(app, "POST", "/piles/2/power", {"on": True}))["powered"] is True
    assert (await ok(app, "PUT", "/base-load", {"kw": 100}))["base_load_kw"] == 100
    await eventually(app, "/state", lambda s: s["transformer"]["load_pct"] > 60)
    assert (await ok(app, "PUT", "/base-load", {"kw": None}))["overridden"] is False
    meter = await ok(app, "PUT", "/meter/conditions", {"residual_current_ma": 400})
    assert meter["registers"]["residual_current"] == 400 and meter["registers"]["alarm_status"] & 1
    meter = await ok(app, "PUT", "/meter/conditions", {"clear": True})
    assert meter["registers"]["residual_current"] < 50
    clock = await ok(app, "PUT", "/clock", {"speed": 120})
    assert clock["speed"] == 120


async def test_link_faults_and_overrides(app: SimApp) -> None:
    faults = await ok(app, "PUT", "/link-faults", {"transport": "rtu", "crc_error_rate": 0.2})
    assert faults["rtu"]["all_units"]["crc_error_rate"] == 0.2
    faults = await ok(app, "PUT", "/link-faults", {"unit": 3, "delay_ms": 800})
    assert faults["tcp"]["units"]["3"]["delay_ms"] == 800
    faults = await ok(app, "DELETE", "/link-faults?transport=all")
    assert faults["rtu"]["all_units"]["crc_error_rate"] == 0 and not faults["tcp"]["units"]
    override = await ok(app, "POST", "/devices/3/overrides",
                        {"field": "voltage_l1", "gun": 1, "value": 65535, "reads": 2})
    assert override["address"] == 102 and override["registers"] == [65535]
    state = await ok(app, "GET", "/state")
    assert state["overrides"]["3"][0]["label"] == "voltage_l1 gun 1"
    assert (await ok(app, "DELETE", "/devices/3/overrides"))["overrides"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "text"),
    [
        ("GET", "/nothing", None, 404, "no endpoint /nothing"),
        ("DELETE", "/state", None, 405, "use GET"),
        ("POST", "/piles/9/guns/1/plug", {}, 404, "no pile at unit 9"),
        ("POST", "/piles/10/guns/1/plug", {}, 404, "that is the meter"),
        ("POST", "/piles/3/guns/3/plug", {}, 404, "has no gun 3"),
        ("POST", "/piles/1/guns/1/plug", {"ev": {"battery": 3}}, 400, "unknown key 'battery'"),
        ("POST", "/piles/1/guns/1/plug", {"colour": "red"}, 400, "unknown key 'colour'"),
        ("POST", "/piles/1/guns/1/unplug", None, 409, "has no EV plugged in"),
        ("POST", "/piles/1/faults", {"fault": "rain"}, 400, "unknown fault 'rain'"),
        ("POST", "/piles/1/faults", {}, 400, "missing key 'fault'"),
        ("POST", "/devices/77/link", {"cut": True}, 404, "no device at unit 77"),
        ("POST", "/devices/1/link", {"cut": "yes"}, 400, "cut must be true or false"),
        ("PUT", "/link-faults", {"transport": "usb"}, 400, "transport must be"),
        ("PUT", "/link-faults", {"garble_rate": 3}, 400, "within 0..1"),
        ("PUT", "/clock", {"speed": 0}, 400, "speed must be > 0"),
        ("PUT", "/base-load", {"kw": -5}, 400, "kw must be a number >= 0"),
        ("POST", "/devices/1/overrides", {"field": "energy_total", "value": 1}, 404,
         "a gun field needs gun"),
    ],
)
async def test_errors_are_json_with_4xx(app: SimApp, method: str, path: str, body: Any,
                                        status: int, text: str) -> None:
    got, answer = await api(app, method, path, body)
    assert got == status
    assert answer["status"] == status and text in answer["error"]


async def test_malformed_json_body(app: SimApp) -> None:
    assert app.control is not None

    def call() -> tuple[int, Any]:
        req = urllib.request.Request(app.control.url + "/clock", data=b"{speed:", method="PUT")
        try:
            urllib.request.urlopen(req, timeout=5)
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        return 200, None

    status, answer = await asyncio.to_thread(call)
    assert status == 400 and "not valid JSON" in answer["error"]
