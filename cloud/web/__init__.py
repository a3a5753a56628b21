"""Operator console blueprint. For now one page listing the stations; the console comes later."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from cloud.db import db
from cloud.models import Station, StationState

bp = Blueprint("web", __name__, template_folder="templates")


@bp.get("/")
def index() -> Any:
    rows = db.session.execute(
        select(Station, StationState)
        .outerjoin(StationState, StationState.sid == Station.sid)
        .order_by(Station.sid)
    ).all()
    return render_template("web/stations.html", rows=rows)
