"""Read-only station views (`/api/v1/stations`), for the console and tools."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from sqlalchemy import select

from cloud.api import bp
from cloud.api.errors import ApiError
from cloud.db import db
from cloud.models import Station, StationSeq, StationState


def _row(
    st: Station, state: StationState | None, seq: StationSeq | None, telemetry: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sid": st.sid,
        "name": st.name,
        "online": bool(state and state.online),
        "last_seen": state.last_seen if state else None,
        "fw": state.fw if state else None,
        "cfg_rev": state.cfg_rev if state else None,
        "acked_seq": seq.acked_seq if seq else 0,
    }
    if telemetry:
        out["telemetry"] = state.telemetry if state else None
    return out


@bp.get("/health")
def health() -> Any:
    return jsonify({"ok": True})


@bp.get("/stations")
def list_stations() -> Any:
    q = (
        select(Station, StationState, StationSeq)
        .outerjoin(StationState, StationState.sid == Station.sid)
        .outerjoin(StationSeq, StationSeq.sid == Station.sid)
        .order_by(Station.sid)
    )
    return jsonify(
        {"stations": [_row(st, state, seq, False) for st, state, seq in db.session.execute(q)]}
    )


@bp.get("/stations/<sid>")
def get_station(sid: str) -> Any:
    q = (
        select(Station, StationState, StationSeq)
        .outerjoin(StationState, StationState.sid == Station.sid)
        .outerjoin(StationSeq, StationSeq.sid == Station.sid)
        .where(Station.sid == sid)
    )
    row = db.session.execute(q).first()
    if row is None:
        raise ApiError(404, "unknown_station", f"no station {sid!r}")
    return jsonify(_row(*row, telemetry=True))
