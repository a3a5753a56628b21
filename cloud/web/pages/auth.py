"""Login, logout and the language switch."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from cloud.db import db
from cloud.operators import service as operators
from cloud.web import access
from cloud.web.i18n import LOCALES

bp = Blueprint("auth", __name__)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path of this site, never another host. Browsers drop tabs and line breaks from a
    URL ("/<TAB>/evil" goes to //evil) and a line break cannot be a header: a path with any
    control character or space is refused as well."""
    target = target or ""
    if (target.startswith("/") and not target.startswith("//") and "\\" not in target
            and all(" " < ch != "\x7f" for ch in target)):
        return target
    return default


@bp.route("/login", methods=["GET", "POST"])
@access.public
def login() -> Any:
    error = None
    if request.method == "POST":
        name = (request.form.get("login") or "").strip()
        password = request.form.get("password") or ""
        token, now, ip = None, access.clock(), access.client_ip()
        # three short transactions: book the attempt, check the password outside any (argon2
        # is slow), then the verdict and the session
        with db.transaction() as s:
            attempt = operators.begin_login(s, name, policy=access.login_policy(), now=now, ip=ip)
        ok = operators.verify_password(attempt, password)
        with db.transaction() as s:
            try:
                op = operators.finish_login(s, attempt, ok, password=password, now=now, ip=ip)
                token = operators.start_session(s, op, policy=access.session_policy(), now=now, ip=ip)
            except operators.LoginFailed:
                pass
        if token is not None:
            lang = session.get("lang")
            session.clear()  # a fresh session (and CSRF token) for the logged-in operator
            session[access.SESSION_KEY] = token
            if lang in LOCALES:
                session["lang"] = lang
            return redirect(safe_next(request.args.get("next")), code=303)
        error = _("Wrong login name or password, or the account is locked for a while.")
    return render_template("console/login.html", error=error), 401 if error else 200


@bp.post("/logout")
@access.public
def logout() -> Any:
    token = session.get(access.SESSION_KEY)
    if isinstance(token, str):
        with db.transaction() as s:
            operators.end_session(s, token, ip=access.client_ip())
    lang = session.get("lang")
    session.clear()
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(url_for("auth.login"), code=303)


@bp.post("/lang")
@access.public
def switch_language() -> Any:
    lang = request.form.get("lang")
    if lang in LOCALES:
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")), code=303)
