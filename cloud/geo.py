"""GCJ-02 ⇄ WGS-84, the one place the cloud converts coordinates (pure, no I/O).

Stations' coordinates are stored as operators enter them: GCJ-02, the datum Chinese map
providers (WeChat, AMap, Tencent) use. A map whose tiles are WGS-84 (OpenStreetMap and the
like) needs them converted; a GCJ-02 tile source takes them as they are. The forward
transform is the published one (Krasovsky 1940 ellipsoid); the inverse has no closed form
and is solved by fixed-point iteration to well under a centimetre. Outside mainland China
(the published bounding box) GCJ-02 equals WGS-84.
"""

from __future__ import annotations

import math

_A = 6378245.0  # Krasovsky 1940 semi-major axis
_EE = 0.00669342162296594323  # its first eccentricity squared


def outside_china(lat: float, lng: float) -> bool:
    return not (73.66 < lng < 135.05 and 3.86 < lat < 53.55)


def _dlat(x: float, y: float) -> float:
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _dlng(x: float, y: float) -> float:
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def _offset(lat: float, lng: float) -> tuple[float, float]:
    dlat = _dlat(lng - 105.0, lat - 35.0)
    dlng = _dlng(lng - 105.0, lat - 35.0)
    rad = lat / 180.0 * math.pi
    magic = 1 - _EE * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sq) * math.pi)
    dlng = (dlng * 180.0) / (_A / sq * math.cos(rad) * math.pi)
    return dlat, dlng


def wgs84_to_gcj02(lat: float, lng: float) -> tuple[float, float]:
    if outside_china(lat, lng):
        return lat, lng
    dlat, dlng = _offset(lat, lng)
    return lat + dlat, lng + dlng


def gcj02_to_wgs84(lat: float, lng: float) -> tuple[float, float]:
    """The WGS-84 point whose GCJ-02 is (lat, lng), by iteration (converges in a few steps)."""
    if outside_china(lat, lng):
        return lat, lng
    wlat, wlng = lat, lng
    for _ in range(30):
        glat, glng = wgs84_to_gcj02(wlat, wlng)
        elat, elng = glat - lat, glng - lng
        wlat, wlng = wlat - elat, wlng - elng
        if abs(elat) < 1e-10 and abs(elng) < 1e-10:
            break
    return wlat, wlng


def to_map(lat: float, lng: float, datum: str) -> tuple[float, float]:
    """Stored (GCJ-02) coordinates for a map drawn in `datum` ("wgs84" or "gcj02")."""
    return gcj02_to_wgs84(lat, lng) if datum == "wgs84" else (lat, lng)
