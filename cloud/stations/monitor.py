"""Stations and guns as the operator console monitors them: gun counts by state, a day's
sessions, kWh and hours, the transformer load curve from the meter minutes, a gun's live
readings and running order, and the station archive's console fields. Plain functions over
a SQLAlchemy session (no Flask request objects).

Every function takes `sids`, the owner scope (cloud/operators `visible_sids`: None = every
station): a station outside it is answered as if it did not exist, so no query leaks another
owner's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.models import ChargingSession, Gun, MeterMinuteRow, Pile, Station, StationState
from cloud.orders.models import Order
from cloud.stations.service import (
    StationArchiveError,
    _guns_of,
    has_session,
    load_level,
    set_gun,
    set_station,
)

COUNTED = ("charging", "idle", "plugged", "faulted", "offline")
CAP_PCT, BLOCK_PCT = 50.0, 80.0  # the load chart's two lines: where the default policy caps, blocks
MAX_PER_PAGE = 200
PROFILE_MAX = 32


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paging(page: Any, per_page: Any = 50) -> tuple[int, int]:
    try:
        return max(1, int(page)), min(MAX_PER_PAGE, max(1, int(per_page)))
    except (TypeError, ValueError):
        return 1, 50


def visible(sid: str, sids: set[str] | None) -> bool:
    return sids is None or sid in sids


def _scoped(stmt: Any, column: Any, sids: set[str] | None) -> Any:
    return stmt if sids is None else stmt.where(column.in_(sorted(sids)))


# --- gun states -----------------------------------------------------------------------------------
def gun_bucket(entry: dict[str, Any] | None, online: bool) -> str:
    """One of COUNTED for a gun's telemetry entry: an offline station's guns are all offline."""
    if not online or entry is None:
        return "offline"
    state = entry.get("state")
    if has_session(entry):
        return "charging"
    return "offline" if state is None else state_bucket(state)


def state_bucket(state: str) -> str:
    """One of COUNTED (or `unknown`) for a gun state as the gateway reports it."""
    if state in COUNTED or state == "unknown":  # unknown: station_gun_counts' gun with no state yet
        return state
    if state in ("faulted", "fault"):
        return "faulted"
    if state == "available":
        return "idle"
    if state == "unavailable":
        return "offline"
    return "plugged"  # plugged, finishing, suspended: a car is at the gun, not charging


def _gun_ids(s: Session, sid: str, telemetry: dict[str, Any] | None) -> list[str]:
    archive = set(s.scalars(select(Gun.gun_id).where(Gun.sid == sid)))
    return sorted(archive | set(_guns_of(telemetry)))


def counts(s: Session, sid: str, state: StationState | None) -> dict[str, int]:
    tele = state.telemetry if state else None
    entries = _guns_of(tele)
    online = bool(state and state.online)
    out = dict.fromkeys(COUNTED, 0)
    ids = _gun_ids(s, sid, tele)
    for gid in ids:
        out[gun_bucket(entries.get(gid), online)] += 1
    out["total"] = len(ids)
    return out


# --- sessions ---------------------------------------------------------------------------------------
def _energy_wh(row: ChargingSession) -> int:
    end = row.energy_stop_wh if row.energy_stop_wh is not None else row.energy_wh
    if end is None or row.energy_start_wh is None:
        return 0
    return max(0, end - row.energy_start_wh)


def session_totals(
    s: Session, sid: str, *, gun: str | None = None, since: int | None = None, now: int
) -> dict[str, Any]:
    """Sessions started at `sid` (on `gun`) since `since` (None: ever): count, kWh, hours."""
    q = select(ChargingSession).where(ChargingSession.sid == sid)
    if gun is not None:
        q = q.where(ChargingSession.gun == gun)
    if since is not None:
        q = q.where(ChargingSession.started_at >= since)
    n, wh, ms = 0, 0, 0
    for row in s.scalars(q.execution_options(yield_per=500)):
        n += 1
        wh += _energy_wh(row)
        if row.started_at is not None:
            ms += max(0, (row.ended_at or now) - row.started_at)
    return {"sessions": n, "kwh": round(wh / 1000, 3), "hours": round(ms / 3_600_000, 2)}


ORDERLY_STATUSES = ("on_track", "cannot_meet", "done", "past_departure")


def orderly_view(row: ChargingSession) -> dict[str, Any] | None:
    """An orderly session's plan as the gateway last reported it in its records (stored by
    ingest in `sessions.orderly`): departure, energy wanted, delivered so far (the session's
    energy at its latest record), expected by the departure, finish, status, what the car
    takes as the station learned it (None while not known, and from records before the
    field). None for a session that is not orderly."""
    raw = row.orderly
    if not isinstance(raw, dict) or raw.get("status") not in ORDERLY_STATUSES:
        return None

    def whole(key: str) -> int | None:
        v = raw.get(key)
        return v if isinstance(v, int) and not isinstance(v, bool) else None

    return {
        "status": raw["status"],
        "departure_at": whole("departure_at"),
        "energy_wh": whole("energy_wh"),
        "delivered_wh": _energy_wh(row),
        "expected_wh": whole("expected_wh"),
        "finish_at": whole("finish_at"),
        "acceptance_w": whole("acceptance_w"),
    }


def running_sessions(s: Session, sid: str, *, now: int | None = None) -> list[dict[str, Any]]:
    """The sessions running at `sid` by gun, each with its energy, power and cost so far (the
    gateway's figures in its latest record), the time since it started (to `now`; None
    without `now` or a start) and, when orderly, its plan (orderly_view)."""
    rows = s.scalars(
        select(ChargingSession)
        .where(ChargingSession.sid == sid, ChargingSession.status == "running")
        .order_by(ChargingSession.gun, ChargingSession.started_at)
    )
    return [
        {
            "gun": r.gun,
            "session_id": r.session_id,
            "order_id": r.order_id,
            "started_at": r.started_at,
            "delivered_wh": _energy_wh(r),
            "power_w": r.power_w,
            "cost_fen": r.cost_fen,
            "elapsed_s": None
            if now is None or r.started_at is None
            else max(0, (now - r.started_at) // 1000),
            "orderly": orderly_view(r),
        }
        for r in rows
    ]


# --- stations ---------------------------------------------------------------------------------------
def list_stations(s: Session, *, sids: set[str] | None, page: Any = 1, per_page: Any = 50) -> Page:
    """Stations by id with their online flag, load level and gun counts."""
    page, per_page = paging(page, per_page)
    total = s.scalar(_scoped(select(func.count()).select_from(Station), Station.sid, sids)) or 0
    rows = s.execute(
        _scoped(
            select(Station, StationState).outerjoin(StationState, StationState.sid == Station.sid),
            Station.sid,
            sids,
        )
        .order_by(Station.sid)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    items = [
        {
            "sid": st.sid,
            "name": st.name or st.sid,
            "address": st.address,
            "online": bool(state and state.online),
            "load_level": load_level(state.telemetry if state else None),
            "counts": counts(s, st.sid, state),
        }
        for st, state in rows
    ]
    return Page(items, int(total), page, per_page)


def station_monitor(
    s: Session, sid: str, *, sids: set[str] | None, day_start: int, now: int
) -> dict[str, Any] | None:
    """The station page's figures, or None when `sid` is unknown or out of scope. The page's
    live part (gun counts, today, load level, guns, running sessions) is these figures again,
    polled (cloud/web/pages/stations.py `live`)."""
    if not visible(sid, sids):
        return None
    st = s.get(Station, sid)
    if st is None:
        return None
    state = s.get(StationState, sid)
    tele = state.telemetry if state else None
    transformer = (
        (tele or {}).get("transformer")
        if isinstance((tele or {}).get("transformer"), dict)
        else None
    )
    entries = _guns_of(tele)
    online = bool(state and state.online)
    guns = [
        {
            "gun": gid,
            "state": (entries.get(gid) or {}).get("state"),
            "bucket": gun_bucket(entries.get(gid), online),
            "power_w": (entries.get(gid) or {}).get("power_w"),
        }
        for gid in _gun_ids(s, sid, tele)
    ]
    return {
        "sid": sid,
        "name": st.name or sid,
        "address": st.address,
        "transformer_kva": st.transformer_kva,
        "online": online,
        "last_seen": state.last_seen if state else None,
        "load_level": load_level(tele),
        "load_pct": (transformer or {}).get("load_pct"),
        "counts": counts(s, sid, state),
        "guns": guns,
        "today": session_totals(s, sid, since=day_start, now=now),
        "running": running_sessions(s, sid, now=now),
    }


def load_curve(
    s: Session, sid: str, *, sids: set[str] | None, since: int, until: int, limit: int = 1440
) -> list[dict[str, Any]]:
    """The transformer's load per minute (percent of its rating, the minute's maximum)."""
    if not visible(sid, sids):
        return []
    rows = s.execute(
        select(MeterMinuteRow.ts, MeterMinuteRow.load_pct_max, MeterMinuteRow.p_avg_w)
        .where(MeterMinuteRow.sid == sid, MeterMinuteRow.ts >= since, MeterMinuteRow.ts < until)
        .order_by(MeterMinuteRow.ts.desc())
        .limit(limit)
    ).all()
    return [
        {"ts": int(ts), "load_pct": float(pct), "p_avg_w": int(p)} for ts, pct, p in reversed(rows)
    ]


# --- guns -------------------------------------------------------------------------------------------
def list_guns(s: Session, *, sids: set[str] | None, page: Any = 1, per_page: Any = 50) -> Page:
    """Guns of the archive by station and id, with their state from the latest telemetry."""
    page, per_page = paging(page, per_page)
    total = s.scalar(_scoped(select(func.count()).select_from(Gun), Gun.sid, sids)) or 0
    rows = list(
        s.scalars(
            _scoped(select(Gun), Gun.sid, sids)
            .order_by(Gun.sid, Gun.gun_id)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    )
    states = {
        r.sid: r
        for r in s.scalars(select(StationState).where(StationState.sid.in_({g.sid for g in rows})))
    }
    items = []
    for g in rows:
        state = states.get(g.sid)
        entry = _guns_of(state.telemetry if state else None).get(g.gun_id)
        items.append(
            {
                "sid": g.sid,
                "gun": g.gun_id,
                "pile": g.pile_id,
                "code": g.code,
                "name": g.name,
                "kind": g.kind,
                "rated_power_w": g.rated_power_w,
                "state": (entry or {}).get("state"),
                "bucket": gun_bucket(entry, bool(state and state.online)),
            }
        )
    return Page(items, int(total), page, per_page)


def live(s: Session, sid: str, gun: str, *, sids: set[str] | None) -> dict[str, Any] | None:
    """A gun's readings now: from its running session's latest record, else the telemetry."""
    if not visible(sid, sids):
        return None
    state = s.get(StationState, sid)
    entry = _guns_of(state.telemetry if state else None).get(gun)
    if entry is None and s.get(Gun, (sid, gun)) is None:
        return None
    running = s.scalar(
        select(ChargingSession)
        .where(
            ChargingSession.sid == sid,
            ChargingSession.gun == gun,
            ChargingSession.status == "running",
        )
        .order_by(ChargingSession.started_at.desc())
        .limit(1)
    )
    power = (entry or {}).get("power_w")
    return {
        "ts": (state.telemetry_ts if state else None),
        "state": (entry or {}).get("state"),
        "bucket": gun_bucket(entry, bool(state and state.online)),
        "power_w": running.power_w if running and running.power_w is not None else power,
        "voltage_v": running.voltage_v if running else None,
        "current_a": running.current_a if running else None,
        "soc": running.soc if running and running.soc is not None else (entry or {}).get("soc"),
        "session_id": running.session_id if running else (entry or {}).get("session_id"),
        "orderly": orderly_view(running) if running else None,
    }


def gun_monitor(
    s: Session, sid: str, gun: str, *, sids: set[str] | None, day_start: int, now: int
) -> dict[str, Any] | None:
    """The gun page's figures, or None when unknown or out of scope."""
    reading = live(s, sid, gun, sids=sids)
    if reading is None:
        return None
    row = s.get(Gun, (sid, gun))
    order = s.scalar(
        select(Order)
        .where(
            Order.sid == sid, Order.gun == gun, Order.state.in_(("created", "starting", "charging"))
        )
        .order_by(Order.created_at.desc())
        .limit(1)
    )
    return {
        "sid": sid,
        "gun": gun,
        "pile": row.pile_id if row else gun.rsplit("-", 1)[0],
        "code": row.code if row else None,
        "name": row.name if row else None,
        "kind": row.kind if row else None,
        "rated_power_w": row.rated_power_w if row else None,
        "live": reading,
        "today": session_totals(s, sid, gun=gun, since=day_start, now=now),
        "total": session_totals(s, sid, gun=gun, now=now),
        "order": None
        if order is None
        else {
            "order_id": order.order_id,
            "state": order.state,
            "driver_id": order.driver_id,
            "hold_fen": order.hold_fen,
            "created_at": order.created_at,
            "session_id": order.session_id,
        },
    }


