"""Driver accounts as plain functions over a SQLAlchemy session: log in with WeChat, tokens,
profile, payment password. Called by the API views (cloud/api/driver.py) and later the
console, jobs and CLI; none of them sees a Flask request. Times are epoch ms, passed in.

Functions that take a `session` leave committing to the caller. Those that check a payment
password take `transactions` instead (e.g. `db.transaction` or `sessionmaker.begin`): the
attempt is booked and committed before the slow argon2 check, so that no lock is held while
it runs and racing attempts cannot slip past the lockout (see lockout.py).

Each write path starts with a write, never a read: on SQLite a transaction that has read
cannot always upgrade to writing while others write, and on PostgreSQL the first UPDATE is
what makes concurrent attempts on one driver take turns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from argon2 import PasswordHasher
from sqlalchemy import bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore, take_write_lock
from cloud.drivers import lockout, paypassword, tokens
from cloud.drivers.errors import (
    DriverBlocked,
    PaymentPasswordExists,
    PaymentPasswordLocked,
    PaymentPasswordNotSet,
    PaymentPasswordWrong,
    TokenExpired,
    TokenInvalid,
    UnknownDriver,
)
from cloud.drivers.models import Driver, DriverOpenid, DriverSession, PaymentPassword
from cloud.drivers.profile import clean_changes
from cloud.wechat.login import WechatSession

Transactions = Callable[[], AbstractContextManager[Session]]


class CodeExchanger(Protocol):
    """What login needs of the WeChat client (cloud.wechat.login.WechatLogin)."""

    def code2session(self, code: str) -> WechatSession: ...


@dataclass(frozen=True)
class DriverSettings:
    appid: str
    token_ttl_ms: int = 30 * 86400_000
    max_sessions: int = 10  # live logins per driver; a new one retires the oldest beyond
    lockout: lockout.Policy = field(default_factory=lockout.Policy)

    @classmethod
    def from_settings(cls, s: Mapping[str, Any]) -> DriverSettings:
        return cls(appid=str(s.get("WECHAT_APPID") or ""),
                   token_ttl_ms=int(s["DRIVER_TOKEN_TTL_S"]) * 1000,
                   max_sessions=int(s["DRIVER_MAX_SESSIONS"]),
                   lockout=lockout.Policy(max_failures=int(s["PAYMENT_PASSWORD_MAX_FAILURES"]),
                                          window_ms=int(s["PAYMENT_PASSWORD_WINDOW_S"]) * 1000,
                                          lock_ms=int(s["PAYMENT_PASSWORD_LOCK_S"]) * 1000))


@dataclass(frozen=True)
class Principal:
    """Who a live driver token speaks for."""

    driver_id: int
    session_id: int
    expires_at: int


@dataclass(frozen=True)
class Profile:
    id: int
    nickname: str | None
    avatar_url: str | None
    phone: str | None
    created_at: int
    last_login_at: int
    has_payment_password: bool
    payment_password_locked_until: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LoginResult:
    token: str  # shown once; only its SHA-256 is kept
    expires_at: int
    created: bool  # a new driver
    profile: Profile


# --- login and tokens ---------------------------------------------------------------------------
def login_with_code(session: Session, wechat: CodeExchanger, code: str, settings: DriverSettings,
                    now: int) -> LoginResult:
    """Exchange a wx.login code with WeChat (before touching the database), then log in.
    WeChat's refusals raise cloud.wechat.login.LoginError subclasses."""
    return login(session, wechat.code2session(code), settings, now)


