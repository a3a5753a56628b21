"""Stations as drivers see them: the archive (name, address, GCJ-02 coordinates, guns' QR
codes and rated power) joined with the live state (online, the latest telemetry) and the
price now and next. Plain functions over a SQLAlchemy session (no Flask request objects).

Distances are great-circle (haversine) distances computed on GCJ-02 coordinates as they are.
GCJ-02 shifts WGS-84 by a few hundred metres, smoothly over a city, so two points both in
GCJ-02 are off from their true distance by far less than a metre per kilometre: good enough
to sort stations and to say "1.2 km" (the finder never converts to WGS-84).

Telemetry is what the station's gateway last sent on `telemetry` (jcproto's telemetry schema:
`transformer.level`, `guns[].{id,state,power_w,session_id,soc}`); the status view's shape
(`load.level`, `guns[].session`, `rated_power_w`) is read too, so either serves.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import lock_stations, take_write_lock
from cloud.models import Gun, Station, StationState, now_ms
from cloud.tariffs import service as tariffs

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
LOAD_LEVELS = ("normal", "capped", "blocked", "failsafe")
LIMITING = frozenset({"capped", "blocked", "failsafe"})
FREE_STATES = frozenset({"available", "plugged"})
GUN_KINDS = ("ac", "dc")
_CODE = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


class StationArchiveError(ValueError):
    """An archive change that cannot be made; `code` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# --- telemetry ------------------------------------------------------------------------------------
def _guns_of(telemetry: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    guns = (telemetry or {}).get("guns")
    if not isinstance(guns, list):
        return {}
    return {g["id"]: g for g in guns if isinstance(g, dict) and isinstance(g.get("id"), str)}


def load_level(telemetry: dict[str, Any] | None) -> str | None:
    """The station's load level from its telemetry, or None if it has no transformer meter
    (or sent no telemetry yet)."""
    t = telemetry or {}
    for key in ("transformer", "load"):
        part = t.get(key)
        if isinstance(part, dict) and part.get("level") in LOAD_LEVELS:
            return str(part["level"])
    return None


def has_session(entry: dict[str, Any]) -> bool:
    return bool(entry.get("session_id") or entry.get("session"))


def is_free(entry: dict[str, Any] | None) -> bool:
    """A gun a driver can use now: nothing plugged or a car plugged, and no session on it."""
    return entry is not None and entry.get("state") in FREE_STATES and not has_session(entry)


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) else None


# --- archive ---------------------------------------------------------------------------------------
# SQLite's write lock before a read that leads to a write (cloud/db.py take_write_lock).
_write_lock = take_write_lock


def gun_by_code(s: Session, code: str) -> Gun | None:
    if not isinstance(code, str) or not _CODE.match(code):
        return None
    return s.scalar(select(Gun).where(Gun.code == code))


def gun_entry(telemetry: dict[str, Any] | None, gun: str) -> dict[str, Any] | None:
    """The gun's entry in a station's telemetry (as station_state keeps it), or None."""
    return _guns_of(telemetry).get(gun)


def live_gun(s: Session, sid: str, gun: str) -> dict[str, Any] | None:
    """The gun's entry in the station's latest telemetry, or None."""
    st = s.get(StationState, sid)
    return _guns_of(st.telemetry if st else None).get(gun)


def rated_power_w(s: Session, sid: str, gun: str) -> int | None:
    """The archive's rated power, else what the latest telemetry says, else None."""
    row = s.get(Gun, (sid, gun))
    if row is not None and row.rated_power_w:
        return row.rated_power_w
    entry = live_gun(s, sid, gun)
    return _int(entry.get("rated_power_w")) if entry else None


def set_station(
    s: Session,
    sid: str,
    *,
    name: str | None = None,
    lat: float | None = None,
    lng: float | None = None,
    address: str | None = None,
    city: str | None = None,
    phone: str | None = None,
    open_hours: str | None = None,
) -> Station:
    """Change the archive of `sid` (made if new); only the fields given change."""
    if (lat is None) != (lng is None):
        raise StationArchiveError("invalid_coordinates", "give lat and lng together")
    if lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise StationArchiveError(
            "invalid_coordinates", "lat in -90..90, lng in -180..180 (GCJ-02)"
        )
    _write_lock(s)
    st = s.get(Station, sid)
    if st is None:
        st = Station(sid=sid, created_at=now_ms())
        s.add(st)
    for field, value in (
        ("name", name),
        ("lat", lat),
        ("lng", lng),
        ("address", address),
        ("city", city),
        ("phone", phone),
        ("open_hours", open_hours),
    ):
        if value is not None:
            setattr(st, field, value)
    s.flush()
    return st


