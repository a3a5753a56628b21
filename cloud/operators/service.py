"""Operators, their passwords and console sessions (plain functions, no Flask request objects).

Passwords are argon2id hashes (argon2-cffi). A wrong password, an unknown login, an inactive
or locked account all raise the same `LoginFailed`, and an unknown login still costs one hash
verification, so neither the answer nor its time tells which it was. `max_failures` wrong
passwords in a row lock the account for `lock_ms`. Sessions are rows: a random token in the
cookie, its SHA-256 here, an absolute expiry and an idle timeout; logout, a password change
and deactivation revoke them. Every change is written to the audit log in its transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.models import Station
from cloud.models.base import now_ms
from cloud.operators.models import Operator, OperatorSession, OperatorStation
from cloud.operators.roles import ROLES, allowed

# argon2-cffi's defaults (RFC 9106's low-memory profile); the tests swap in cheap parameters
HASHER = PasswordHasher()
_dummy: dict[int, str] = {}


def _dummy_hash() -> str:
    """A hash made with the current hasher's cost, verified when there is no real one to
    check, so that an unknown or locked login takes as long as a wrong password."""
    key = id(HASHER)
    if key not in _dummy:
        _dummy[key] = HASHER.hash("juchong-no-such-operator")
    return _dummy[key]
LOGIN_RE = re.compile(r"^[A-Za-z0-9_.\-]{2,64}$")
PHONE_RE = re.compile(r"^\+?[0-9\- ]{5,20}$")
MIN_PASSWORD, MAX_PASSWORD = 10, 256


class OperatorError(ValueError):
    """A request the rules refuse; `code` is stable, the message English."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class LoginFailed(Exception):
    """Login refused: wrong name or password, locked or inactive (deliberately one error)."""


class PermissionDenied(Exception):
    """The operator's role does not allow this."""


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lock_ms: int = 15 * 60_000