def login(session: Session, ws: WechatSession, settings: DriverSettings, now: int, *,
          appid: str | None = None, nickname: str | None = None, avatar_url: str | None = None) -> LoginResult:
    """The driver this WeChat user is (made on first login), and a new token for them.

    `appid` is the app the openid belongs to: the mini-program (settings.appid, the default)
    or the official account of the H5 app. One person is one driver, one wallet: a login whose
    (appid, openid) is new but whose unionid a driver already has logs in as that driver. The
    driver's own (appid, openid) is the mini-program's once known, since WeChat Pay orders in
    the mini-program are made for that openid. `nickname`/`avatar_url` (from WeChat's
    userinfo) fill a profile that has none; what the driver set stays."""
    if not settings.appid:
        raise ValueError("WECHAT_APPID is not set")
    app = appid or settings.appid
    # one login at a time per unionid, so that two first logins of one person from both apps
    # cannot make two drivers; on SQLite the write lock serialises every writer anyway
    take_write_lock(session)
    if ws.unionid and session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:u))"), {"u": "jc-unionid:" + ws.unionid})
    driver = session.scalars(select(Driver).where(Driver.appid == app, Driver.openid == ws.openid)).one_or_none()
    created = False
    if driver is None and ws.unionid:
        driver = session.scalars(select(Driver).where(Driver.unionid == ws.unionid)
                                 .order_by(Driver.id).limit(1)).one_or_none()
        if driver is not None and app == settings.appid and driver.appid != settings.appid:
            driver.appid, driver.openid = app, ws.openid
    if driver is None:
        created = bool(insert_or_ignore(session, Driver.__table__, [{
            "appid": app, "openid": ws.openid, "unionid": ws.unionid, "blocked": False,
            "created_at": now, "updated_at": now, "last_login_at": now}], returning=[Driver.__table__.c.id]))
        driver = session.scalars(select(Driver).where(Driver.appid == app, Driver.openid == ws.openid)).one()
    if driver.blocked:
        raise DriverBlocked(f"driver {driver.id} is blocked", driver_id=driver.id)
    insert_or_ignore(session, DriverOpenid.__table__, [{"appid": app, "openid": ws.openid, "driver_id": driver.id,
                                                        "created_at": now}])
    driver.last_login_at = now
    if ws.unionid and driver.unionid != ws.unionid:
        driver.unionid = ws.unionid
    if nickname and not driver.nickname:
        driver.nickname = nickname[:64]
    if avatar_url and not driver.avatar_url:
        driver.avatar_url = avatar_url[:512]
    token = tokens.new_token()
    expires_at = now + settings.token_ttl_ms
    session.add(DriverSession(driver_id=driver.id, token_sha256=tokens.digest(token), created_at=now,
                              expires_at=expires_at))
    session.flush()
    _retire_beyond(session, driver.id, settings.max_sessions, now)
    return LoginResult(token, expires_at, created, _profile(session, driver))


def openid_for(session: Session, driver_id: int, appid: str) -> str | None:
    """The driver's openid under `appid` (None: they never logged in through that app)."""
    found = session.scalar(select(DriverOpenid.openid).where(DriverOpenid.driver_id == driver_id,
                                                            DriverOpenid.appid == appid).limit(1))
    if found is None:  # a driver made before 0027_h5pay whose own app it is
        found = session.scalar(select(Driver.openid).where(Driver.id == driver_id, Driver.appid == appid))
    return found


def _retire_beyond(session: Session, driver_id: int, keep: int, now: int) -> None:
    live = session.scalars(
        select(DriverSession.id).where(DriverSession.driver_id == driver_id,
                                       DriverSession.revoked_at.is_(None), DriverSession.expires_at > now)
        .order_by(DriverSession.id.desc()).offset(keep)).all()
    if live:
        session.execute(update(DriverSession).where(DriverSession.id.in_(live))
                        .values(revoked_at=now, revoke_reason="superseded"))


_DS, _D = DriverSession.__table__, Driver.__table__
# built once with a bound parameter and run as Core: every driver request makes this check
# (the progress poll every 5 s per charging driver), and a statement made anew per call cost
# SQLAlchemy a walk of its tree for the compiled-SQL cache each time. TOKEN_*: what a token
# check reads (one row, or none for an unknown token); the progress poll
# (cloud/charging/progress.py) reads them in its own statement, beside the order's.
TOKEN_COLUMNS = (_DS.c.id, _DS.c.driver_id, _DS.c.expires_at, _DS.c.revoked_at, _D.c.blocked)
TOKEN_FROM = _DS.join(_D, _D.c.id == _DS.c.driver_id)
TOKEN_DIGEST = _DS.c.token_sha256
_BY_TOKEN = select(*TOKEN_COLUMNS).select_from(TOKEN_FROM).where(TOKEN_DIGEST == bindparam("digest"))


def authenticate(session: Session, token: str, now: int) -> Principal:
    """The driver a presented token speaks for; TokenInvalid (unknown, revoked, a tool's
    token), TokenExpired, or DriverBlocked."""
    if not tokens.well_formed(token):
        raise TokenInvalid("not a driver token")
    return principal_of(session.connection().execute(_BY_TOKEN, {"digest": tokens.digest(token)}).first(), now)


