"""The H5 app's login through WeChat's web authorisation, as plain functions (no Flask).

    state, nonce = begin(session, return_to, now)   # nonce → the browser's cookie, state → WeChat
    … WeChat sends the browser back with ?code&state …
    return_to = consume(session, state, nonce, now) # once; raises LoginStateInvalid otherwise
    result = login_with_oauth(session, oauth, code, settings, oa_appid, now)

The state is CSRF protection (RFC 6749 §10.12): it is random, bound to the browser that
started the login (its nonce must come back in that browser's cookie: a callback link sent to
someone else fails) and single use (`used_at`, set by one conditional UPDATE, so two callbacks
racing with one state cannot both pass). `return_to` is an app route checked by `safe_return_to`
(pure), so the callback can never be made to redirect off this site.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cloud.drivers.errors import DriverError
from cloud.drivers.models import WebLoginState
from cloud.drivers.service import DriverSettings, LoginResult, login
from cloud.wechat.oauth import OAuthUser

STATE_TTL_MS = 10 * 60_000  # WeChat's code lives 5 minutes; a person may read the page a while
DEFAULT_RETURN = "#/stations"
# an app route: "#/" then route characters; no "//", backslash, scheme or control character
_ROUTE = re.compile(r"#/[a-z]+(/[A-Za-z0-9_\-%.~]*)?(\?[A-Za-z0-9_\-%.~=&]*)?")


class LoginStateInvalid(DriverError):
    """The callback's state is missing, forged, expired, already used or from another browser."""

    code = "login_state_invalid"


class OAuthClient(Protocol):
    """What the login needs of cloud.wechat.oauth.WechatOAuth."""

    def login(self, code: str) -> OAuthUser: ...


def safe_return_to(value: object) -> str:
    """Where the app goes after login: an app route (`#/scan?g=JC-1`), else the station list.
    Anything else (an absolute or scheme-relative URL, a path, odd characters) is dropped."""
    if isinstance(value, str) and len(value) <= 200 and _ROUTE.fullmatch(value):
        return value
    return DEFAULT_RETURN


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def begin(session: Session, return_to: object, now: int, ttl_ms: int = STATE_TTL_MS) -> tuple[str, str]:
    """A new login under way: (state for WeChat, nonce for the browser's cookie)."""
    # expired states of abandoned logins go here rather than in a job: one indexed DELETE
    session.execute(delete(WebLoginState).where(WebLoginState.expires_at < now - ttl_ms))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(WebLoginState(state_sha256=_sha(state), nonce_sha256=_sha(nonce),
                              return_to=safe_return_to(return_to), created_at=now, expires_at=now + ttl_ms))
    session.flush()
    return state, nonce


def consume(session: Session, state: object, nonce: object, now: int) -> str:
    """The return route of this login, once: the state must be one `begin` made, unexpired,
    unused, and come with the nonce of the browser it was made for."""
    if not (isinstance(state, str) and 0 < len(state) <= 128 and isinstance(nonce, str) and 0 < len(nonce) <= 128):
        raise LoginStateInvalid("the state or the browser's login cookie is missing")
    key = _sha(state)
    used = session.execute(
        update(WebLoginState)
        .where(WebLoginState.state_sha256 == key, WebLoginState.nonce_sha256 == _sha(nonce),
               WebLoginState.used_at.is_(None), WebLoginState.expires_at > now)
        .values(used_at=now))
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LoginStateInvalid("unknown, expired, used or another browser's state")
    return str(session.scalar(select(WebLoginState.return_to).where(WebLoginState.state_sha256 == key)))


def login_with_oauth(session: Session, oauth: OAuthClient, code: str, settings: DriverSettings,
                     oa_appid: str, now: int) -> LoginResult:
    """Exchange the authorisation code with WeChat (before touching the database), then log
    the person in: the driver the mini-program knows when WeChat gives a unionid, else the
    official account's own openid. WeChat's refusals raise cloud.wechat.login.LoginError."""
    user = oauth.login(code)
    return login(session, user.session(), settings, now, appid=oa_appid,
                 nickname=user.nickname, avatar_url=user.avatar_url)
