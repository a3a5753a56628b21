"""Seed data of the stations, guns and archives tests: two stations of two owners, each with
guns, telemetry, sessions today, meter minutes, an alarm, a certificate and a token; a driver
with a balance (through the ledger) and an order; and a gateway that answers commands.

The gateway answers in place of broker, gateway and ingest: it takes the published command
and stores the reply on the command's row as ingest does when the `reply` arrives."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import update

from cloud.alarms.models import Alarm
from cloud.db import db
from cloud.drivers.models import Driver
from cloud.ledger import service as ledger
from cloud.models import ChargingSession, IssuedCert, MeterMinuteRow, StationState, now_ms
from cloud.models.commands import CommandLog
from cloud.orders.models import Order
from cloud.provisioning import create_token
from cloud.stations.service import set_gun, set_station
from tests.console.support import make_operator

MIN = 60_000


def midday_zone() -> str:
    """A fixed-offset zone where it is now about noon: the seed's sessions of the last three
    hours are then "today" whenever the suite runs (in Asia/Shanghai they fall on yesterday
    between 00:00 and 03:00, 16:00-19:00 UTC)."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12  # -12..11 hours east of UTC
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"  # Etc/GMT's sign is inverted


SESS_A1 = "5e55a001-0000-4000-8000-000000000001"


def seed(app: Flask) -> dict[str, Any]:
    now = now_ms()
    with app.app_context(), db.transaction() as s:
        set_station(s, "ST-A", name="甲站", address="上海市浦东新区 1 号", lat=31.2, lng=121.5)
        set_station(s, "ST-B", name="乙站", address="杭州市西湖区 2 号", lat=30.2, lng=120.1)
        set_gun(s, "ST-A", "P1-1", code="QRA0001", rated_power_w=7000, kind="ac")
        set_gun(s, "ST-A", "P1-2", code="QRA0002", rated_power_w=7000, kind="ac")
        set_gun(s, "ST-A", "P2-1", rated_power_w=60000, kind="dc")
        set_gun(s, "ST-B", "P1-1", code="QRB0001", rated_power_w=7000, kind="ac")
        s.add(StationState(sid="ST-A", online=True, claimed_online=True, last_seen=now, telemetry_ts=now, telemetry={
            "transformer": {"level": "normal", "load_pct": 42.5},
            "guns": [{"id": "P1-1", "state": "charging", "power_w": 6900, "session_id": SESS_A1},
                     {"id": "P1-2", "state": "available"}, {"id": "P2-1", "state": "faulted"}]}))
        s.add(StationState(sid="ST-B", online=False, claimed_online=False, last_seen=now - 3600_000,
                           telemetry={"guns": [{"id": "P1-1", "state": "available"}]}))
        s.add_all([
            ChargingSession(session_id="5e55a000-0000-4000-8000-000000000000", sid="ST-A", gun="P1-1", status="ended", started_at=now - 2 * 3600_000,
                            ended_at=now - 3600_000, energy_start_wh=0, energy_stop_wh=10_000, energy_wh=10_000),
            ChargingSession(session_id=SESS_A1, sid="ST-A", gun="P1-1", status="running", started_at=now - 30 * MIN,
                            energy_start_wh=10_000, energy_wh=12_500, power_w=6900, voltage_v=229.5, current_a=30.1, soc=55),
            ChargingSession(session_id="5e55b000-0000-4000-8000-000000000000", sid="ST-B", gun="P1-1", status="ended", started_at=now - 3 * 3600_000,
                            ended_at=now - 2 * 3600_000, energy_start_wh=0, energy_stop_wh=77_000, energy_wh=77_000),
        ])
        s.add_all([MeterMinuteRow(sid="ST-A", seq=100 + i, ts=now - (10 - i) * MIN, p_avg_w=100_000 + i,
                                  p_max_w=120_000, load_pct_max=30.0 + i * 5, energy_import_wh=1000 * i)
                   for i in range(10)])
        s.add(MeterMinuteRow(sid="ST-B", seq=1, ts=now - MIN, p_avg_w=1, p_max_w=1, load_pct_max=99.0, energy_import_wh=1))
        s.add_all([Alarm(sid=sid, key=f"gun_fault:{gun}", kind="gun_fault", source="event", gun=gun, severity="major",
                         message=msg, detail={}, raised_at=now - 5 * MIN)
                   for sid, gun, msg in (("ST-A", "P2-1", "alarm-of-A"), ("ST-B", "P1-1", "alarm-of-B"))])
        for sid, serial in (("ST-A", "a1a1"), ("ST-B", "b2b2")):
            s.add(IssuedCert(serial=serial, kind="station", subject_cn=sid, fingerprint_sha256="0" * 64,
                             not_before=now - 86400_000, not_after=now + 365 * 86400_000, pem="-"))
        create_token(s, "ST-B", 3600)
        driver = Driver(appid="wxapp", openid="openid-1", nickname="司机小王", phone="13800000001")
        s.add(driver)
        s.flush()
        ledger.top_up(s, str(driver.id), 12_345, f"test-topup-{driver.id}")
        s.add(Order(order_id="ORD-A1", driver_id=str(driver.id), sid="ST-A", gun="P1-1", limit_mode="full",
                    limit_value=0, hold_fen=5000, state="charging", session_id=SESS_A1))
        driver_id = driver.id
    make_operator(app, "root", "admin")
    make_operator(app, "ops", "operator")
    make_operator(app, "fin", "finance")
    make_operator(app, "owner-a", "owner", stations=("ST-A",))
    make_operator(app, "owner-b", "owner", stations=("ST-B",))
    return {"driver_id": driver_id}


@dataclass
class Gateway:
    """Answers every command published: ok, or refused with `error` when it is set."""

    app: Flask
    error: str | None = None
    silent: bool = False
    seen: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, topic: str, payload: str, timeout: float) -> None:
        cmd = json.loads(payload)
        self.seen.append({"topic": topic, **cmd})
        if self.silent:
            return
        with self.app.app_context(), db.transaction() as s:
            s.execute(update(CommandLog).where(CommandLog.id == cmd["id"]).values(
                status="replied", ok=self.error is None, error=self.error, replied_at=now_ms(),
                detail={"applied": True} if self.error is None else None))


def gateway(app: Flask, **kw: Any) -> Gateway:
    gw = Gateway(app, **kw)
    app.extensions["jc_commands"].publish = gw
    return gw