def principal_of(row: Any, now: int) -> Principal:
    """The rule of `authenticate` over the token's row (TOKEN_COLUMNS, or None if unknown)."""
    if row is None or row.revoked_at is not None:
        raise TokenInvalid("unknown or revoked token")
    if row.blocked:
        raise DriverBlocked("the driver is blocked", driver_id=row.driver_id)
    if now >= row.expires_at:
        raise TokenExpired("the token has expired", expired_at=row.expires_at)
    return Principal(row.driver_id, row.id, row.expires_at)


def logout(session: Session, who: Principal, now: int, everywhere: bool = False) -> int:
    """Revoke the token used (or every live token of the driver); how many were revoked."""
    cond = (DriverSession.driver_id == who.driver_id) if everywhere else (DriverSession.id == who.session_id)
    result = session.execute(update(DriverSession).where(cond, DriverSession.revoked_at.is_(None))
                             .values(revoked_at=now, revoke_reason="logout_all" if everywhere else "logout"))
    return int(result.rowcount)  # type: ignore[attr-defined]


def revoke_sessions(session: Session, driver_id: int, reason: str, now: int) -> int:
    result = session.execute(update(DriverSession)
                             .where(DriverSession.driver_id == driver_id, DriverSession.revoked_at.is_(None))
                             .values(revoked_at=now, revoke_reason=reason[:16]))
    return int(result.rowcount)  # type: ignore[attr-defined]


def set_blocked(session: Session, driver_id: int, blocked: bool, now: int) -> None:
    """Block (every token refused at once, and revoked) or unblock a driver."""
    result = session.execute(update(Driver).where(Driver.id == driver_id).values(blocked=blocked, updated_at=now))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise UnknownDriver(f"no driver {driver_id}")
    if blocked:
        revoke_sessions(session, driver_id, "blocked", now)


def purge_sessions(session: Session, now: int, keep_ms: int = 30 * 86400_000) -> int:
    """Delete sessions that expired or were revoked more than `keep_ms` ago (for a job)."""
    cutoff = now - keep_ms
    result = session.execute(delete(DriverSession).where(or_(DriverSession.expires_at < cutoff,
                                                             DriverSession.revoked_at < cutoff)))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- profile ------------------------------------------------------------------------------------
def _profile(session: Session, driver: Driver) -> Profile:
    pp = session.get(PaymentPassword, driver.id)
    return Profile(id=driver.id, nickname=driver.nickname, avatar_url=driver.avatar_url, phone=driver.phone,
                   created_at=driver.created_at, last_login_at=driver.last_login_at,
                   has_payment_password=pp is not None,
                   payment_password_locked_until=pp.locked_until if pp is not None else None)


def get_profile(session: Session, driver_id: int, now: int | None = None) -> Profile:
    driver = session.get(Driver, driver_id)
    if driver is None:
        raise UnknownDriver(f"no driver {driver_id}")
    p = _profile(session, driver)
    if now is not None and p.payment_password_locked_until is not None and p.payment_password_locked_until <= now:
        p = Profile(**{**p.as_dict(), "payment_password_locked_until": None})
    return p


def update_profile(session: Session, driver_id: int, changes: Any, now: int) -> Profile:
    """Apply a PATCH body ({nickname?, avatar_url?, phone?}; null clears), checked first."""
    values = clean_changes(changes)
    result = session.execute(update(Driver).where(Driver.id == driver_id).values(**values, updated_at=now))
    if not result.rowcount:  # type: ignore[attr-defined]
        raise UnknownDriver(f"no driver {driver_id}")
    session.expire_all()
    return get_profile(session, driver_id, now)


# --- payment password ---------------------------------------------------------------------------
def set_payment_password(transactions: Transactions, driver_id: int, password: Any, now: int,
                         hasher: PasswordHasher = paypassword.HASHER) -> None:
    """Set the first payment password; PaymentPasswordExists if one is set (change it instead).
    Whether one is set is asked before hashing, so that repeating this costs no argon2 work."""
    pw = paypassword.check_new(password, "password")
    with transactions() as s:
        if s.get(PaymentPassword, driver_id) is not None:
            raise PaymentPasswordExists("a payment password is set already")
    hashed = paypassword.hash_password(pw, hasher)
    with transactions() as s:
        added = insert_or_ignore(s, PaymentPassword.__table__, [{
            "driver_id": driver_id, "password_hash": hashed, "failures": "", "locked_until": None,
            "attempts": 0, "created_at": now, "updated_at": now}],
            returning=[PaymentPassword.__table__.c.driver_id])
    if not added:
        raise PaymentPasswordExists("a payment password is set already")


