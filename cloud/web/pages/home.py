"""The home page (首页): the figures of cloud/reports (today, this month and all time, each
with month-on-month and year-on-year change), a map of stations and guns by state, this
month's charging by day; owner-scoped like every page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from flask_babel import lazy_gettext as _l

from cloud.db import db
from cloud.maptiles import attribution
from cloud.reports import service as reports
from cloud.web import access
from cloud.web.pages import home_map

bp = Blueprint("home", __name__)

GUN_STATES = {"idle": _l("idle"), "charging": _l("charging"), "plugged": _l("plugged"), "faulted": _l("faulted"),
              "offline": _l("offline"), "unknown": _l("unknown")}


@bp.get("/")
@access.requires("home")
def index() -> Any:
    sids = access.scope()
    cfg = current_app.config
    tiles = cfg.get("CONSOLE_MAP_TILES") or ""
    # the figures refresh the reports' day rollup: written in this transaction (docs/reports.md)
    with db.transaction() as s:
        data = reports.home_figures(s, sids, cfg["CONSOLE_TIMEZONE"], now=access.clock())
    points = home_map.points(data["map"], cfg["CONSOLE_MAP_DATUM"] if tiles else "")
    # translated once per view: the page names a state for every station it lists
    labels = {k: str(v) for k, v in GUN_STATES.items()}
    return render_template("console/home.html", data=data, figures=data["figures"], points=points,
                           metrics=reports.METRICS, tiles=tiles,
                           attribution=attribution(tiles, cfg.get("CONSOLE_MAP_ATTRIBUTION")),
                           gun_state_label=lambda state: labels.get(state, state),
                           state_labels=labels,
                           no_coordinates=len(data["map"]["stations"]) - len(points))
