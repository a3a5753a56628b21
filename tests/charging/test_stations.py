"""The station finder and archive: distances on GCJ-02, order, filters, prices now and next,
guns by QR code; through the service (SQLite and PostgreSQL) and over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from cloud.charging.service import energy_for_fen
from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.stations import service as stations
from jcproto.tariff import fen_e4
from tests.charging.support import ORIGIN, seed, seed_station, set_gun_state
from tests.drivers_api.support import BASE, error_code

LAT, LNG = ORIGIN


def _city(s) -> None:  # type: ignore[no-untyped-def]
    # ~1.1 km north, ~2.2 km north, ~950 m east, ~30 km away, one without a free gun, one offline
    seed_station(s, "NEAR", LAT + 0.01, LNG, guns={"P1-1": "plugged", "P1-2": "charging"})
    seed_station(s, "MID", LAT + 0.02, LNG, guns={"P1-1": "available"}, level="capped")
    seed_station(s, "EAST", LAT, LNG + 0.01, guns={"P1-1": "charging"})
    seed_station(s, "FAR", LAT + 0.27, LNG, guns={"P1-1": "available"})
    seed_station(s, "DOWN", LAT - 0.005, LNG, guns={"P1-1": "available"}, online=False)


def test_haversine_matches_known_distances() -> None:
    # one degree of latitude ~ 111.2 km; Shanghai to Beijing ~ 1,068 km great circle
    assert abs(stations.haversine_m(30, 120, 31, 120) - 111_195) < 10
    assert abs(stations.haversine_m(31.2304, 121.4737, 39.9042, 116.4074) - 1_067_000) < 5_000
    assert stations.haversine_m(LAT, LNG, LAT, LNG) == 0


def test_finder_distance_order_filters_prices(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        _city(s)
        near = stations.find(s, lat=LAT, lng=LNG, radius_m=20_000)
        assert [v["sid"] for v in near] == ["DOWN", "EAST", "NEAR", "MID"]
        assert [v["distance_m"] for v in near] == sorted(v["distance_m"] for v in near)
        assert 1_100 <= near[2]["distance_m"] <= 1_125  # 0.01 deg of latitude
        by = {v["sid"]: v for v in near}
        assert by["NEAR"]["guns_total"] == 2 and by["NEAR"]["guns_free"] == 1
        assert by["EAST"]["guns_free"] == 0 and by["DOWN"]["guns_free"] == 0 and not by["DOWN"]["online"]
        assert by["MID"]["load_level"] == "capped" and by["MID"]["limiting"] is True
        assert by["NEAR"]["load_level"] == "normal" and by["NEAR"]["limiting"] is False
        assert by["NEAR"]["max_power_w"] == 60_000
        p = by["NEAR"]["price_now"]
        assert p["tariff_id"] == "std-v1" and p["period"] in ("valley", "peak")
        assert p["price_e4"] == p["energy_price_e4"] + p["service_price_e4"]
        nxt = by["NEAR"]["price_next"]
        assert nxt is not None and nxt["from"] == p["until"] and nxt["period"] != p["period"]
        free = stations.find(s, lat=LAT, lng=LNG, radius_m=20_000, free_only=True)
        assert [v["sid"] for v in free] == ["NEAR", "MID"]
        assert [v["sid"] for v in stations.find(s, lat=LAT, lng=LNG, radius_m=1_000)] == ["DOWN", "EAST"]
        assert [v["sid"] for v in stations.find(s, lat=LAT, lng=LNG, radius_m=100_000, limit=2)] == ["DOWN", "EAST"]
        assert "FAR" in [v["sid"] for v in stations.find(s, lat=LAT, lng=LNG, radius_m=100_000)]
        everything = stations.find(s)
        assert [v["name"] for v in everything] == sorted(v["name"] for v in everything) and len(everything) == 5
        assert all(v["distance_m"] is None for v in everything)
        # the nearest other station a driver can use now: MID is capped (still starts), NEAR has a free gun
        assert stations.nearest_free(s, "EAST")["sid"] == "NEAR"  # type: ignore[index]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_station_without_tariff_or_telemetry(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        seed_station(s, "BARE", LAT, LNG, tariff=False, state_row=False)
        [v] = stations.find(s, lat=LAT, lng=LNG)
        assert v["price_now"] is None and v["price_next"] is None and v["online"] is False
        assert v["load_level"] is None and v["limiting"] is False and v["guns_free"] == 0


def test_gun_lookup_rated_power_and_live_entry(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        seed_station(s, "S1", LAT, LNG)
        g = stations.gun_by_code(s, "S1-P1-1")
        assert g is not None and (g.sid, g.gun_id, g.kind) == ("S1", "P1-1", "dc")
        assert stations.gun_by_code(s, "nope-nope") is None
        assert stations.gun_by_code(s, "x' OR 1=1 --") is None
        assert stations.rated_power_w(s, "S1", "P1-1") == 60_000
        assert stations.live_gun(s, "S1", "P1-1")["state"] == "plugged"  # type: ignore[index]
        assert stations.live_gun(s, "S1", "P9-9") is None
        # no archive value: the telemetry's (status view shape) serves
        stations.set_gun(s, "S1", "P2-1")
        assert stations.rated_power_w(s, "S1", "P2-1") is None
        with pytest.raises(stations.StationArchiveError) as e:
            stations.set_gun(s, "S1", "P2-1", code="S1-P1-1")
        assert e.value.code == "code_taken"
        with pytest.raises(stations.StationArchiveError):
            stations.set_station(s, "S1", lat=91.0, lng=0.0)


def test_http_stations_and_gun(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    from tests.charging.support import new_driver, top_up

    seed(app, _city)
    h, did = new_driver(client, wechat, "alice")
    top_up(app, did, 5000)
    r = client.get(f"{BASE}/stations?lat={LAT}&lng={LNG}&free=1", headers=h)
    assert r.status_code == 200 and [v["sid"] for v in r.json["stations"]] == ["NEAR", "MID"]
    r = client.get(f"{BASE}/stations", headers=h)
    assert len(r.json["stations"]) == 5
    r = client.get(f"{BASE}/stations/NEAR", headers=h)
    assert r.status_code == 200
    guns = {g["gun"]: g for g in r.json["guns"]}
    assert guns["P1-1"]["code"] == "NEAR-P1-1" and guns["P1-1"]["state"] == "plugged"
    assert guns["P1-2"]["state"] == "charging" and r.json["idle_fee"]["fen_per_step"] == 50
    assert error_code(client.get(f"{BASE}/stations/NOPE", headers=h)) == "not_found"
    r = client.get(f"{BASE}/guns/NEAR-P1-1", headers=h)
    assert r.status_code == 200, r.json
    body = r.json
    assert body["station"]["sid"] == "NEAR" and body["gun"]["gun"] == "P1-1"
    assert body["wallet"] == {"balance_fen": 5000, "debt_fen": 0}
    assert body["presets_fen"] == [3000, 5000, 10000] and body["payment_password_set"] is False
    assert body["payment_password_required_above_fen"] is None
    # 50 CNY at 0.6 or 1.2 CNY/kWh, billed as the bill bills it (each line rounded half up):
    # the most Wh whose bill is within the balance, as a start by amount would deliver
    p = body["price_now"]
    wh = body["energy_wh_for_balance"]
    bill = [fen_e4(w, p["energy_price_e4"]) + fen_e4(w, p["service_price_e4"]) for w in (wh, wh + 1)]
    assert bill[0] <= 5000 < bill[1], (wh, bill)
    assert error_code(client.get(f"{BASE}/guns/NOPE-1", headers=h)) == "gun_not_found"
    assert client.get(f"{BASE}/stations").status_code == 401
    with app.app_context(), db.transaction() as s:
        set_gun_state(s, "NEAR", "P1-1", "charging", session_id="0f8b3c2e-1111-4222-8333-444455556666")
    r = client.get(f"{BASE}/stations?lat={LAT}&lng={LNG}&free=1", headers=h)
    assert [v["sid"] for v in r.json["stations"]] == ["MID"]


HOSTILE_QUERIES = [
    "lat=31.2", "lat=x&lng=1", "lat=91&lng=1", "lat=nan&lng=1", "lat=inf&lng=1", "lat=1&lng=181",
    "radius_m=0", "radius_m=100001", "radius_m=-5", "radius_m=1e3", "limit=0", "limit=101",
    "limit=99999999999999999999", "free=yes", "page=2", "lat=1&lat=2&lng=3",
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the PostgreSQL paths are the same: time
def test_hostile_station_queries(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    from tests.charging.support import new_driver

    h, _ = new_driver(client, wechat, "mallory")
    for qs in HOSTILE_QUERIES:
        r = client.get(f"{BASE}/stations?{qs}", headers=h)
        assert r.status_code == 400 and error_code(r) == "invalid_request", (qs, r.json)
    for path in ("/stations/" + "x" * 300, "/guns/" + "%00" * 10, "/guns/" + "y" * 5000):
        r = client.get(BASE + path, headers=h)
        assert r.status_code == 404, (path, r.status_code)


def test_cli_station_set_gun_set_and_qr(app: Flask, tmp_path: Path) -> None:
    import segno  # noqa: F401  (the cloud extra installs it)

    runner = app.test_cli_runner()
    r = runner.invoke(args=["station", "set", "S7", "--name", "人民广场站", "--lat", "31.2304", "--lng",
                            "121.4737", "--address", "黄浦区人民大道 1 号"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["gun", "set", "S7", "P1-1", "--code", "JC0007A", "--rated-power-w", "120000",
                            "--name", "1 号枪", "--kind", "dc"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["gun", "set", "S7", "P1-2", "--code", "JC0007A"])
    assert r.exit_code != 0 and "JC0007A" in r.output
    out = tmp_path / "qr"
    r = runner.invoke(args=["station", "qr", "S7", "--out", str(out), "--base-url", "https://jc.example.cn"])
    assert r.exit_code == 0, r.output
    png = out / "S7_P1-1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "https://jc.example.cn/app/scan?g=JC0007A" in r.output
    r = runner.invoke(args=["station", "qr", "S7", "--out", str(out), "--format", "svg"])
    assert r.exit_code == 0 and (out / "S7_P1-1.svg").read_text().lstrip().startswith("<?xml")
    assert "\tJC0007A" in r.output  # no public base: the bare code
    assert runner.invoke(args=["station", "qr", "NONE", "--out", str(out)]).exit_code != 0
    with app.app_context():
        st = stations.station_details(db.session, "S7")
        assert st is not None and st["name"] == "人民广场站" and st["lat"] == 31.2304
        assert st["guns"][0]["rated_power_w"] == 120_000


@given(fen=st.integers(0, 500_000), energy=st.integers(0, 50_000), service=st.integers(0, 50_000))
def test_energy_for_fen_is_the_most_the_bill_allows(fen: int, energy: int, service: int) -> None:
    """What a balance buys at a price: the last whole Wh whose bill (electricity and service
    each rounded half up, as jcproto bills) is within it; one Wh more is beyond it."""
    wh = energy_for_fen(fen, energy, service)
    if energy + service == 0:
        assert wh is None  # a free period: no limit from the money
        return
    assert wh is not None and wh >= 0
    assert fen_e4(wh, energy) + fen_e4(wh, service) <= fen < fen_e4(wh + 1, energy) + fen_e4(wh + 1, service)


def test_energy_for_one_fen_at_half_a_fen_per_line() -> None:
    # 0.5 + 0.5 CNY/kWh: 10 Wh (what fen × 100,000 ÷ price_e4 said) bills 1 + 1 fen, halves
    # rounded up, beyond 1 fen; 9 Wh bills 0 + 0
    assert energy_for_fen(1, 5000, 5000) == 9
