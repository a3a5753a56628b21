"""Driver API: the driver's messages (reservation reminders and system notices), the
subscribe-message templates the mini-program asks consent for, and the consents it reports
(routes on the `api.driver` blueprint; the plain functions are cloud/community/inbox.py)."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from cloud.api.driver import _body, bp, language
from cloud.api.driver_auth import principal
from cloud.api.driver_stations import integer, query
from cloud.community import inbox
from cloud.db import db
from cloud.drivers.errors import InvalidField


@bp.get("/messages")
def messages_list() -> Any:
    q = query(("limit", "before"))
    limit = integer(q, "limit", 1, inbox.PAGE_MAX, 20)
    before = integer(q, "before", 1, 2**62, None)
    assert limit is not None
    return jsonify(
        inbox.messages(
            db.session, str(principal().driver_id), language(), limit=limit, before=before
        )
    )


@bp.get("/message-templates")
def message_templates() -> Any:
    """The template id of each kind (null: that kind is not sent) and the allows left."""
    t = inbox.Templates.from_settings(current_app.config)
    return jsonify(
        {
            "templates": {"reminder": t.reminder or None, "notice": t.notice or None},
            "consents": inbox.consents(db.session, str(principal().driver_id)),
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
        left = inbox.add_consent(s, str(principal().driver_id), accepted)
    return jsonify({"consents": left})