# --- the archive ------------------------------------------------------------------------------------
def station_archive(s: Session, sid: str, *, sids: set[str] | None) -> dict[str, Any] | None:
    if not visible(sid, sids):
        return None
    st = s.get(Station, sid)
    if st is None:
        return None
    piles = {p.pile_id: p for p in s.scalars(select(Pile).where(Pile.sid == sid))}
    guns = list(s.scalars(select(Gun).where(Gun.sid == sid).order_by(Gun.gun_id)))
    for g in guns:
        piles.setdefault(g.pile_id, Pile(sid=sid, pile_id=g.pile_id))
    return {"station": st, "piles": [piles[k] for k in sorted(piles)], "guns": guns}


def update_station(
    s: Session,
    sid: str,
    *,
    sids: set[str] | None,
    name: str,
    address: str,
    lat: float | None,
    lng: float | None,
    transformer_kva: float | None,
) -> dict[str, list[Any]]:
    """Change a station's archive; returns the changed fields as {field: [before, after]}."""
    if not visible(sid, sids) or s.get(Station, sid) is None:
        raise StationArchiveError("unknown_station", f"no station {sid!r}")
    if transformer_kva is not None and not 0 < transformer_kva <= 100_000:
        raise StationArchiveError(
            "invalid_rating", "transformer rating in kVA, above 0 up to 100,000"
        )
    if len(name) > 128 or len(address) > 255:
        raise StationArchiveError("too_long", "name up to 128, address up to 255 characters")
    st = s.get(Station, sid)
    assert st is not None
    before = {
        "name": st.name,
        "address": st.address,
        "lat": st.lat,
        "lng": st.lng,
        "transformer_kva": st.transformer_kva,
    }
    set_station(s, sid, name=name or None, address=address or None, lat=lat, lng=lng)
    st.transformer_kva = transformer_kva
    if lat is None:
        st.lat = st.lng = None
    s.flush()
    after = {
        "name": st.name,
        "address": st.address,
        "lat": st.lat,
        "lng": st.lng,
        "transformer_kva": st.transformer_kva,
    }
    return {k: [before[k], after[k]] for k in before if before[k] != after[k]}


