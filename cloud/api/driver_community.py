"""Driver API: station reviews (with photos), posts and replies, broken-gun reports (routes on
the `api.driver` blueprint, cloud/api/driver.py; the plain functions are
cloud/community/service.py)."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from flask import Response, current_app, jsonify

from cloud.api.driver import _body, _error, bp
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, query
from cloud.community import service
from cloud.community.service import CommunityError
from cloud.db import db


@bp.errorhandler(CommunityError)
def _community_error(e: CommunityError) -> Response:
    return _error(e.code, e.detail, e.facts)


def photo_dir() -> Path:
    return service.photo_dir_for(current_app.config, current_app.instance_path)


def _paging() -> tuple[int, int | None]:
    q = query(("limit", "before"))
    limit = integer(q, "limit", 1, service.PAGE_MAX, 20)
    before = integer(q, "before", 1, 2**62, None)
    assert limit is not None
    return limit, before


@bp.get("/stations/<sid>/reviews")
def reviews_list(sid: str) -> Any:
    limit, before = _paging()
    return jsonify(service.reviews(db.session, sid, limit=limit, before=before))


@bp.post("/stations/<sid>/reviews")
def review_create(sid: str) -> Any:
    body = _body(("order_id", "stars", "text", "photo_ids"), ("order_id", "stars", "text"))
    with db.transaction() as s:
        view = service.write_review(s, principal().driver_id, sid, order_id=body["order_id"], stars=body["stars"],
                                    text=body["text"], photo_ids=body.get("photo_ids"))
    return jsonify(view), 201


@bp.get("/stations/<sid>/reviews/photos/<photo_id>")
def review_photo(sid: str, photo_id: str) -> Any:
    mime, data = service.public_photo(db.session, photo_dir(), sid, photo_id)
    resp = Response(data, mimetype=mime)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


@bp.get("/stations/<sid>/posts")
def posts_list(sid: str) -> Any:
    limit, before = _paging()
    return jsonify({"posts": service.posts(db.session, sid, limit=limit, before=before)})


@bp.post("/stations/<sid>/posts")
def post_create(sid: str) -> Any:
    body = _body(("text", "parent_id"), ("text",))
    parent = body.get("parent_id")
    if parent is not None and (not isinstance(parent, int) or isinstance(parent, bool)):
        raise CommunityError("invalid_request", "parent_id is a post's id", field="parent_id")
    with db.transaction() as s:
        view = service.write_post(s, principal().driver_id, sid, body["text"], parent_id=parent)
    return jsonify(view), 201


@bp.post("/photos")
def photo_upload() -> Any:
    body = _body(("content_base64",), ("content_base64",))
    raw = body["content_base64"]
    try:
        data = base64.b64decode(raw, validate=True) if isinstance(raw, str) else b""
    except (binascii.Error, ValueError):
        data = b""
    with db.transaction() as s:
        view = service.store_photo(s, photo_dir(), principal().driver_id, data)
    return jsonify(view), 201


@bp.post("/gun-reports")
def gun_report_create() -> Any:
    body = _body(("gun_code", "reason", "text", "photo_id"), ("gun_code", "reason"))
    with db.transaction() as s:
        view = service.report_gun(s, principal().driver_id, gun_code=body["gun_code"], reason=body["reason"],
                                  text=body.get("text"), photo_id=body.get("photo_id"))
    return jsonify(view), 201


@bp.get("/gun-reports")
def gun_reports_list() -> Any:
    q = query(("limit",))
    limit = integer(q, "limit", 1, service.PAGE_MAX, 20)
    assert limit is not None
    return jsonify({"reports": service.my_reports(db.session, principal().driver_id, limit=limit)})


@bp.get("/gun-reports/<report_id>")
def gun_report_get(report_id: str) -> Any:
    return jsonify(service.my_report(db.session, principal().driver_id, report_id))


@bp.get("/gun-reports/<report_id>/photo")
def gun_report_photo(report_id: str) -> Any:
    mime, data = service.my_report_photo(db.session, photo_dir(), principal().driver_id, report_id)
    resp = Response(data, mimetype=mime)
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp
