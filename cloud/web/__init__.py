"""Operator console blueprint. For now one page listing the stations; the console comes later."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from sqlalchemy import select

from cloud.api.auth import authenticate, bearer, token_by_id
from cloud.db import db
from cloud.models import Station, StationState

bp = Blueprint("web", __name__, template_folder="templates")
OPEN_PAGES = {"web.login", "web.logout", "static"}


@bp.before_request
def _require_login() -> Any:
    """Every page wants an API token: a bearer header, or one given on the login page (the
    operators' own log-in comes with the console)."""
    if request.endpoint in OPEN_PAGES:
        return None
    token = bearer(request.headers.get("Authorization"))
    row = authenticate(db.session, token) if token else None
    if row is None and isinstance(session.get("api_token_id"), int):
        row = token_by_id(db.session, session["api_token_id"])
    if row is None:
        session.pop("api_token_id", None)
        return redirect(url_for("web.login", next=request.path))
    g.api_token = row
    return None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        row = authenticate(db.session, (request.form.get("token") or "").strip())
        if row is not None:
            session.clear()
            session["api_token_id"] = row.id
            target = request.args.get("next") or "/"
            # only a path of this site, never another host
            return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
        error = "无效的令牌 Invalid or revoked token"
    return render_template("web/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("web.login"))


@bp.get("/")
def index() -> Any:
    rows = db.session.execute(
        select(Station, StationState)
        .outerjoin(StationState, StationState.sid == Station.sid)
        .order_by(Station.sid)
    ).all()
    return render_template("web/stations.html", rows=rows)
