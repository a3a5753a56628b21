"""What the stations, guns and archives pages share: the page argument, the start of today
in the stations' time zone, form numbers, and the gateway's reply to a command in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, request
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.commands import CommandPublishError, CommandTimeout, send_command
from cloud.db import db
from cloud.web import access
from jcproto import ProtocolError


def page_arg() -> int:
    try:
        return max(1, min(1_000_000, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


def day_start(now_ms: int) -> int:
    """Midnight of today in CONSOLE_TIMEZONE, in epoch ms."""
    zone = ZoneInfo(current_app.config["CONSOLE_TIMEZONE"])
    today = datetime.fromtimestamp(now_ms / 1000, zone).date()
    return int(datetime.combine(today, time(0), zone).timestamp() * 1000)


class FormError(ValueError):
    """A form field that is not a number in its range."""


def number(form: Any, key: str, lo: float, hi: float, *, integer: bool = False) -> float | int | None:
    raw = (form.get(key) or "").strip()
    if not raw:
        return None
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        raise FormError(key) from None
    if not lo <= value <= hi or value != value:  # NaN is not in any range
        raise FormError(key)
    return value


def reply_text(reply: Any) -> str:
    if reply.ok:
        return _("The gateway accepted it.")
    return _("The gateway refused it: %(error)s", error=str(reply.error.value if reply.error else "") or "-")


def send_audited(sid: str, type_: str, payload: dict[str, Any], *, action: str, target: str,
                 invalid: Callable[[str], str], keep_detail: bool = False) -> tuple[bool, str, int]:
    """Send a command to a station, audit what came of it (sent and answered, refused, timed
    out, not sent), and say it to the operator: (ok, text, HTTP status)."""
    outcome: dict[str, Any] = {"payload": payload}
    status, ok = 200, False
    try:
        reply = send_command(sid, type_, payload)
    except ProtocolError as e:
        text, status = invalid(str(e)), 400
        outcome["outcome"] = "invalid"
    except CommandTimeout:
        text, status = _("No reply from the gateway in time (is the station online?)."), 504
        outcome["outcome"] = "timeout"
    except CommandPublishError:
        text, status = _("The broker could not be reached; nothing was sent."), 502
        outcome["outcome"] = "unsent"
    else:
        ok, text = reply.ok, reply_text(reply)
        outcome.update(outcome="ok" if reply.ok else "refused", error=reply.error.value if reply.error else None)
        if keep_detail:
            outcome["reply_detail"] = reply.detail
    with db.transaction() as s:
        audit.record(s, access.actor(), action, target, outcome, ip=access.client_ip())
    return ok, text, status
