"""The home page's map: the reports' stations by state (cloud/reports) with their stored
coordinates, converted for the map's tiles in one place (cloud/geo.py). Plain functions on
a Session, owner-scoped by `sids`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.geo import to_map
from cloud.models import Station

# A station's colour on the map: the first of these states that any of its guns is in.
STATE_ORDER = ("offline", "faulted", "charging", "plugged", "idle", "unknown")


def coordinates(s: Session, sids: set[str] | None) -> dict[str, tuple[float, float]]:
    """sid → stored (GCJ-02) coordinates, for the stations in scope that have them."""
    q = select(Station.sid, Station.lat, Station.lng).where(Station.lat.is_not(None), Station.lng.is_not(None))
    if sids is not None:
        q = q.where(Station.sid.in_(sorted(sids)))
    return {sid: (float(lat), float(lng)) for sid, lat, lng in s.execute(q).all()}


def status(station: dict[str, Any]) -> str:
    if not station["online"]:
        return "offline"
    guns = station["guns"]
    return next((st for st in STATE_ORDER if guns.get(st)), "unknown")


def points(s: Session, station_map: dict[str, Any], sids: set[str] | None, datum: str) -> list[dict[str, Any]]:
    """One point per station with coordinates: where to draw it on tiles of `datum` (None:
    no tiles; the stored coordinates as they are), its state and guns by state."""
    where = coordinates(s, sids)
    out = []
    for st in station_map["stations"]:
        if st["sid"] not in where:
            continue
        lat, lng = where[st["sid"]]
        mlat, mlng = to_map(lat, lng, datum) if datum else (lat, lng)
        out.append({"sid": st["sid"], "name": st["name"] or st["sid"], "lat": round(mlat, 7),
                    "lng": round(mlng, 7), "status": status(st), "guns": st["guns"]})
    return out