def set_gun(
    s: Session,
    sid: str,
    gun: str,
    *,
    code: str | None = None,
    rated_power_w: int | None = None,
    name: str | None = None,
    kind: str | None = None,
) -> Gun:
    """Change a gun's archive (made if new: gun ids are `<pile>-<n>`). The station's row is
    locked first (a new gun changes its `station_gun_counts`): the writers' one lock order,
    cloud/db.py `lock_stations`."""
    _write_lock(s)
    lock_stations(s, [sid])
    if s.get(Station, sid) is None:
        raise StationArchiveError("unknown_station", f"no station {sid!r}")
    if code is not None:
        if not _CODE.match(code):
            raise StationArchiveError("invalid_code", "code: 4-64 letters, digits, '_' or '-'")
        other = s.scalar(select(Gun).where(Gun.code == code))
        if other is not None and (other.sid, other.gun_id) != (sid, gun):
            raise StationArchiveError(
                "code_taken", f"code {code!r} is {other.sid} {other.gun_id}'s"
            )
    if rated_power_w is not None and not 0 < rated_power_w <= 10_000_000:
        raise StationArchiveError("invalid_power", "rated power in W, 1..10,000,000")
    if kind is not None and kind not in GUN_KINDS:
        raise StationArchiveError("invalid_kind", "kind is ac or dc")
    row = s.get(Gun, (sid, gun))
    if row is None:
        if "-" not in gun:
            raise StationArchiveError("invalid_gun", "gun ids are <pile>-<n>, e.g. P1-1")
        row = Gun(sid=sid, gun_id=gun, pile_id=gun.rsplit("-", 1)[0])
        s.add(row)
    for field, value in (
        ("code", code),
        ("rated_power_w", rated_power_w),
        ("name", name),
        ("kind", kind),
    ):
        if value is not None:
            setattr(row, field, value)
    s.flush()
    return row


def qr_content(code: str, public_base_url: str | None) -> str:
    """What a gun's QR code carries: the scan page's URL when the public base is known (a
    phone's camera opens it), else the bare code (the mini-program's scanner reads either)."""
    if not public_base_url:
        return code
    return f"{public_base_url.rstrip('/')}/app/scan?g={code}"


# --- views -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Live:
    station: Station
    state: StationState | None
    guns: list[Gun]


def _guns_view(live: _Live) -> list[dict[str, Any]]:
    tele = _guns_of(live.state.telemetry if live.state else None)
    archive = {g.gun_id: g for g in live.guns}
    out = []
    for gid in sorted(set(archive) | set(tele)):
        row, entry = archive.get(gid), tele.get(gid) or {}
        state = entry.get("state") or (row.state if row else None)
        out.append(
            {
                "gun": gid,
                "code": row.code if row else None,
                "name": row.name if row else None,
                "kind": row.kind if row else None,
                "state": state,
                "free": bool(live.state and live.state.online) and is_free(entry or None),
                "rated_power_w": (
                    row.rated_power_w
                    if row and row.rated_power_w
                    else _int(entry.get("rated_power_w"))
                ),
                "power_w": _int(entry.get("power_w")),
            }
        )
    return out


