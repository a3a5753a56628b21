"""The drivers' H5 app at `/app/` (docs/clients.md): one HTML page, its stylesheet and the
script bundle that clients/build.js makes from clients/core (the page logic the WeChat
mini-program uses too). The app talks to the driver API (`/api/v1/driver/…`) of this same
cloud with the driver's token; nothing here reads or writes driver data.

Login (`/app/login/wechat`): WeChat Official Account web authorisation (网页授权). The
login link sends the browser to WeChat's authorisation page with a fresh `state` (bound to this
browser by a cookie, single use: cloud/drivers/weblogin.py); WeChat sends it back to
`/app/login/wechat/callback?code&state`, where the cloud exchanges the code
(cloud/wechat/oauth.py), logs the driver in and hands the app its token in the address's
fragment (never sent to a server; the app drops it from the address at once). A refusal goes
back to the app's login page as `#/login?error=<code>`, shown in the driver's language. The
demo and the tests run the same flow against the local fake (cloud/fakes).

Paying (docs/payments.md "Channels"): inside WeChat's browser, logged in through the official
account, the app pays with WeixinJSBridge getBrandWCPayRequest (JSAPI under the account's
appid and openid); in any other browser with WeChat Pay's H5 page (h5_url), which returns to
the app, where the app asks the cloud how the payment ended. The demo's fake serves h5_url
as its cashier page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for

from cloud.db import db
from cloud.drivers import weblogin
from cloud.drivers.errors import DriverError
from cloud.drivers.service import DriverSettings
from cloud.maptiles import attribution
from cloud.models import now_ms
from cloud.wechat.login import LoginError
from cloud.wechat.oauth import OAuthConfig, WechatOAuth

bp = Blueprint("h5", __name__, url_prefix="/app", template_folder="templates", static_folder="static",
               static_url_path="/static")
BUNDLE = Path(__file__).parent / "static" / "dist" / "app.js"
LOGIN_COOKIE, LOGIN_COOKIE_PATH = "jc_h5_login", "/app/login/wechat"
# Alpine.js evaluates its template expressions with Function(): hence 'unsafe-eval'; all
# script comes from this origin, nothing inline. blob: images: review photos, which the API
# serves only with the driver's token, are fetched and shown from a blob URL.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")


def tile_origins(template: str, subdomains: str) -> list[str]:
    """The origins the map's tiles come from (for the CSP's img-src): one per subdomain."""
    if not template:
        return []
    hosts = [template.replace("{s}", sub) for sub in (subdomains if "{s}" in template else "")] or [template]
    out: list[str] = []
    for url in hosts:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in out:
            out.append(origin)
    return out


def _csp() -> str:
    origins = tile_origins(str(current_app.config.get("H5_MAP_TILE_URL") or ""),
                           str(current_app.config.get("H5_MAP_TILE_SUBDOMAINS") or ""))
    return CSP.replace("img-src 'self' data:", " ".join(["img-src 'self' data:", *origins]))


@bp.after_request
def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", _csp())
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "no-referrer")
    if request.endpoint != "h5.static":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def _page(status: int = 200) -> Any:
    if not BUNDLE.exists():
        # the bundle is built at setup, not committed
        return Response("H5 app not built: run scripts/setup.sh (npm ci && npm run build).\n"
                        "H5 应用尚未构建：请运行 scripts/setup.sh。\n", status=503, content_type="text/plain; charset=utf-8")
    version = int(BUNDLE.stat().st_mtime)
    tiles = str(current_app.config.get("H5_MAP_TILE_URL") or "")
    return render_template("h5/index.html", version=version, tiles=tiles,
                           attribution=attribution(tiles, current_app.config.get("H5_MAP_TILE_ATTRIBUTION")),
                           subdomains=str(current_app.config.get("H5_MAP_TILE_SUBDOMAINS") or "")), status


@bp.get("/")
def index() -> Any:
    return _page()


@bp.get("/scan")
def scan() -> Any:
    """A gun's QR code opens https://<host>/app/scan?g=<code>; the app routes it to its scan page."""
    return _page()


def _oauth() -> WechatOAuth | None:
    """One client per app, made at first use; None when no official account is configured."""
    client = current_app.extensions.get("jc_wechat_oauth")
    if client is None:
        try:
            client = WechatOAuth(OAuthConfig.from_settings(current_app.config))
        except ValueError:
            return None
        current_app.extensions["jc_wechat_oauth"] = client
    return client  # type: ignore[no-any-return]


def _callback_url() -> str:
    # WeChat checks this against the official account's authorised domain; behind a proxy
    # PUBLIC_BASE_URL names the public origin, so the Host header never decides it
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if base:
        return base + "/app/login/wechat/callback"
    return url_for("h5.wechat_callback", _external=True)


def _back_to_app(fragment: str, forget: bool = True) -> Response:
    resp = redirect(f"{request.script_root}/app/{fragment}", code=303)
    if forget:
        resp.delete_cookie(LOGIN_COOKIE, path=request.script_root + LOGIN_COOKIE_PATH)
    return resp  # type: ignore[return-value]


def _failed(code: str, forget: bool = True) -> Response:
    return _back_to_app("#/login?" + urlencode({"error": code}), forget)


@bp.get("/login/wechat")
def wechat_login() -> Any:
    """Start a login: off to WeChat's authorisation page, with a state for this browser."""
    oauth = _oauth()
    if oauth is None:
        return Response("本平台尚未配置微信公众号网页授权；请在微信中打开聚充小程序登录。\n"
                        "WeChat web login (official account) is not configured here; log in with the "
                        "Juchong mini-program in WeChat.\n", status=404, content_type="text/plain; charset=utf-8")
    with db.transaction() as s:
        state, nonce = weblogin.begin(s, request.args.get("next"), now_ms())
    resp = redirect(oauth.authorize_url(_callback_url(), state, "snsapi_userinfo"), code=302)
    resp.set_cookie(LOGIN_COOKIE, nonce, max_age=weblogin.STATE_TTL_MS // 1000, path=request.script_root + LOGIN_COOKIE_PATH,
                    httponly=True, samesite="Lax",  # Lax: sent on WeChat's top-level redirect back
                    secure=bool(current_app.config["SESSION_COOKIE_SECURE"]) or request.is_secure
                    or _callback_url().startswith("https://"))
    return resp


@bp.get("/login/wechat/callback")
def wechat_callback() -> Any:
    """WeChat's redirect back: check the state, exchange the code, hand the app its token."""
    oauth = _oauth()
    if oauth is None:
        return _failed("wechat_not_configured")
    try:
        with db.transaction() as s:
            return_to = weblogin.consume(s, request.args.get("state"), request.cookies.get(LOGIN_COOKIE), now_ms())
    except weblogin.LoginStateInvalid as e:
        current_app.logger.warning("H5 login callback refused: %s", e.detail)
        # the cookie stays: a forged link opened in this browser must not end its real login
        return _failed(e.code, forget=False)
    code = request.args.get("code")
    if not code:
        return _failed("wechat_login_refused")  # the user pressed Refuse
    try:
        with db.transaction() as s:
            result = weblogin.login_with_oauth(s, oauth, code, DriverSettings.from_settings(current_app.config),
                                               oauth.config.appid, now_ms())
    except LoginError as e:
        current_app.logger.warning("H5 login refused by WeChat: %s", e.message)
        return _failed(e.code.lower())
    except DriverError as e:
        return _failed(e.code)
    return _back_to_app("#" + urlencode({"jc_login": result.token, "next": return_to}))
