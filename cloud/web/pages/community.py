"""Community (area "community"): the moderation queue (newest reviews and posts of the
operator's stations; hide or show them, ban or unban their authors), the sensitive-word list,
and the photos of reviews and gun reports. Over cloud/community/service.py, owner-scoped by
access.scope(); the service audits every change."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _

from cloud.community import inbox
from cloud.community import service as community
from cloud.db import db
from cloud.web import access

bp = Blueprint("community", __name__, url_prefix="/community")


def _message(e: community.CommunityError) -> str:
    return community.message(e.code, str(get_locale()), **e.facts)


@bp.get("/")
@access.requires("community")
def index() -> Any:
    state = request.args.get("state") if request.args.get("state") in ("visible", "hidden") else "all"
    hidden = {"visible": False, "hidden": True}.get(state)
    queue = community.moderation_queue(db.session, sids=access.scope(), hidden=hidden)
    return render_template("console/community/index.html", q=queue, state=state, bans=community.bans(db.session),
                           error=request.args.get("error"))


@bp.post("/hide")
@access.requires("community")
def hide() -> Any:
    kind = request.form.get("kind") or ""
    try:
        with db.transaction() as s:
            community.set_hidden(s, kind, request.form.get("id"), request.form.get("hidden") == "1",
                                 actor=access.actor(), sids=access.scope(), ip=access.client_ip())
    except community.CommunityError:
        abort(404)
    return redirect(url_for("community.index", state=request.form.get("state") or None), code=303)


@bp.post("/ban")
@access.requires("community")
def ban() -> Any:
    driver_id = (request.form.get("driver_id") or "").strip()
    # An owner-scoped operator bans only authors of something at their stations.
    sids = access.scope()
    if sids is not None:
        queue = community.moderation_queue(db.session, sids=sids, limit=200)
        if driver_id not in {x["driver_id"] for x in queue["reviews"] + queue["posts"]}:
            abort(404)
    try:
        with db.transaction() as s:
            if request.form.get("unban"):
                community.unban(s, driver_id, actor=access.actor(), ip=access.client_ip())
            else:
                community.ban(s, driver_id, reason=request.form.get("reason") or "", actor=access.actor(),
                              ip=access.client_ip())
    except community.CommunityError as e:
        return redirect(url_for("community.index", error=_message(e)), code=303)
    return redirect(url_for("community.index"), code=303)


@bp.route("/words", methods=["GET", "POST"])
@access.requires("community")
def words() -> Any:
    error = None
    if request.method == "POST":
        try:
            with db.transaction() as s:
                if request.form.get("remove"):
                    community.remove_word(s, request.form["remove"], actor=access.actor(), ip=access.client_ip())
                else:
                    community.add_word(s, request.form.get("word"), actor=access.actor(), ip=access.client_ip())
        except community.CommunityError as e:
            error = _message(e)
        else:
            return redirect(url_for("community.words"), code=303)
    return render_template("console/community/words.html", words=community.words(db.session),
                           error=error), 400 if error else 200


@bp.get("/photos/<photo_id>")
@access.requires("community")
def photo(photo_id: str) -> Any:
    try:
        mime, data = community.operator_photo(db.session, community.photo_dir_for(
            current_app.config, current_app.instance_path), photo_id, access.scope())
    except community.CommunityError:
        abort(404)
    resp = Response(data, mimetype=mime)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.route("/notices", methods=["GET", "POST"])
@access.requires("community")
def notices() -> Any:
    """System notices to drivers (docs/community.md): admins publish, in zh-CN and English, to
    every driver or to the drivers of some stations; the others of the area read the list."""
    error, form = None, {}
    if request.method == "POST":
        if access.current().role != "admin":
            return access.forbidden()
        form = {k: request.form.get(k) or "" for k in ("title_zh", "title_en", "body_zh", "body_en", "audience",
                                                       "sids")}
        try:
            with db.transaction() as s:
                inbox.publish_notice(s, form, actor=access.actor(), ip=access.client_ip())
        except inbox.InboxError as e:
            error = _("Not published: %(problem)s", problem=str(e))
        else:
            return redirect(url_for("community.notices"), code=303)
    return render_template("console/community/notices.html", notices=inbox.notices(db.session), error=error,
                           form=form, can_publish=access.current().role == "admin"), 400 if error else 200
