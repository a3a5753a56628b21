"""The home page's map: the reports' stations by state (cloud/reports) with their stored
coordinates, converted for the map's tiles in one place (cloud/geo.py). Plain functions over
the station map, which is already owner-scoped."""

from __future__ import annotations

from typing import Any

from cloud.geo import to_map

# A station's colour on the map: the first of these states that any of its guns is in.
STATE_ORDER = ("offline", "faulted", "charging", "plugged", "idle", "unknown")


def status(station: dict[str, Any]) -> str:
    if not station["online"]:
        return "offline"
    guns = station["guns"]
    return next((st for st in STATE_ORDER if guns.get(st)), "unknown")


def points(station_map: dict[str, Any], datum: str) -> list[dict[str, Any]]:
    """One point per station with coordinates: where to draw it on tiles of `datum` ("" or
    None: no tiles; the stored coordinates as they are), its state and guns by state. The
    station map (cloud.reports.service.station_map) already carries the stored coordinates
    of the stations in scope: no second query."""
    out = []
    for st in station_map["stations"]:
        if st["lat"] is None or st["lng"] is None:
            continue
        lat, lng = float(st["lat"]), float(st["lng"])
        mlat, mlng = to_map(lat, lng, datum) if datum else (lat, lng)
        out.append({"sid": st["sid"], "name": st["name"] or st["sid"], "lat": round(mlat, 7),
                    "lng": round(mlng, 7), "status": status(st), "guns": st["guns"]})
    return out
