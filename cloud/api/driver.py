"""The driver API (`/api/v1/driver/…`, blueprint `api.driver` nested in `api`): WeChat login,
logout, the driver's profile and payment password. Every route but login wants a driver
token; errors are {"error": {"code", "message", …}} with the message in the language
Accept-Language asks for (zh-CN unless English is preferred). The views only translate HTTP
to the plain functions of cloud/drivers/service.py and back.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from cloud.api.driver_auth import principal, require_driver
from cloud.api.driver_messages import LANGUAGES, message, status_of
from cloud.db import db
from cloud.drivers import service
from cloud.drivers.errors import DriverError, InvalidField
from cloud.models import now_ms
from cloud.wechat.login import LoginConfig, LoginError, WechatLogin

bp = Blueprint("driver", __name__, url_prefix="/driver")
MAX_BODY = 16 * 1024  # the largest real body (a profile change) is well under 1 KiB


class PayloadTooLarge(DriverError):
    code = "payload_too_large"


class WechatNotConfigured(DriverError):
    code = "wechat_not_configured"


@bp.before_request
def _before() -> None:
    # a photo upload (cloud/api/driver_community.py) is the one large body
    request.max_content_length = 3 * 1024 * 1024 if request.endpoint == "api.driver.photo_upload" else MAX_BODY
    require_driver()


@bp.after_request
def _private(resp: Response) -> Response:
    # tokens and personal data: no shared cache may keep a driver's answer
    resp.headers.setdefault("Cache-Control", "no-store")
    return resp


def language() -> str:
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0]) or LANGUAGES[0]


def _error(code: str, detail: str, facts: dict[str, Any]) -> Response:
    lang = language()
    now = now_ms()
    retry_at = facts.get("retry_at")
    retry_ms = max(0, int(retry_at) - now) if isinstance(retry_at, int) else None
    shown = code
    if code == "payment_password_wrong" and retry_ms is not None:
        shown = "payment_password_wrong_locked"
    in_query = request.method == "GET" and facts.get("field") is not None and str(facts["field"]) in request.args
    text = message(shown, lang, in_query=in_query, retry_after_ms=retry_ms,
                   **{k: v for k, v in facts.items() if k != "retry_at"})
    if lang == "en" and code == "invalid_request" and detail:
        text = f"Bad request: {detail}."
    body: dict[str, Any] = {"code": code, "message": text}
    if "field" in facts and facts["field"] is not None:
        body["field"] = str(facts["field"])
    if code == "payment_password_wrong":
        body["attempts_left"] = int(facts.get("attempts_left", 0))
    if retry_ms is not None:
        body["retry_after_s"] = -(-retry_ms // 1000)
    resp = jsonify({"error": body})
    resp.status_code = status_of(code)
    resp.headers["Content-Language"] = lang
    resp.vary.add("Accept-Language")
    if retry_ms is not None and resp.status_code == 429:
        resp.headers["Retry-After"] = str(body["retry_after_s"])
    if resp.status_code == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="juchong-driver"'
    return resp


@bp.errorhandler(DriverError)
def _driver_error(e: DriverError) -> Response:
    return _error(e.code, e.detail, e.facts)


@bp.errorhandler(LoginError)
def _login_error(e: LoginError) -> Response:
    code = e.code.lower()
    if code not in ("wechat_code_invalid", "wechat_code_used", "wechat_user_blocked", "wechat_busy",
                    "wechat_quota", "wechat_unavailable"):
        code = "wechat_login_failed"
    current_app.logger.warning("driver login refused by WeChat: %s", e.message)
    resp = _error(code, e.message, {})
    if e.retryable:
        resp.headers["Retry-After"] = "5"
    return resp


class _NameTwice(Exception):
    def __init__(self, name: str) -> None:
        self.name = name


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # a name twice means whatever the reader picks (a proxy may read the other value): refused
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _NameTwice(key)
        out[key] = value
    return out


def _not_json(word: str) -> Any:
    raise ValueError(f"{word} is not JSON")  # NaN, Infinity, -Infinity: Python's extension


def _body(allowed: tuple[str, ...], required: tuple[str, ...] = (), optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, with only `allowed` keys and every `required` one (an
    empty body is {} when the whole body is `optional`)."""
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"more than {MAX_BODY} bytes") from None
    if optional and not raw:
        return {}
    if request.mimetype != "application/json" and not request.mimetype.endswith("+json"):
        raise InvalidField("send Content-Type: application/json", field=None)
    try:
        body = json.loads(raw, object_pairs_hook=_unique_names, parse_constant=_not_json)
    except _NameTwice as e:
        raise InvalidField(f"{e.name!r} given twice in one object", field=e.name) from None
    except (ValueError, RecursionError):
        raise InvalidField("the body is not JSON", field=None) from None
    if not isinstance(body, dict):
        raise InvalidField("the body must be a JSON object", field=None)
    for key in body:
        if key not in allowed:
            raise InvalidField(f"unknown field {key!r} (allowed: {', '.join(allowed) or 'none'})", field=key)
    for key in required:
        if key not in body:
            raise InvalidField(f"{key} is required", field=key)
    return body


def _wechat() -> WechatLogin:
    """One client (and its connection pool) per app, made at first use."""
    client = current_app.extensions.get("jc_wechat_login")
    if client is None:
        try:
            client = WechatLogin(LoginConfig.from_settings(current_app.config))
        except ValueError:
            raise WechatNotConfigured("WECHAT_APPID / WECHAT_SECRET are not set") from None
        current_app.extensions["jc_wechat_login"] = client
    return client  # type: ignore[no-any-return]


def _settings() -> service.DriverSettings:
    return service.DriverSettings.from_settings(current_app.config)


@bp.post("/login")
def login() -> Any:
    body = _body(("code",), ("code",))
    code = body["code"]
    if not isinstance(code, str) or not code or len(code) > 128:
        raise InvalidField("code must be the string wx.login gave", field="code")
    wechat = _wechat()
    with db.transaction() as s:
        result = service.login_with_code(s, wechat, code, _settings(), now_ms())
    resp = jsonify({"token": result.token, "token_type": "Bearer", "expires_at": result.expires_at,
                    "created": result.created, "driver": result.profile.as_dict()})
    resp.status_code = 201 if result.created else 200
    return resp


@bp.post("/logout")
def logout() -> Any:
    body = _body(("everywhere",), optional=True)
    everywhere = body.get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise InvalidField("everywhere must be true or false", field="everywhere")
    with db.transaction() as s:
        revoked = service.logout(s, principal(), now_ms(), everywhere=everywhere)
    return jsonify({"revoked": revoked})


@bp.get("/me")
def me() -> Any:
    return jsonify(service.get_profile(db.session, principal().driver_id, now_ms()).as_dict())


@bp.patch("/me")
def update_me() -> Any:
    body = _body(("nickname", "avatar_url", "phone"))
    with db.transaction() as s:
        profile = service.update_profile(s, principal().driver_id, body, now_ms())
    return jsonify(profile.as_dict())


@bp.post("/payment-password")
def set_payment_password() -> Any:
    body = _body(("password",), ("password",))
    service.set_payment_password(db.transaction, principal().driver_id, body["password"], now_ms())
    return jsonify({"has_payment_password": True}), 201


@bp.put("/payment-password")
def change_payment_password() -> Any:
    body = _body(("old_password", "new_password"), ("old_password", "new_password"))
    service.change_payment_password(db.transaction, principal().driver_id, body["old_password"],
                                    body["new_password"], _settings().lockout, now_ms())
    return jsonify({"has_payment_password": True})


@bp.post("/payment-password/verify")
def verify_payment_password() -> Any:
    body = _body(("password",), ("password",))
    service.verify_payment_password(db.transaction, principal().driver_id, body["password"],
                                    _settings().lockout, now_ms())
    return jsonify({"verified": True})