def update_pile(
    s: Session, sid: str, pile: str, *, sids: set[str] | None, model: str, profile: str
) -> dict[str, list[Any]]:
    if not visible(sid, sids) or s.get(Station, sid) is None:
        raise StationArchiveError("unknown_station", f"no station {sid!r}")
    if not pile or len(pile) > 32 or len(model) > 64 or len(profile) > PROFILE_MAX:
        raise StationArchiveError(
            "too_long", "pile id up to 32, model up to 64, profile up to 32 characters"
        )
    row = s.get(Pile, (sid, pile))
    if row is None:
        row = Pile(sid=sid, pile_id=pile)
        s.add(row)
    before = {"model": row.model, "profile": row.profile}
    row.model, row.profile = model or None, profile or None
    s.flush()
    after = {"model": row.model, "profile": row.profile}
    return {k: [before[k], after[k]] for k in before if before[k] != after[k]}


def update_gun(
    s: Session,
    sid: str,
    gun: str,
    *,
    sids: set[str] | None,
    code: str | None,
    name: str,
    rated_power_w: int | None,
    kind: str | None,
) -> dict[str, list[Any]]:
    if not visible(sid, sids) or s.get(Station, sid) is None:
        raise StationArchiveError("unknown_station", f"no station {sid!r}")
    if len(name) > 64 or not 3 <= len(gun) <= 36:
        raise StationArchiveError(
            "too_long", "a gun's id has 3 to 36 characters, its name up to 64"
        )
    row = s.get(Gun, (sid, gun))
    before = (
        {}
        if row is None
        else {
            "code": row.code,
            "name": row.name,
            "rated_power_w": row.rated_power_w,
            "kind": row.kind,
        }
    )
    row = set_gun(s, sid, gun, code=code, rated_power_w=rated_power_w, name=name or None, kind=kind)
    after = {
        "code": row.code,
        "name": row.name,
        "rated_power_w": row.rated_power_w,
        "kind": row.kind,
    }
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def guns_for_labels(s: Session, sid: str, *, sids: set[str] | None) -> list[Gun] | None:
    if not visible(sid, sids) or s.get(Station, sid) is None:
        return None
    return list(s.scalars(select(Gun).where(Gun.sid == sid).order_by(Gun.gun_id)))


def owners_of(s: Session, station_ids: list[str]) -> dict[str, list[str]]:
    """The owners' logins of these stations (cloud/operators' `operator_stations`)."""
    from cloud.operators.models import Operator, OperatorStation

    out: dict[str, list[str]] = {sid: [] for sid in station_ids}
    if station_ids:
        for sid, login in s.execute(
            select(OperatorStation.sid, Operator.login)
            .join(Operator, Operator.id == OperatorStation.operator_id)
            .where(OperatorStation.sid.in_(station_ids))
            .order_by(Operator.login)
        ):
            out[sid].append(login)
    return out
