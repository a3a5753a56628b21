"""Operators' service on SQLite and PostgreSQL (passwords, lockout, sessions, owner scoping,
the audit listing), `jc-cloud operator`, the language switch and the formatting filters."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.audit.models import AuditEntry
from cloud.models import Station
from cloud.operators import service
from cloud.operators.models import Operator
from cloud.operators.roles import AREAS, PERMISSIONS, ROLES, allowed
from tests.console.support import PASSWORD, csrf_of, login, make_operator


def test_service_rules_on_both_databases(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        s.add_all([Station(sid="S1"), Station(sid="S2")])
        s.flush()
        root = service.create(s, "root", role="admin", password=PASSWORD, actor="test")
        own = service.create(s, "own", role="owner", password=PASSWORD, stations=["S2", "S2"], actor="root")
        for bad, code in ((dict(login="root"), "login_taken"), (dict(login="a b"), "login_invalid"),
                          (dict(role="king"), "role_invalid"), (dict(password="short"), "password_invalid"),
                          (dict(password="aaaaaaaaaaaa"), "password_invalid"),
                          (dict(stations=["S1"]), "stations_for_owner_only"),
                          (dict(role="owner", stations=["S9"]), "station_unknown")):
            args = {"login": "new", "role": "operator", "password": PASSWORD, **bad}
            with pytest.raises(service.OperatorError) as e:
                service.create(s, args.pop("login"), actor="test", **args)
            assert e.value.code == code, bad
        assert service.visible_sids(s, root) is None
        assert service.visible_sids(s, own) == {"S2"}
        service.require(own, "stations")
        with pytest.raises(service.PermissionDenied):
            service.require(own, "stations", write=True)
        with pytest.raises(service.PermissionDenied):
            service.require_role(own, "admin", "finance")
        # sessions: live, then revoked by a role change
        now = 1_800_000_000_000
        policy = service.SessionPolicy(ttl_ms=3600_000, idle_ms=600_000)
        token = service.start_session(s, own, policy=policy, now=now)
        assert service.resume(s, token, policy=policy, now=now + 599_000) is own
        assert service.resume(s, token + "x", policy=policy, now=now) is None
        service.update_operator(s, own, stations=["S1", "S2"], actor="root")
        assert service.resume(s, token, policy=policy, now=now + 1000) is None
        assert service.visible_sids(s, own) == {"S1", "S2"}
        # lockout: 3 wrong in a row lock for a minute, the count starts afresh
        lp = service.LoginPolicy(max_failures=3, lock_ms=60_000)
        for n in range(3):
            with pytest.raises(service.LoginFailed):
                service.authenticate(s, "own", "nope nope nope", policy=lp, now=now + n)
        assert own.locked_until == now + 2 + 60_000 and own.failures == 0
        with pytest.raises(service.LoginFailed):
            service.authenticate(s, "own", PASSWORD, policy=lp, now=now + 59_000)
        assert service.authenticate(s, "own", PASSWORD, policy=lp, now=now + 62_003) is own
        # a deactivated operator cannot log in, even with the right password
        service.update_operator(s, own, active=False, actor="root")
        with pytest.raises(service.LoginFailed):
            service.authenticate(s, "own", PASSWORD, policy=lp, now=now + 70_000)
        actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
        assert actions[:2] == ["operator.create", "operator.create"]
        assert actions.count("login.failed") == 5 and "login" in actions and actions.count("operator.update") == 2
        # keyset pages of the audit log, filtered by action prefix (LIKE wildcards are literal)
        page = audit.listing(s, limit=3, action="login")
        assert len(page.entries) == 3 and page.next_before is not None
        rest = audit.listing(s, limit=100, action="login", before=page.next_before)
        assert rest.next_before is None and len(page.entries) + len(rest.entries) == 6
        assert audit.listing(s, action="login_%").entries == []


def test_passwords_are_argon2id_at_the_default_cost_and_never_stored(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    from tests.cloud.support import migrated_engine

    monkeypatch.setattr(service, "HASHER", PasswordHasher())
    engine = migrated_engine(f"sqlite:///{tmp_path / 'pw.sqlite'}")  # one database: argon2 is the same on both
    with Session(engine) as s, s.begin():
        op = service.create(s, "root", role="admin", password=PASSWORD, actor="test")
        assert op.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$") and PASSWORD not in op.password_hash
        dump = str([(e.detail, e.target) for e in s.scalars(select(AuditEntry))])
        assert PASSWORD not in dump


def test_the_role_table_is_complete() -> None:
    assert set(PERMISSIONS) == set(ROLES)
    assert all(allowed("admin", a, write=True) for a in AREAS)
    assert [a for a in AREAS if allowed("finance", a, write=True)] == ["money", "settlement", "reports"]
    assert not allowed("finance", "operators") and allowed("finance", "tariffs") and not allowed("finance", "tariffs", True)
    assert {a for a in AREAS if allowed("operator", a, write=True)} == {"stations", "guns", "orders", "alarms", "community"}
    assert not any(allowed("owner", a) for a in ("operators", "audit", "tariffs"))
    assert not allowed("nobody", "home")


def test_cli_create_passwd_list(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    with app.app_context():
        from cloud.db import db

        with db.transaction() as s:
            s.add(Station(sid="S1"))
    r = runner.invoke(args=["operator", "create", "root", "--role", "admin", "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code == 0 and "root" in r.output
    r = runner.invoke(args=["operator", "create", "own", "--role", "owner", "--station", "S1", "--name", "业主",
                            "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(args=["operator", "create", "own", "--role", "owner", "--password-stdin"], input=PASSWORD + "\n")
    assert r.exit_code != 0 and "exists" in r.output
    r = runner.invoke(args=["operator", "create", "xy", "--role", "admin", "--password-stdin"], input="short\n")
    assert r.exit_code != 0 and "password" in r.output
    assert runner.invoke(args=["operator", "create", "y", "--role", "god", "--password-stdin"], input=PASSWORD).exit_code != 0
    assert login(client, "root").status_code == 303
    r = runner.invoke(args=["operator", "passwd", "root", "--password-stdin"], input="a brand new password\n")
    assert r.exit_code == 0
    assert client.get("/").status_code == 302  # its session ended
    assert login(client, "root", "a brand new password").status_code == 303
    assert runner.invoke(args=["operator", "passwd", "ghost", "--password-stdin"], input=PASSWORD).exit_code != 0
    listed = runner.invoke(args=["operator", "list"]).output.splitlines()
    assert listed == ["own\towner\tactive\t业主\tS1", "root\tadmin\tactive\t\t"]
    with app.app_context():
        from cloud.db import db

        entries = [(e.actor, e.action, e.target) for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("operator.%")).order_by(AuditEntry.id))]
    assert entries == [("cli", "operator.create", "operator:root"), ("cli", "operator.create", "operator:own"),
                       ("cli", "operator.password", "operator:root")]


def test_language_switch_and_locale_formatting(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    page = client.get("/login").text
    assert '<html lang="zh-CN">' in page and "登录运营平台" in page
    page = client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}).text
    assert '<html lang="en">' in page and "Log in to the console" in page
    login(client, "root")
    assert "退出登录" in client.get("/").text
    r = client.post("/lang", data={"lang": "en", "next": "/operators/?page=1", "csrf_token": csrf_of(client, "/")})
    assert r.status_code == 303 and r.headers["Location"] == "/operators/?page=1"
    page = client.get("/operators/").text
    assert '<html lang="en">' in page and "Log out" in page and "Administrator" in page
    # the choice outlives logout and login; a strange value or target changes nothing
    client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert "Log in to the console" in client.get("/login").text
    r = client.post("/lang", data={"lang": "fr", "next": "https://evil.example/", "csrf_token": csrf_of(client)})
    assert r.headers["Location"] == "/" and "Log in to the console" in client.get("/login").text

    from cloud.web.formatting import fen, localtime, number

    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert fen(123456) == "¥1,234.56" and fen(-5) == "-¥0.05" and fen(None) == "—"
        # 2026-12-01 16:30 UTC is 00:30 on the 2nd in Shanghai
        assert localtime(1_796_142_600_000, fmt="yyyy-MM-dd HH:mm") == "2026-12-02 00:30"
        assert localtime(1_796_142_600_000, tz="UTC", fmt="yyyy-MM-dd HH:mm") == "2026-12-01 16:30"
        assert number(1234567) == "1,234,567"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        assert fen(123456) == "CN¥1,234.56"
        assert localtime(1_796_142_600_000) == "Dec 2, 2026, 12:30:00\u202fAM"


def test_catalogues_compile_into_the_instance_folder(app: Flask, tmp_path: Path) -> None:
    from cloud.web.i18n import compile_catalogues

    mo = Path(app.instance_path) / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo"
    assert mo.exists()
    before = mo.stat().st_mtime_ns
    compile_catalogues(Path(app.instance_path) / "translations")
    assert mo.stat().st_mtime_ns == before  # up to date: left alone
    # every message of the console has its Chinese
    from babel.messages.pofile import read_po

    from cloud.web.i18n import SOURCE

    with (SOURCE / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po").open("rb") as f:
        untranslated = [m.id for m in read_po(f) if m.id and not m.string]
    assert untranslated == []


@pytest.mark.parametrize("key,value,needle", [("CONSOLE_TIMEZONE", "Mars/Olympus", "CONSOLE_TIMEZONE"),
                                               ("CONSOLE_IDLE_TIMEOUT_S", 7 * 86400, "CONSOLE_IDLE_TIMEOUT_S"),
                                               ("CONSOLE_LOGIN_MAX_FAILURES", 0, "CONSOLE_LOGIN_MAX_FAILURES")])
def test_console_settings_are_checked(tmp_path: Path, key: str, value: object, needle: str) -> None:
    from cloud import create_app
    from cloud.config import ConfigError

    with pytest.raises(ConfigError, match=needle):
        create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite'}", key: value})


def test_operator_model_is_registered() -> None:
    from cloud.models import Base

    assert {"operators", "operator_stations", "operator_sessions", "audit_log"} <= set(Base.metadata.tables)
    assert Operator.__tablename__ == "operators"