def verify_payment_password(transactions: Transactions, driver_id: int, password: Any,
                            policy: lockout.Policy, now: int,
                            hasher: PasswordHasher = paypassword.HASHER) -> None:
    """Returns when `password` is the driver's; raises PaymentPasswordNotSet,
    PaymentPasswordLocked (retry_at), PaymentPasswordWrong (attempts_left; retry_at when this
    attempt locked it) or PaymentPasswordFormat (not six digits: no attempt spent)."""
    pw = paypassword.check_format(password, "password")
    with transactions() as s:
        took_turn = s.execute(update(PaymentPassword).where(PaymentPassword.driver_id == driver_id)
                              .values(attempts=PaymentPassword.attempts + 1))
        if not took_turn.rowcount:  # type: ignore[attr-defined]
            raise PaymentPasswordNotSet("no payment password is set")
        row = s.execute(select(PaymentPassword.password_hash, PaymentPassword.failures,
                               PaymentPassword.locked_until)
                        .where(PaymentPassword.driver_id == driver_id)).one()
        state = lockout.State(lockout.decode(row.failures), row.locked_until)
        step = lockout.begin(state, now, policy)
        if not step.allowed:
            raise PaymentPasswordLocked("locked after repeated wrong attempts", retry_at=step.retry_at)
        s.execute(update(PaymentPassword).where(PaymentPassword.driver_id == driver_id)
                  .values(failures=lockout.encode(step.state.failures), locked_until=step.state.locked_until,
                          updated_at=now))
        stored = row.password_hash
    if not paypassword.verify(stored, pw, hasher):
        raise PaymentPasswordWrong("wrong payment password", attempts_left=step.attempts_left,
                                   retry_at=step.state.locked_until)
    cleared = lockout.succeed()
    values: dict[str, Any] = {"failures": lockout.encode(cleared.failures), "locked_until": cleared.locked_until,
                              "attempts": PaymentPassword.attempts + 1, "updated_at": now}
    if paypassword.needs_rehash(stored, hasher):
        values["password_hash"] = paypassword.hash_password(pw, hasher)
    with transactions() as s:
        s.execute(update(PaymentPassword).where(PaymentPassword.driver_id == driver_id,
                                                PaymentPassword.password_hash == stored).values(**values))


def change_payment_password(transactions: Transactions, driver_id: int, old: Any, new: Any,
                            policy: lockout.Policy, now: int,
                            hasher: PasswordHasher = paypassword.HASHER) -> None:
    """Change it, given the old one; the old one is checked under the same lockout."""
    paypassword.check_format(old, "old_password")
    pw = paypassword.check_new(new, "new_password")
    verify_payment_password(transactions, driver_id, old, policy, now, hasher)
    hashed = paypassword.hash_password(pw, hasher)
    with transactions() as s:
        s.execute(update(PaymentPassword).where(PaymentPassword.driver_id == driver_id)
                  .values(password_hash=hashed, failures="", locked_until=None,
                          attempts=PaymentPassword.attempts + 1, updated_at=now))


def listing(session: Session, *, query: str = "", page: int = 1, per_page: int = 50) -> tuple[list[Driver], int]:
    """Drivers newest first; `query` matches a phone, nickname or id."""
    from sqlalchemy import func

    conds = []
    q = (query or "").strip()[:64]
    if q:
        like = f"%{q}%"
        conds.append(or_(Driver.phone.like(like), Driver.nickname.like(like),
                         Driver.id == (int(q) if q.isascii() and q.isdigit() and len(q) < 18 else -1)))
    rows = list(session.scalars(select(Driver).where(*conds).order_by(Driver.id.desc())
                                .offset((page - 1) * per_page).limit(per_page)))
    return rows, int(session.scalar(select(func.count()).select_from(Driver).where(*conds)) or 0)


def get_driver(session: Session, driver_id: int) -> Driver | None:
    return session.get(Driver, driver_id)
