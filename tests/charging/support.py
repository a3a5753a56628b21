"""Helpers of the charging tests: stations with an archive, live state and a tariff, drivers
with money, telemetry as a gateway sends it."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import db
from cloud.fakes.server import FakeServer
from cloud.ledger import service as ledger
from cloud.models import StationState, now_ms
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from cloud.tariffs.models import TariffVersion
from tests.drivers_api.support import BASE, auth, login

# Two periods: valley 0.6000 CNY/kWh (0.4 + 0.2), peak 1.2000 (0.9 + 0.3).
TARIFF = {"currency": "CNY", "periods": [
    {"start": "00:00", "end": "12:00", "name": "valley", "energy_price_e4": 4000, "service_price_e4": 2000},
    {"start": "12:00", "end": "24:00", "name": "peak", "energy_price_e4": 9000, "service_price_e4": 3000}],
    "idle": {"grace_min": 15, "step_min": 10, "fen_per_step": 50, "cap_fen": 3000}}  # fmt: skip

# Shanghai People's Square and points around it (GCJ-02).
ORIGIN = (31.2304, 121.4737)


def gun_entry(gun: str, state: str = "plugged", *, session_id: str | None = None, power_w: int = 0,
              soc: int | None = None) -> dict[str, Any]:
    return {"id": gun, "state": state, "power_w": power_w, "limit_w": None, "energy_wh": 1000,
            "session_id": session_id, "soc": soc}


def telemetry(guns: list[dict[str, Any]], level: str | None = "normal") -> dict[str, Any]:
    transformer = None if level is None else {"load_pct": 40.0, "s_total_va": 200_000, "p_total_w": 180_000,
                                              "level": level}
    return {"v": 1, "ts": now_ms(), "transformer": transformer, "guns": guns}


def tariff_id(s: Session) -> str:
    row = s.scalar(select(TariffVersion).where(TariffVersion.code == "std"))
    return row.tariff_id if row else tariffs.create(s, TARIFF, code="std", name="标准").tariff_id


def seed_station(s: Session, sid: str, lat: float, lng: float, *, name: str | None = None,
                 guns: dict[str, str] | None = None, online: bool = True, level: str | None = "normal",
                 tariff: bool = True, rated_power_w: int = 60_000, state_row: bool = True) -> None:
    """A station with its archive, guns coded `<sid>-<gun>`, live state and telemetry."""
    guns = {"P1-1": "plugged", "P1-2": "available"} if guns is None else guns
    stations.set_station(s, sid, name=name or f"站{sid}", lat=lat, lng=lng, address=f"{sid} 路 1 号")
    for gun in guns:
        stations.set_gun(s, sid, gun, code=f"{sid}-{gun}".replace(".", "_"), rated_power_w=rated_power_w,
                         name=f"{gun} 号枪", kind="dc")
    if state_row:
        st = s.get(StationState, sid) or StationState(sid=sid)
        st.online, st.claimed_online = online, online
        st.telemetry = telemetry([gun_entry(g, state) for g, state in guns.items()], level)
        st.telemetry_ts = now_ms()
        s.add(st)
    if tariff:
        tariffs.assign(s, sid, tariff_id(s), effective_from=0, backdate=True)
    s.flush()


def set_gun_state(s: Session, sid: str, gun: str, state: str, **kw: Any) -> None:
    st = s.get(StationState, sid)
    assert st is not None and st.telemetry is not None
    tel = json.loads(json.dumps(st.telemetry))
    tel["guns"] = [gun_entry(gun, state, **kw) if g["id"] == gun else g for g in tel["guns"]]
    st.telemetry = tel
    s.flush()


def new_driver(client: FlaskClient, wechat: FakeServer, user: str) -> tuple[dict[str, str], int]:
    resp = login(client, wechat, user)
    assert resp.status_code in (200, 201), resp.get_data(as_text=True)
    return auth(resp.json["token"]), int(resp.json["driver"]["id"])  # type: ignore[index]


def top_up(app: Flask, driver_id: int, fen: int, key: str | None = None) -> None:
    with app.app_context(), db.transaction() as s:
        ledger.top_up(s, str(driver_id), fen, key or f"test-top-up:{driver_id}:{fen}:{now_ms()}")


def balances(app: Flask, driver_id: int) -> ledger.Balances:
    with app.app_context(), db.transaction() as s:
        return ledger.balances(s, str(driver_id))


def seed(app: Flask, fn: Any, *args: Any, **kw: Any) -> Any:
    with app.app_context(), db.transaction() as s:
        return fn(s, *args, **kw)


ORDERS = f"{BASE}/orders"
