"""The operator console (docs/console.md): server-rendered pages (cloud/web/pages/, one
blueprint per area) in a shared layout (templates/console/base.html), Flask-Babel for
Chinese and English (i18n.py), the formatting filters (formatting.py), access and CSRF
(access.py), the front-end packages from node_modules served at /console/static/vendor/."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from cloud.web import access, formatting, i18n
from cloud.web.nav import for_role, role_label

# the layout's stylesheet and script, and the vendor files scripts/build-console.js copies
assets = Blueprint("console", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/console/static")
csrf = CSRFProtect()

# Alpine evaluates its expressions with Function(): 'unsafe-eval'; every script is a file of
# this origin. ECharts, Leaflet and htmx set element styles: 'unsafe-inline' for styles only.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob: https:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")


def init_app(app: Flask) -> None:
    from cloud.web.pages import PAGES

    # checked in access.check_request for the console's blueprints only: the JSON API
    # authenticates with bearer tokens and takes no cookies
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    # the token lives as long as the login session (which has its own expiry)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)
    csrf.init_app(app)
    access.setup(app)
    i18n.init_app(app)
    formatting.init_app(app)
    app.register_blueprint(assets)
    names = {bp.name for bp in PAGES}
    for bp in PAGES:
        app.register_blueprint(bp)

    @app.before_request
    def _console_access() -> Any:
        return access.check_request() if request.blueprint in names else None

    @app.after_request
    def _console_headers(resp: Response) -> Response:
        return _headers(resp) if request.blueprint in names else resp

    @app.errorhandler(CSRFError)
    def _csrf_refused(e: CSRFError) -> Any:
        from flask import render_template

        if request.blueprint not in names:
            return e
        if request.headers.get("HX-Request"):
            return e.description, 400
        return render_template("console/csrf.html", reason=e.description), 400

    @app.context_processor
    def _layout() -> dict[str, Any]:
        if request.blueprint not in names:
            return {}
        op = access.current_or_none()
        return {**i18n.context(), "operator": op, "nav": for_role(op.role) if op else [], "can": access.can,
                "role_label": role_label}


def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp
