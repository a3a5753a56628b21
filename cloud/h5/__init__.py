"""The drivers' H5 app at `/app/` (docs/clients.md): one HTML page, its stylesheet and the
script bundle that clients/build.js makes from clients/core (the page logic the WeChat
mini-program uses too). The app talks to the driver API (`/api/v1/driver/…`) of this same
cloud with the driver's token; nothing here reads or writes driver data.

Login: a real deployment logs drivers in inside WeChat (the mini-program, or this app opened
in its web-view), where a WeChat login code exists. When WECHAT_API_BASE_URL is on this
machine (the demo and the tests, which point it at the local fake of cloud/fakes)
`/app/login/wechat` plays WeChat's authorisation page: it asks the fake for a login code for a
user name and redirects back to the app with `?code=…`, as an OAuth redirect would. Likewise,
when WECHATPAY_BASE_URL is on this machine, a recharge opens the fake's cashier page.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from flask import Blueprint, Response, current_app, redirect, render_template, request

bp = Blueprint("h5", __name__, url_prefix="/app", template_folder="templates", static_folder="static",
               static_url_path="/static")
BUNDLE = Path(__file__).parent / "static" / "dist" / "app.js"
USER_RE = re.compile(r"^[A-Za-z0-9_.\-\u4e00-\u9fff]{1,32}$")
# Alpine.js evaluates its template expressions with Function(): hence 'unsafe-eval'; all
# script comes from this origin, nothing inline.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'")


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def local_fake(setting: str) -> str | None:
    """The setting's base URL when it names this machine (the local fakes), else None: real
    WeChat is never on loopback, so a deployment never offers the stand-in pages."""
    url = str(current_app.config.get(setting) or "").rstrip("/")
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return url if host in LOOPBACK else None


@bp.after_request
def _headers(resp: Response) -> Response:
    resp.headers.setdefault("Content-Security-Policy", CSP)
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
    pay = local_fake("WECHATPAY_BASE_URL")
    return render_template("h5/index.html", version=version,
                           cashier=f"{pay}/fake/cashier" if pay else ""), status


@bp.get("/")
def index() -> Any:
    return _page()


@bp.get("/scan")
def scan() -> Any:
    """A gun's QR code opens https://<host>/app/scan?g=<code>; the app routes it to its scan page."""
    return _page()


@bp.route("/login/wechat", methods=["GET", "POST"])
def fake_wechat_login() -> Any:
    """The demo's stand-in for WeChat's authorisation page (only against the local fake)."""
    base = local_fake("WECHAT_API_BASE_URL")
    if base is None:
        return Response("请在微信中打开聚充（小程序）登录。\nOpen Juchong in WeChat to log in.\n", status=404,
                        content_type="text/plain; charset=utf-8")
    nxt = request.values.get("next", "#/stations")
    if not nxt.startswith("#/") or len(nxt) > 200:
        nxt = "#/stations"
    if request.method == "GET":
        return render_template("h5/fake_login.html", next=nxt, error=None)
    user = (request.form.get("user") or "").strip()
    if not USER_RE.match(user):
        return render_template("h5/fake_login.html", next=nxt, error="user"), 400
    try:
        resp = requests.post(f"{base}/fake/wx/login", json={"user": user}, timeout=5)
        code = resp.json().get("code") if resp.ok else None
    except (requests.RequestException, ValueError):
        code = None
    if not isinstance(code, str):
        return render_template("h5/fake_login.html", next=nxt, error="wechat"), 502
    return redirect(f"{request.script_root}/app/?code={quote(code)}&next={quote(nxt)}", code=303)
