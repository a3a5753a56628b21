"""Who is logged in and what the page may do. Deny by default: every console view declares
either `@requires(area)` (a role check: GET/HEAD read the area, other methods change it) or
`@public` (login page, language switch); a view declaring neither answers 403.

Before each console request: CSRF check of every POST/PUT/PATCH/DELETE (Flask-WTF; the form
field `csrf_token` or the `X-CSRFToken` header that the layout gives every htmx request),
then the session: the cookie's token must name a live session row (cloud/operators/service.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from cloud.db import db
from cloud.models.base import now_ms
from cloud.operators import service as operators
from cloud.operators.models import Operator
from cloud.operators.roles import allowed

F = TypeVar("F", bound=Callable[..., Any])
SESSION_KEY = "op"
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
# Sent by the pages' automatic refreshes (the station page's live parts, the charts' JSON):
# such a request is no sign of a person at the console, so it never moves the session's idle
# deadline; an unattended page is logged out as any other.
POLL_HEADER = "X-JC-Poll"


def clock() -> int:
    """Now in epoch ms; tests replace `app.extensions["jc_console"]["clock"]`."""
    return int(current_app.extensions["jc_console"]["clock"]())


def session_policy() -> operators.SessionPolicy:
    c = current_app.config
    return operators.SessionPolicy(ttl_ms=c["CONSOLE_SESSION_TTL_S"] * 1000, idle_ms=c["CONSOLE_IDLE_TIMEOUT_S"] * 1000)


def login_policy() -> operators.LoginPolicy:
    c = current_app.config
    return operators.LoginPolicy(max_failures=c["CONSOLE_LOGIN_MAX_FAILURES"], lock_ms=c["CONSOLE_LOGIN_LOCK_S"] * 1000)


def requires(area: str) -> Callable[[F], F]:
    def mark(view: F) -> F:
        view._console_area = area  # type: ignore[attr-defined]
        return view
    return mark


def public(view: F) -> F:
    view._console_public = True  # type: ignore[attr-defined]
    return view


def current() -> Operator:
    return g.operator  # type: ignore[no-any-return]


def current_or_none() -> Operator | None:
    return g.get("operator")


def scope() -> set[str] | None:
    """The stations this operator may see (None: all): pass as `sids` to every service."""
    if "console_sids" not in g:
        g.console_sids = operators.visible_sids(db.session, current())
    return g.console_sids  # type: ignore[no-any-return]


def can(area: str, write: bool = False) -> bool:
    op = g.get("operator")
    return op is not None and allowed(op.role, area, write)


def actor() -> str:
    return current().login


def client_ip() -> str | None:
    return request.remote_addr


def forbidden() -> Any:
    if request.headers.get("HX-Request"):
        return _("You may not do this."), 403
    return render_template("console/forbidden.html"), 403


def check_request() -> Any:
    """before_request of every console blueprint."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.method not in READ_METHODS:
        current_app.extensions["csrf"].protect()
    if view is None or getattr(view, "_console_public", False):
        g.operator = _load()
        return None
    op = _load()
    if op is None:
        if request.headers.get("HX-Request"):
            # htmx follows a redirect inside the page: send the browser itself to the login,
            # and back to the page it shows (not to the fragment asked for) afterwards
            return "", 401, {"HX-Redirect": url_for("auth.login", next=_page_path())}
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.operator = op
    area = getattr(view, "_console_area", None)
    if area is None or not allowed(op.role, area, request.method not in READ_METHODS):
        return forbidden()
    return None


def _load() -> Operator | None:
    token = session.get(SESSION_KEY)
    if not isinstance(token, str):
        return None
    now = clock()
    found = operators.live_session(db.session, token, policy=session_policy(), now=now)
    if found is None:
        session.pop(SESSION_KEY, None)
        return None
    op, row = found
    if operators.needs_touch(row, now) and not request.headers.get(POLL_HEADER):
        with db.transaction() as s:  # a write-only transaction: never a stale read to upgrade
            operators.touch(s, row.id, now)
    return op


def _page_path() -> str:
    """The path (and query) of the page an htmx request comes from (its HX-Current-URL when it
    is of this site), else this request's; the login checks it again (auth.safe_next)."""
    here = urlsplit(request.headers.get("HX-Current-URL", ""))
    if here.path.startswith("/") and here.netloc in ("", request.host):
        return here.path + (f"?{here.query}" if here.query else "")
    return request.full_path.rstrip("?")


def setup(app: Any) -> None:
    app.extensions["jc_console"] = {"clock": now_ms}
