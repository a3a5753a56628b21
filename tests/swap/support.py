"""Helpers of the swap tests: a swap station with bays, pack types and packs, its rules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.reservations import service as reservations
from cloud.stations import service as stations
from cloud.swap import service
from cloud.tariffs import service as tariffs
from tests.reservations.support import MIN, T0, TARIFF

__all__ = ["MIN", "T0", "SLOT", "seed_swap", "top_up"]
SLOT = 10 * MIN
FIXED = {"enabled": True, "max_minutes": 60, "fee_mode": "fixed", "fee_fen": 300}


def seed_swap(s: Session, sid: str = "SW1", *, bays: int = 2, packs: dict[str, list[tuple[str, int | None]]] | None = None,
              rule: dict[str, Any] | None = None, lat: float = 31.23, lng: float = 121.47) -> None:
    """A swap station: `bays` free bays; `packs` per type: (state, ready_at) each."""
    stations.set_station(s, sid, name=f"换电站{sid}", lat=lat, lng=lng)
    t = tariffs.create(s, TARIFF, code=f"t{sid}".replace("-", "")[:40])
    tariffs.assign(s, sid, t.tariff_id, effective_from=0, backdate=True)
    service.set_swap_station(s, sid, slot_minutes=10, actor="test")
    for i in range(bays):
        service.set_bay(s, sid, f"B{i + 1}", "free", actor="test")
    for code, kwh in (("NIO-75", 75), ("NIO-100", 100)):
        service.set_pack_type(s, code, name=f"{kwh} kWh", kwh=kwh, charge_minutes=45, actor="test")
    packs = {"NIO-75": [("ready", None), ("charging", T0 + 25 * MIN)]} if packs is None else packs
    for code, rows in packs.items():
        for i, (state, ready_at) in enumerate(rows):
            service.set_pack(s, sid, f"{sid}-{code}-{i}", type_code=code, state=state, ready_at=ready_at,
                             soc_pct=100 if state == "ready" else 40, actor="test")
    reservations.set_rule(s, sid, FIXED if rule is None else rule, actor="test")


def top_up(s: Session, driver: str, fen: int) -> None:
    ledger.top_up(s, driver, fen, f"test:{driver}:{fen}")
