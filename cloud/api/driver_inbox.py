"""Driver API: the driver's messages (reservation reminders and system notices) with their read
state (unread count, mark one read, mark all read), the driver's reminder lead time, the
subscribe-message templates the mini-program asks consent for, and the consents it reports
(routes on the `api.driver` blueprint; the plain functions are cloud/community/inbox.py).
Another driver's message is as missing as one that never was (404 `not_found`)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from cloud.api.driver import _body, bp, language
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, query
from cloud.community import inbox
from cloud.community.service import CommunityError
from cloud.db import db
from cloud.drivers.errors import InvalidField
from cloud.models import now_ms


def _me() -> str:
    return str(principal().driver_id)


@bp.get("/messages")
def messages_list() -> Any:
    q = query(("limit", "before"))
    limit = integer(q, "limit", 1, inbox.PAGE_MAX, 20)
    before = integer(q, "before", 1, 2**62, None)
    assert limit is not None
    return jsonify(inbox.messages(db.session, _me(), language(), limit=limit, before=before))


@bp.get("/messages/unread-count")
def messages_unread_count() -> Any:
    """The badge: how many of the driver's messages are unread (one indexed count)."""
    return jsonify({"unread": inbox.unread_count(db.session, _me())})


@bp.post("/messages/<int:message_id>/read")
def message_read(message_id: int) -> Any:
    """The driver opened message `message_id`: it is read (the first time is kept)."""
    _body((), optional=True)
    me = _me()
    with db.transaction() as s:
        m = inbox.mark_read(s, me, message_id, now_ms())
        if m is None:
            raise CommunityError("not_found", f"no message {message_id}")
        got = inbox.item(m, language())
        unread = inbox.unread_count(s, me)
    return jsonify({"message": got, "unread": unread})


@bp.post("/messages/read-all")
def messages_read_all() -> Any:
    """Every unread message of the driver read, or those up to `up_to` (the newest id shown)."""
    body = _body(("up_to",), optional=True)
    up_to = body.get("up_to")
    if up_to is not None and (
        not isinstance(up_to, int) or isinstance(up_to, bool) or not 1 <= up_to < 2**62
    ):
        raise InvalidField("up_to must be a message id", field="up_to")
    me = _me()
    with db.transaction() as s:
        marked = inbox.mark_all_read(s, me, now_ms(), up_to)
        unread = inbox.unread_count(s, me)
    return jsonify({"marked": marked, "unread": unread})


@bp.get("/message-settings")
def message_settings() -> Any:
    """The driver's reminder lead time, the choices the operator allows, the allows left."""
    policy = inbox.RemindPolicy.from_settings(current_app.config)
    return jsonify(inbox.remind_settings(db.session, _me(), policy))


@bp.put("/message-settings")
def message_settings_put() -> Any:
    """Choose the reminder lead time: minutes (0: no reminders) or null (the platform's)."""
    body = _body(("remind_minutes",), ("remind_minutes",))
    minutes = body["remind_minutes"]
    if minutes is not None and (not isinstance(minutes, int) or isinstance(minutes, bool)):
        raise InvalidField("remind_minutes must be whole minutes or null", field="remind_minutes")
    policy = inbox.RemindPolicy.from_settings(current_app.config)
    try:
        with db.transaction() as s:
            got = inbox.set_remind_minutes(s, _me(), minutes, policy)
    except inbox.InboxError as e:
        raise InvalidField(str(e), field=e.field) from None
    return jsonify(got)


@bp.get("/message-templates")
def message_templates() -> Any:
    """The template id of each kind (null: that kind is not sent) and the allows left."""
    t = inbox.Templates.from_settings(current_app.config)
    return jsonify(
        {
            "templates": {"reminder": t.reminder or None, "notice": t.notice or None},
            "consents": inbox.consents(db.session, _me()),
        }
    )


@bp.post("/message-consents")
def message_consents() -> Any:
    """One "allow" per kind listed (what wx.requestSubscribeMessage answered "accept" for)."""
    body = _body(("accepted",), ("accepted",))
    accepted = body["accepted"]
    if (
        not isinstance(accepted, list)
        or not accepted
        or len(accepted) > len(inbox.KINDS)
        or any(k not in inbox.KINDS for k in accepted)
        or len(set(accepted)) != len(accepted)
    ):
        raise InvalidField(
            "accepted must list message kinds (reminder, notice), each once", field="accepted"
        )
    with db.transaction() as s:
        left = inbox.add_consent(s, _me(), accepted)
    return jsonify({"consents": left})
