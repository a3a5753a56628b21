"""The swap routes of the driver API, every answer checked against
docs/api/cloud.openapi.yaml: swap stations near a point, one with packs ready now and
predicted and its slots, booking a slot with the fee held, the refusals, follow and cancel
(another driver's booking answers as a missing one)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask

from cloud.models import now_ms
from cloud.reservations import service as reservations
from tests.charging.support import balances, new_driver, seed, top_up
from tests.charging.test_openapi_walk import Walk
from tests.docs.openapi_support import load_spec, operations
from tests.drivers_api.support import BASE
from tests.swap.support import FIXED, MIN, seed_swap

SPEC = load_spec("cloud")
HERE = Path(__file__).resolve().relative_to(Path(__file__).resolve().parents[2]).as_posix()
MINE = {(p, m) for p, m in operations(SPEC) if SPEC["paths"][p][m].get("x-walked-in", "") == HERE}
URL = f"{BASE}/swap-bookings"


def test_every_swap_operation_as_documented(app: Flask, wechat) -> None:  # type: ignore[no-untyped-def]
    x = Walk(app.test_client())
    t = now_ms()
    seed(app, lambda s: seed_swap(s, "SW1", bays=1, packs={"NIO-75": [("ready", None), ("charging", t + 35 * MIN)]},
                                  lat=31.23, lng=121.47))
    seed(app, lambda s: seed_swap(s, "SW2", bays=1, packs={}, lat=31.50, lng=121.47, rule={**FIXED, "enabled": False}))
    h, did = new_driver(x.client, wechat, "swapper")
    h2, did2 = new_driver(x.client, wechat, "other")
    walked = set()

    def go(method: str, path: str, expect: int, code: str | None = None, **kw):  # type: ignore[no-untyped-def]
        bare = path.split("?")[0]
        exact = [p for p, _ in MINE if p == bare]
        walked.update((p, method.lower()) for p in exact or [p for p, _ in MINE
                                                            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", p), bare)])
        return x(method, path, expect, code, **kw)

    near = go("GET", f"{BASE}/swap-stations?lat=31.23&lng=121.47&radius_m=5000", 200, headers=h)
    assert [v["sid"] for v in near["stations"]] == ["SW1"]  # SW2 is 30 km away
    assert [v["sid"] for v in x("GET", f"{BASE}/swap-stations", 200, headers=h)["stations"]] == ["SW1", "SW2"]
    x("GET", f"{BASE}/swap-stations?lat=31", 400, "invalid_request", headers=h)
    detail = go("GET", f"{BASE}/swap-stations/SW1", 200, headers=h)
    [t75] = detail["pack_types"]
    assert (t75["ready"], t75["charging"]) == (1, 1) and t75["predicted"][1]["ready"] == 2
    x("GET", f"{BASE}/swap-stations/NOPE", 404, "not_found", headers=h)
    # the charging-station finder lists a swap station marked as one, with its bays and packs
    finder = {v["sid"]: v for v in x("GET", f"{BASE}/stations?lat=31.23&lng=121.47", 200, headers=h)["stations"]}
    assert (finder["SW1"]["kind"], finder["SW1"]["swap"]) == ("swap", {"bays_free": 1, "bays_total": 1,
                                                                      "packs_ready": 1})
    assert x("GET", f"{BASE}/swap-stations/SW2", 200, headers=h)["slots"] == []

    slot = detail["slots"][1]["start"]
    body = {"sid": "SW1", "type_code": "NIO-75", "slot_start": slot}
    go("POST", URL, 402, "insufficient_balance", json=body, headers=h)
    top_up(app, did, 1000)
    top_up(app, did2, 1000)
    x("POST", URL, 400, "invalid_request", json={**body, "x": 1}, headers=h)
    x("POST", URL, 400, "slot_unavailable", json={**body, "slot_start": slot + 1}, headers=h)
    x("POST", URL, 409, "reservation_disabled", json={**body, "sid": "SW2"}, headers=h)
    x("POST", URL, 404, "not_found", json={**body, "sid": "NOPE"}, headers=h)
    x("POST", URL, 401, "unauthorized", json=body)
    b = go("POST", URL, 201, json=body, headers=h)
    assert (b["state"], b["fee_fen"], b["fee_state"]) == ("booked", 300, "held")
    assert detail["slots"][1]["fee_fen"] == b["fee_fen"]  # the fee the station page showed
    assert balances(app, did).held == 300
    x("POST", URL, 409, "reservation_exists", json=body, headers=h)
    x("POST", URL, 409, "slot_full", json=body, headers=h2)
    if detail["slots"][2]["start"] < t + 35 * MIN:  # the only ready pack is promised until one more is ready
        x("POST", URL, 409, "no_pack", json={**body, "slot_start": detail["slots"][2]["start"]}, headers=h2)

    assert go("GET", f"{URL}/current", 200, headers=h)["booking_id"] == b["booking_id"]
    go("GET", f"{URL}/current", 404, "not_found", headers=h2)
    assert go("GET", f"{URL}/{b['booking_id']}", 200, headers=h)["state"] == "booked"
    x("GET", f"{URL}/{b['booking_id']}", 404, "not_found", headers=h2)
    x("POST", f"{URL}/{b['booking_id']}/cancel", 404, "not_found", headers=h2)
    c = go("POST", f"{URL}/{b['booking_id']}/cancel", 200, headers=h)
    assert (c["state"], c["fee_state"]) == ("cancelled", "refunded")
    assert balances(app, did) == balances(app, did).__class__(cash=1000, bonus=0, held=0, debt=0)
    go("POST", f"{URL}/{b['booking_id']}/cancel", 409, "reservation_not_active", headers=h)
    listed = go("GET", f"{URL}?limit=5", 200, headers=h)["bookings"]
    assert [v["booking_id"] for v in listed] == [b["booking_id"]]
    x("GET", f"{URL}?limit=0", 400, "invalid_request", headers=h)
    # English answers for the new codes
    seed(app, lambda s: reservations.set_rule(s, "SW1", {**FIXED, "enabled": True}, actor="t"))
    en = x.client.post(URL, json={**body, "slot_start": slot + 1}, headers={**h, "Accept-Language": "en"})
    assert en.json["error"]["message"] == "That slot cannot be booked (past, or not a slot start)."
    assert len(MINE) == 7 and MINE <= walked, MINE - walked