@dataclass(frozen=True)
class SessionPolicy:
    ttl_ms: int = 12 * 3600_000
    idle_ms: int = 30 * 60_000


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise OperatorError("password_invalid", f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    if len(set(password)) < 4:
        raise OperatorError("password_invalid", "a password needs at least 4 different characters")


def _check_fields(login: str, role: str, display_name: str | None, phone: str | None) -> None:
    if not LOGIN_RE.match(login or ""):
        raise OperatorError("login_invalid", "a login name has 2 to 64 of A-Z a-z 0-9 _ . -")
    if role not in ROLES:
        raise OperatorError("role_invalid", f"role must be one of {', '.join(ROLES)}")
    if display_name is not None and len(display_name) > 64:
        raise OperatorError("display_name_invalid", "a display name has at most 64 characters")
    if phone and not PHONE_RE.match(phone):
        raise OperatorError("phone_invalid", "a phone number has 5 to 20 digits")


def by_login(s: Session, login: str) -> Operator | None:
    return s.scalar(select(Operator).where(Operator.login == login))


def get(s: Session, operator_id: int) -> Operator | None:
    return s.get(Operator, operator_id)


def _check_stations(s: Session, role: str, sids: Iterable[str]) -> list[str]:
    wanted = sorted(set(sids))
    if wanted and role != "owner":
        raise OperatorError("stations_for_owner_only", "only a station owner is given stations")
    known = set(s.scalars(select(Station.sid).where(Station.sid.in_(wanted)))) if wanted else set()
    missing = [sid for sid in wanted if sid not in known]
    if missing:
        raise OperatorError("station_unknown", f"no such station: {', '.join(missing)}")
    return wanted


def _set_stations(s: Session, op: Operator, sids: Iterable[str]) -> list[str]:
    wanted = _check_stations(s, op.role, sids)
    s.execute(delete(OperatorStation).where(OperatorStation.operator_id == op.id))
    s.add_all(OperatorStation(operator_id=op.id, sid=sid) for sid in wanted)
    s.flush()
    return wanted


def create(s: Session, login: str, *, role: str, password: str, display_name: str | None = None,
           phone: str | None = None, stations: Iterable[str] = (), actor: str, ip: str | None = None) -> Operator:
    _check_fields(login, role, display_name, phone)
    check_password(password)
    _check_stations(s, role, stations)
    if by_login(s, login) is not None:
        raise OperatorError("login_taken", f"an operator named {login!r} exists")
    op = Operator(login=login, role=role, display_name=display_name or None, phone=phone or None,
                  password_hash=HASHER.hash(password), active=True, failures=0)
    s.add(op)
    s.flush()
    sids = _set_stations(s, op, stations)
    audit.record(s, actor, "operator.create", f"operator:{login}",
                 {"role": role, "display_name": op.display_name, "phone": op.phone, "stations": sids}, ip)
    return op


def update_operator(s: Session, op: Operator, *, role: str | None = None, display_name: str | None = None,
                    phone: str | None = None, active: bool | None = None, stations: Iterable[str] | None = None,
                    actor: str, ip: str | None = None) -> Operator:
    """Change the given fields (None: unchanged; "" clears a display name or phone)."""
    new_role = op.role if role is None else role
    _check_fields(op.login, new_role, display_name, phone)
    if stations is not None:
        _check_stations(s, new_role, stations)
    before = {"role": op.role, "display_name": op.display_name, "phone": op.phone, "active": op.active,
              "stations": owned_sids(s, op)}
    if new_role != "owner" and stations is None and before["stations"]:
        stations = ()
    op.role = new_role
    if display_name is not None:
        op.display_name = display_name or None
    if phone is not None:
        op.phone = phone or None
    if active is not None:
        op.active = bool(active)
    sids = _set_stations(s, op, stations) if stations is not None else before["stations"]
    after = {"role": op.role, "display_name": op.display_name, "phone": op.phone, "active": op.active,
             "stations": sids}
    changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if not changed:
        return op
    op.updated_at = now_ms()
    if not op.active or "role" in changed or "stations" in changed:
        # what a live session may do changed: it logs in afresh
        revoke_sessions(s, op, "deactivated" if not op.active else "role")
    audit.record(s, actor, "operator.update", f"operator:{op.login}", changed, ip)
    return op


def set_password(s: Session, op: Operator, password: str, *, actor: str, ip: str | None = None) -> None:
    """New password; every live session of the operator ends, the lock and count are cleared."""
    check_password(password)
    now = now_ms()
    op.password_hash = HASHER.hash(password)
    op.password_changed_at = op.updated_at = now
    op.failures, op.locked_until = 0, None
    revoke_sessions(s, op, "password", now=now)
    audit.record(s, actor, "operator.password", f"operator:{op.login}", None, ip)


def _verify(stored: str, password: str) -> bool:
    try:
        return HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Attempt:
    """A login attempt between its booking and its verdict (begin_login → finish_login)."""

    login: str
    operator_id: int | None
    password_hash: str
    refused: str | None  # unknown | locked | inactive: refused whatever the password
    failures: int = 0  # the count with this attempt booked as wrong
    locked_until: int | None = None  # set when this booking reached the limit


def begin_login(s: Session, login: str, *, policy: LoginPolicy = LoginPolicy(), now: int | None = None,
                ip: str | None = None) -> Attempt:
    """Book the attempt as a wrong password before the password is checked (so attempts in
    parallel each count, and `max_failures` of them lock the account), in a short transaction
    of its own. The first statement writes: on SQLite it takes the write lock at once, so
    the transaction never reads a snapshot that a concurrent writer makes stale."""
    now = now_ms() if now is None else now
    login = (login or "")[:64]
    s.execute(update(Operator).where(Operator.login == login).values(failures=Operator.failures + 1))
    op = s.scalar(select(Operator).where(Operator.login == login).with_for_update()) if login else None
    if op is None:
        audit.record(s, login or "?", "login.failed", None, {"reason": "unknown"}, ip, ts=now)
        return Attempt(login, None, _dummy_hash(), "unknown")
    if (op.locked_until is not None and now < op.locked_until) or not op.active:
        op.failures -= 1  # refused unchecked: not counted
        reason = "inactive" if not op.active else "locked"
        audit.record(s, op.login, "login.failed", f"operator:{op.login}", {"reason": reason}, ip, ts=now)
        return Attempt(op.login, op.id, _dummy_hash(), reason)
    failures, locked_until = op.failures, None
    if op.failures >= policy.max_failures:
        op.failures, op.locked_until = 0, now + policy.lock_ms
        locked_until = op.locked_until
    return Attempt(op.login, op.id, op.password_hash, None, failures, locked_until)


def verify_password(attempt: Attempt, password: str) -> bool:
    """The slow part (argon2), outside any transaction; refused attempts verify a dummy hash
    so that they take as long."""
    ok = _verify(attempt.password_hash, (password or "")[:MAX_PASSWORD])
    return ok and attempt.refused is None


def finish_login(s: Session, attempt: Attempt, ok: bool, *, password: str | None = None, now: int | None = None,
                 ip: str | None = None) -> Operator:
    """The verdict: a right password clears the count (and a lock its own booking set) and
    returns the operator; a wrong one stays booked and raises LoginFailed."""
    now = now_ms() if now is None else now
    if attempt.refused is not None or attempt.operator_id is None:
        raise LoginFailed()
    if not ok:
        detail: dict[str, object] = {"reason": "password", "failures": attempt.failures}
        if attempt.locked_until is not None:
            detail["locked_until"] = attempt.locked_until
        audit.record(s, attempt.login, "login.failed", f"operator:{attempt.login}", detail, ip, ts=now)
        raise LoginFailed()
    s.execute(update(Operator).where(Operator.id == attempt.operator_id)
              .values(failures=0, locked_until=None, last_login_at=now))
    op = s.get(Operator, attempt.operator_id, populate_existing=True)
    if op is None or not op.active or op.password_hash != attempt.password_hash:
        raise LoginFailed()  # changed while the password was being checked
    if password is not None and HASHER.check_needs_rehash(op.password_hash):
        op.password_hash = HASHER.hash(password)
    audit.record(s, op.login, "login", f"operator:{op.login}", None, ip, ts=now)
    return op


def authenticate(s: Session, login: str, password: str, *, policy: LoginPolicy = LoginPolicy(),
                 now: int | None = None, ip: str | None = None) -> Operator:
    """begin_login, verify_password and finish_login in one transaction (the command line and
    tests); the console runs the three apart so that no transaction waits on argon2."""
    now = now_ms() if now is None else now
    attempt = begin_login(s, login, policy=policy, now=now, ip=ip)
    ok = verify_password(attempt, password)
    return finish_login(s, attempt, ok, password=password, now=now, ip=ip)


def start_session(s: Session, op: Operator, *, policy: SessionPolicy = SessionPolicy(),
                  now: int | None = None, ip: str | None = None) -> str:
    """A new console session; the returned token goes into the (signed) session cookie."""
    now = now_ms() if now is None else now
    token = secrets.token_urlsafe(32)
    s.add(OperatorSession(operator_id=op.id, token_sha256=_digest(token), created_at=now, last_seen_at=now,
                          expires_at=now + policy.ttl_ms, ip=None if ip is None else ip[:64]))
    s.flush()
    return token


def session_live(row: OperatorSession, now: int, policy: SessionPolicy) -> bool:
    """Not revoked, not past its expiry, not idle longer than the idle timeout (pure)."""
    return row.revoked_at is None and now < row.expires_at and now - row.last_seen_at < policy.idle_ms


# An active session's last_seen_at is written at most this often (not on every request).
TOUCH_EVERY_MS = 30_000


def live_session(s: Session, token: str, *, policy: SessionPolicy = SessionPolicy(),
                 now: int | None = None) -> tuple[Operator, OperatorSession] | None:
    """The operator and row of a live session, else None (reads only)."""
    if not token or len(token) > 128:
        return None
    now = now_ms() if now is None else now
    row = s.scalar(select(OperatorSession).where(OperatorSession.token_sha256 == _digest(token)))
    if row is None or not session_live(row, now, policy):
        return None
    op = s.get(Operator, row.operator_id)
    if op is None or not op.active:
        return None
    return op, row


def needs_touch(row: OperatorSession, now: int) -> bool:
    return now - row.last_seen_at >= TOUCH_EVERY_MS


def touch(s: Session, session_id: int, now: int) -> None:
    """Note a session's activity (one UPDATE: a transaction of its own may start with it)."""
    s.execute(update(OperatorSession).where(OperatorSession.id == session_id,
                                            OperatorSession.last_seen_at < now).values(last_seen_at=now))


def resume(s: Session, token: str, *, policy: SessionPolicy = SessionPolicy(),
           now: int | None = None) -> Operator | None:
    """The operator of a live session (and the session's activity noted), else None."""
    now = now_ms() if now is None else now
    found = live_session(s, token, policy=policy, now=now)
    if found is None:
        return None
    if needs_touch(found[1], now):
        touch(s, found[1].id, now)
    return found[0]


def end_session(s: Session, token: str, *, ip: str | None = None) -> None:
    row = s.scalar(select(OperatorSession).where(OperatorSession.token_sha256 == _digest(token or "")))
    if row is None or row.revoked_at is not None:
        return
    row.revoked_at, row.revoke_reason = now_ms(), "logout"
    op = s.get(Operator, row.operator_id)
    audit.record(s, op.login if op else "?", "logout", f"operator:{op.login if op else '?'}", None, ip)


def revoke_sessions(s: Session, op: Operator, reason: str, *, now: int | None = None) -> int:
    result = s.execute(update(OperatorSession)
                       .where(OperatorSession.operator_id == op.id, OperatorSession.revoked_at.is_(None))
                       .values(revoked_at=now_ms() if now is None else now, revoke_reason=reason[:16]))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def owned_sids(s: Session, op: Operator) -> list[str]:
    return sorted(s.scalars(select(OperatorStation.sid).where(OperatorStation.operator_id == op.id)))


def visible_sids(s: Session, op: Operator) -> set[str] | None:
    """The stations whose data this operator may see: None for all, else exactly these (an
    owner's own; an owner without stations sees nothing). Every service that lists or exports
    station data takes this as its `sids` argument."""
    if op.role != "owner":
        return None
    return set(owned_sids(s, op))


def require_role(op: Operator, *roles: str) -> None:
    if op.role not in roles:
        raise PermissionDenied(f"{op.login} ({op.role}) is not {' or '.join(roles)}")


def require(op: Operator, area: str, *, write: bool = False) -> None:
    """PermissionDenied unless the operator's role may read (or change) the area."""
    if not allowed(op.role, area, write):
        raise PermissionDenied(f"{op.login} ({op.role}) may not {'change' if write else 'see'} {area}")


@dataclass(frozen=True)
class OperatorPage:
    operators: list[Operator]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def listing(s: Session, *, page: int = 1, per_page: int = 50) -> OperatorPage:
    per_page = max(1, min(per_page, 200))
    total = int(s.scalar(select(func.count()).select_from(Operator)) or 0)
    page = max(1, min(page, max(1, -(-total // per_page))))
    rows = list(s.scalars(select(Operator).order_by(Operator.login).offset((page - 1) * per_page).limit(per_page)))
    return OperatorPage(rows, total, page, per_page)


def stations_of(s: Session, ops: Iterable[Operator]) -> dict[int, list[str]]:
    ids = [op.id for op in ops]
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for oid, sid in s.execute(select(OperatorStation.operator_id, OperatorStation.sid)
                                  .where(OperatorStation.operator_id.in_(ids)).order_by(OperatorStation.sid)):
            out[oid].append(sid)
    return out
