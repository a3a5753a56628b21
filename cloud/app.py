"""The Flask app factory (as in Flask's tutorial): instance folder config, extensions bound here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SecureCookieSessionInterface, SessionMixin

from cloud.config import ConfigError, apply_environment, defaults, validate_config


def check_key_files(config: Mapping[str, Any]) -> None:
    """Refuse to start on a private key others may read: the station issuing CA's (the one
    key provisioning uses) and the cloud identity's. The root key is never read here."""
    from pathlib import Path

    from cloud.pki.ca import CaError, check_private_file

    for path in (Path(config["CA_DIR"]) / "station" / "ca.key", Path(config["CLOUD_KEY_FILE"])):
        if path.exists():
            try:
                check_private_file(path)
            except CaError as e:
                raise ConfigError(str(e)) from None


class SessionInterface(SecureCookieSessionInterface):
    """The console's signed cookie session, not opened for the JSON API: it authenticates by
    bearer token and keeps nothing in a cookie, and verifying a console cookie cost a tenth
    of the CPU of the drivers' progress poll (every 5 s per charging driver)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        "cloud",
        instance_path=os.environ.get("JC_INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    app.config.from_mapping(defaults(app.instance_path))
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        apply_environment(app.config)
    else:
        apply_environment(app.config)
        app.config.from_mapping(test_config)
    validate_config(app.config)
    app.session_interface = SessionInterface()
    hops = int(app.config["TRUSTED_PROXY_HOPS"])
    if hops:
        # X-Forwarded-For and -Proto believed from that many trusted proxies only (the
        # payer's IP of an H5 payment, https for cookies and URLs); 0: none believed
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    os.makedirs(app.instance_path, exist_ok=True)
    check_key_files(app.config)

    from cloud.commands import commands
    from cloud.db import db

    db.init_app(app)
    commands.init_app(app)

    from cloud.api import bp as api_bp

    app.register_blueprint(api_bp)

    # --- console: the operator console's pages, languages, CSRF (cloud/web, docs/console.md) ---
    from cloud.web import init_app as init_console

    init_console(app)

    # --- clients: the drivers' H5 app at /app/ ---
    from cloud.h5 import bp as h5_bp

    app.register_blueprint(h5_bp)

    from cloud.cli import register

    register(app)
    _receipts(app)
    return app


def _receipts(app: Flask) -> None:
    """Session receipts by WeChat subscribe message when a template is set (docs/community.md)."""
    template = str(app.config.get("WECHAT_SUBSCRIBE_RECEIPT_TEMPLATE") or "")
    if not template or not app.config.get("WECHAT_APPID") or not app.config.get("WECHAT_SECRET"):
        return
    from cloud.community import notices
    from cloud.wechat.subscribe import SubscribeClient, SubscribeConfig

    notices.configure(notices.WechatNotifier(SubscribeClient(SubscribeConfig.from_settings(app.config)), template))


__all__ = ["ConfigError", "create_app"]