def _prices(s: Session, sid: str, at: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    p = tariffs.prices_at(s, sid, at)
    if p is None:
        return None, None
    return p[0].to_dict(), (p[1].to_dict() if p[1] else None)


def _summary(
    s: Session, live: _Live, at: int, origin: tuple[float, float] | None
) -> dict[str, Any]:
    st, state = live.station, live.state
    guns = _guns_view(live)
    level = load_level(state.telemetry if state else None)
    now_p, next_p = _prices(s, st.sid, at)
    distance = None
    if origin is not None and st.lat is not None and st.lng is not None:
        distance = round(haversine_m(origin[0], origin[1], st.lat, st.lng))
    powers = [g["rated_power_w"] for g in guns if g["rated_power_w"]]
    return {
        "sid": st.sid,
        "name": st.name or st.sid,
        "address": st.address,
        "city": st.city,
        "phone": st.phone,
        "open_hours": st.open_hours,
        "lat": st.lat,
        "lng": st.lng,
        "distance_m": distance,
        "online": bool(state and state.online),
        "load_level": level,
        "limiting": level in LIMITING,
        "guns_total": len(guns),
        "guns_free": sum(1 for g in guns if g["free"]),
        "max_power_w": max(powers) if powers else None,
        "price_now": now_p,
        "price_next": next_p,
    }


def _load(s: Session, stations: list[Station]) -> list[_Live]:
    sids = [st.sid for st in stations]
    if not sids:
        return []
    states = {r.sid: r for r in s.scalars(select(StationState).where(StationState.sid.in_(sids)))}
    guns: dict[str, list[Gun]] = {}
    for g in s.scalars(select(Gun).where(Gun.sid.in_(sids))):
        guns.setdefault(g.sid, []).append(g)
    return [_Live(st, states.get(st.sid), guns.get(st.sid, [])) for st in stations]


def _box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """A lat/lng box holding the circle, for the index-friendly first cut."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    c = math.cos(math.radians(lat))
    dlng = 180.0 if c < 1e-6 else min(180.0, math.degrees(radius_m / (EARTH_RADIUS_M * c)))
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


def find(
    s: Session,
    *,
    lat: float | None = None,
    lng: float | None = None,
    radius_m: int = 20_000,
    limit: int = 50,
    free_only: bool = False,
    at: int | None = None,
    exclude: frozenset[str] = frozenset(),
    only: frozenset[str] | None = None,
) -> list[dict[str, Any]]:
    """Stations near (lat, lng) within radius_m, nearest first; without a point, all stations
    by name. `free_only`: only those online with a free gun; `only`: among these sids."""
    t = now_ms() if at is None else at
    q = select(Station)
    if lat is not None and lng is not None:
        la0, la1, ln0, ln1 = _box(lat, lng, radius_m)
        q = q.where(Station.lat.is_not(None), Station.lat.between(la0, la1))
        if ln1 - ln0 < 360:
            q = q.where(Station.lng.between(ln0, ln1))
    if only is not None:
        if not only:
            return []
        q = q.where(Station.sid.in_(sorted(only)))
    rows = [st for st in s.scalars(q) if st.sid not in exclude]
    out = []
    for live in _load(s, rows):
        view = _summary(s, live, t, (lat, lng) if lat is not None and lng is not None else None)
        if view["distance_m"] is not None and view["distance_m"] > radius_m:
            continue
        if free_only and not (view["online"] and view["guns_free"]):
            continue
        out.append(view)
    if lat is not None:
        out.sort(key=lambda v: (v["distance_m"], v["sid"]))
    else:
        out.sort(key=lambda v: (v["name"], v["sid"]))
    return out[:limit]


def nearest_free(
    s: Session, sid: str, *, radius_m: int = 50_000, at: int | None = None
) -> dict[str, Any] | None:
    """The nearest other station (to `sid`) online, not blocking starts, with a free gun, or
    None (also when `sid` has no coordinates)."""
    st = s.get(Station, sid)
    if st is None or st.lat is None or st.lng is None:
        return None
    for view in find(
        s,
        lat=st.lat,
        lng=st.lng,
        radius_m=radius_m,
        limit=20,
        free_only=True,
        at=at,
        exclude=frozenset({sid}),
    ):
        if view["load_level"] not in ("blocked", "failsafe"):
            return view
    return None


def station_details(s: Session, sid: str, *, at: int | None = None) -> dict[str, Any] | None:
    st = s.get(Station, sid)
    if st is None:
        return None
    t = now_ms() if at is None else at
    [live] = _load(s, [st])
    view = _summary(s, live, t, None)
    view["guns"] = _guns_view(live)
    tariff = tariffs.in_force(s, sid, t)
    idle = tariff.to_dict().get("idle") if tariff is not None else None
    view["idle_fee"] = idle
    return view


def station_brief(s: Session, sid: str, *, at: int | None = None) -> dict[str, Any] | None:
    st = s.get(Station, sid)
    if st is None:
        return None
    [live] = _load(s, [st])
    return _summary(s, live, now_ms() if at is None else at, None)


def gun_view(s: Session, sid: str, gun: str) -> dict[str, Any] | None:
    st = s.get(Station, sid)
    if st is None:
        return None
    [live] = _load(s, [st])
    return next((g for g in _guns_view(live) if g["gun"] == gun), None)


def stations_in_box(
    s: Session, lat0: float, lat1: float, lng0: float, lng1: float
) -> list[dict[str, Any]]:
    """Every station with coordinates inside the box, with its guns as drivers see them
    (state, free, kind, rated power), online and load level: the trip planner's candidates."""
    q = select(Station).where(
        Station.lat.is_not(None), Station.lat.between(lat0, lat1), Station.lng.between(lng0, lng1)
    )
    out = []
    for live in _load(s, list(s.scalars(q))):
        st, state = live.station, live.state
        out.append(
            {
                "sid": st.sid,
                "name": st.name or st.sid,
                "lat": st.lat,
                "lng": st.lng,
                "online": bool(state and state.online),
                "load_level": load_level(state.telemetry if state else None),
                "guns": _guns_view(live),
            }
        )
    return out


# Public names for the helpers other domains read telemetry and areas with (cloud/recommend).
bounding_box = _box
guns_in = _guns_of
int_or_none = _int
