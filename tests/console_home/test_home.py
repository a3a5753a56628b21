"""The home page through Flask's test client: its figures equal the database for seeded data
(direct SQL), for all stations and under an owner's scope; the map and the chart's data."""

from __future__ import annotations

import json
import re

from flask import Flask
from sqlalchemy import func, select, text

from cloud.db import db
from cloud.drivers.models import Driver
from cloud.models import ChargingSession
from cloud.orders.models import Order
from tests.console.support import login
from tests.reports.factories import NOW, Seeded

TODAY0 = NOW - (10 * 3600 + 30 * 60) * 1000  # 2026-03-15 00:00 Shanghai
MONTH0 = TODAY0 - 14 * 86_400_000


def page_values(html: str) -> dict[str, str]:
    return dict(re.findall(r'id="fig-([a-z_]+-[a-z]+)" data-value="(-?\d+)"', html))


def expected(sids: list[str] | None) -> dict[str, int]:
    s = db.session
    out = {}
    for scope, start in (("today", TODAY0), ("month", MONTH0), ("total", 0)):
        o = [Order.settled_at >= start, Order.settled_at < NOW, Order.state == "settled"]
        c = [ChargingSession.ended_at >= start, ChargingSession.ended_at < NOW]
        if sids is not None:
            o.append(Order.sid.in_(sids))
            c.append(ChargingSession.sid.in_(sids))
        out[f"charging_fen-{scope}"] = s.scalar(select(func.coalesce(func.sum(Order.total_fen), 0)).where(*o))
        out[f"sessions-{scope}"] = s.scalar(select(func.count()).select_from(ChargingSession).where(*c))
        out[f"charging_ms-{scope}"] = s.scalar(select(func.coalesce(func.sum(
            ChargingSession.ended_at - ChargingSession.started_at), 0)).where(*c))
        if sids is None:
            out[f"new_accounts-{scope}"] = s.scalar(select(func.count()).select_from(Driver).where(
                Driver.created_at >= start, Driver.created_at < NOW))
            out[f"recharge_fen-{scope}"] = s.execute(text(
                "SELECT COALESCE(SUM(e.amount), 0) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id "
                "JOIN ledger_accounts a ON a.id = e.account_id WHERE t.kind = 'top_up' AND a.kind = 'clearing' "
                "AND t.created_at >= :a AND t.created_at < :b"), {"a": start, "b": NOW}).scalar() * -1
    return {k: int(v) for k, v in out.items()}


def test_the_figures_equal_the_database(seeded_app: tuple[Flask, Seeded]) -> None:
    app, _ = seeded_app
    c = app.test_client()
    login(c, "root")
    r = c.get("/")
    assert r.status_code == 200
    shown = page_values(r.text)
    with app.app_context():
        want = expected(None)
    assert want["charging_fen-total"] > 0 and want["sessions-today"] > 0
    for key, v in want.items():
        assert int(shown[key]) == v, key
    data = json.loads(re.search(r'id="home-data">(.*?)</script>', r.text, re.S).group(1))
    assert {p["sid"] for p in data["points"]} == {"ST000", "ST001"}  # ST002 has no coordinates
    assert sum(d["charging_fen"] for d in data["by_day"]) == want["charging_fen-month"]
    assert 'id="no-coordinates"' in r.text and 'class="map plain"' in r.text


def test_an_owner_sees_its_stations_figures_only(seeded_app: tuple[Flask, Seeded]) -> None:
    app, _ = seeded_app
    c = app.test_client()
    login(c, "own")
    r = c.get("/")
    shown = page_values(r.text)
    with app.app_context():
        want = expected(["ST000"])
    for key, v in want.items():
        assert int(shown[key]) == v, key
    assert 'id="fig-new_accounts-total" class="na"' in r.text and "recharge_fen-today" not in shown
    data = json.loads(re.search(r'id="home-data">(.*?)</script>', r.text, re.S).group(1))
    assert [p["sid"] for p in data["points"]] == ["ST000"]
    assert "ST001" not in r.text


def test_wgs84_tiles_get_converted_points(seeded_app: tuple[Flask, Seeded]) -> None:
    app, _ = seeded_app
    app.config["CONSOLE_MAP_TILES"] = "https://tile.example/{z}/{x}/{y}.png"
    try:
        c = app.test_client()
        login(c, "root")
        r = c.get("/")
    finally:
        app.config["CONSOLE_MAP_TILES"] = ""
    data = json.loads(re.search(r'id="home-data">(.*?)</script>', r.text, re.S).group(1))
    p = next(p for p in data["points"] if p["sid"] == "ST000")
    assert (p["lat"], p["lng"]) != (22.5431, 114.0579) and abs(p["lat"] - 22.5431) < 0.01
    assert 'data-tiles="https://tile.example/{z}/{x}/{y}.png"' in r.text
    assert 'data-attribution=""' in r.text  # an unknown tile host: only what the operator sets


def test_the_map_credits_its_tile_provider(seeded_app: tuple[Flask, Seeded]) -> None:
    app, _ = seeded_app
    shown = {}
    for tiles, given in (("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ""),
                         ("https://webrd01.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}", ""),
                         ("https://tile.example/{z}/{x}/{y}.png", "© 示例地图")):
        app.config.update(CONSOLE_MAP_TILES=tiles, CONSOLE_MAP_ATTRIBUTION=given)
        try:
            c = app.test_client()
            login(c, "root")
            shown[tiles.split("/")[2]] = re.search(r'data-attribution="([^"]*)"', c.get("/").text).group(1)
        finally:
            app.config.update(CONSOLE_MAP_TILES="", CONSOLE_MAP_ATTRIBUTION="")
    assert "OpenStreetMap</a> contributors" in shown["tile.openstreetmap.org"].replace("&lt;/a&gt;", "</a>")
    assert shown["webrd01.is.autonavi.com"] == "© 高德地图 AutoNavi"
    assert shown["tile.example"] == "© 示例地图"


def test_map_settings_are_checked(tmp_path) -> None:  # noqa: ANN001
    import pytest

    from cloud import create_app
    from cloud.config import ConfigError

    base = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", "CA_DIR": str(tmp_path / "ca")}
    for bad in ({"CONSOLE_MAP_DATUM": "bd09"}, {"CONSOLE_MAP_TILES": "http://tiles.example/{z}/{x}/{y}.png"},
                {"CONSOLE_MAP_TILES": "https://tiles.example/tile.png"}):
        with pytest.raises(ConfigError):
            create_app(base | bad)
    create_app(base | {"CONSOLE_MAP_TILES": "https://tiles.example/{z}/{x}/{y}.png", "CONSOLE_MAP_DATUM": "gcj02"})
