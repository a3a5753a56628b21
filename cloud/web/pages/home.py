"""The home page (首页): the shell every operator lands on, with the stations it may see."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import select

from cloud.db import db
from cloud.models import Station, StationState
from cloud.web import access

bp = Blueprint("home", __name__)


@bp.get("/")
@access.requires("home")
def index() -> Any:
    sids = access.scope()
    q = (select(Station, StationState).outerjoin(StationState, StationState.sid == Station.sid)
         .order_by(Station.sid).limit(200))
    if sids is not None:
        q = q.where(Station.sid.in_(sorted(sids)))
    rows = db.session.execute(q).all()
    return render_template("console/home.html", rows=rows)
