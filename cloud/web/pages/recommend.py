"""The recommendations' weights (area "recommend": admins only): how much each term counts
when drivers are told where to charge now (docs/recommend.md). Changes are audited."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for

from cloud.db import db
from cloud.recommend import service
from cloud.recommend.scorer import TERMS
from cloud.web import access

bp = Blueprint("recommend", __name__, url_prefix="/recommend")


def _current() -> dict[str, int]:
    w = service.weights(db.session)
    return {t: round(w.of(t) * 100) for t in TERMS}


@bp.route("/", methods=["GET", "POST"])
@access.requires("recommend")
def index() -> Any:
    error, values = None, _current()
    if request.method == "POST":
        values = {t: request.form.get(t, "") for t in TERMS}  # type: ignore[misc]
        try:
            with db.transaction() as s:
                service.set_weights(s, values, actor=access.actor(), ip=access.client_ip())
        except service.WeightsError as e:
            error = e
        else:
            return redirect(url_for("recommend.index", saved=1), code=303)
    row = service.weights_row(db.session)
    return render_template("console/recommend/index.html", terms=TERMS, values=values, error=error, row=row,
                           saved=request.args.get("saved") == "1"), 400 if error else 200
