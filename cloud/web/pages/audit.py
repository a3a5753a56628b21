"""The audit log: newest first, filtered by actor, action prefix or target, keyset pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from cloud.audit import service as audit
from cloud.db import db
from cloud.web import access

bp = Blueprint("audit", __name__, url_prefix="/audit")


@bp.get("/")
@access.requires("audit")
def index() -> Any:
    try:
        before = int(request.args["before"]) if request.args.get("before") else None
    except ValueError:
        before = None
    if before is not None and not 0 < before < 2**62:  # beyond what the database's integers hold
        before = None
    filters = {k: (request.args.get(k) or "").strip()[:128] or None for k in ("actor", "action", "target")}
    page = audit.listing(db.session, limit=50, before=before, **filters)
    older = (url_for("audit.index", before=page.next_before, **{k: v for k, v in filters.items() if v})
             if page.next_before else None)
    return render_template("console/audit/list.html", page=page, filters=filters, older_url=older)
