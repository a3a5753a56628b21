"""The console's door through Flask's test client: login, generic refusals, lockout, session
expiry (idle and absolute, on a fake clock), logout and password changes ending sessions,
CSRF on forms and htmx requests, role denials and owner scoping, the audit entries."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.models import Station
from tests.console.support import PASSWORD, csrf_of, fake_clock, login, make_operator

GENERIC = "登录名或密码错误，或账号已被暂时锁定。"


def _audit(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_login_goes_to_the_page_asked_for_and_logout_ends_the_session(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    r = client.get("/operators/?page=1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=/operators/")
    r = login(client, "root", next_="/operators/")
    assert r.status_code == 303 and r.headers["Location"] == "/operators/"
    assert client.get("/operators/").status_code == 200
    # never to another host
    assert login(client, "root", next_="//evil.example/x").headers["Location"] == "/"
    cookie = client.get_cookie("session")
    assert cookie is not None
    r = client.post("/logout", data={"csrf_token": csrf_of(client, "/")})
    assert r.status_code == 303 and client.get("/").status_code == 302
    # the old cookie is worth nothing once logged out: the session row is revoked
    client.set_cookie("session", cookie.value)
    assert client.get("/").status_code == 302
    assert [e.actor for e in _audit(app, "login")] == ["root", "root"] and _audit(app, "logout")[0].actor == "root"


def test_login_never_sends_the_browser_to_another_host(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    # not by the characters a browser drops from a URL ("/<TAB>/evil" is "//evil" to it), and a
    # line break in `next` is no server error
    for sneaky in ("/%09/evil.example/x", "/%0a/evil.example/x", "/%0d%0a/evil.example", "/%20/evil.example",
                   "/\\evil.example"):
        r = login(client, "root", next_=sneaky)
        assert r.status_code == 303 and r.headers["Location"] == "/", sneaky
    r = client.post("/lang", data={"lang": "en", "next": "/\t/evil.example", "csrf_token": csrf_of(client, "/")})
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_wrong_password_unknown_name_and_hostile_input_get_one_generic_answer(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    for name, pw in (("root", "wrong password!"), ("nobody", PASSWORD), ("", ""), ("x" * 5000, "y" * 100_000),
                     ("root' OR '1'='1", PASSWORD), ("根", "密码密码密码密码密码")):
        r = login(client, name, pw)
        assert r.status_code == 401 and GENERIC in r.text, name[:20]
    assert client.get("/").status_code == 302
    reasons = [e.detail["reason"] for e in _audit(app, "login.failed")]
    assert reasons == ["password", "unknown", "unknown", "unknown", "unknown", "unknown"]


def test_lockout_after_repeated_failures_then_unlocked_by_time(app: Flask, client: FlaskClient) -> None:
    clock = fake_clock(app)
    make_operator(app, "root", "admin")
    for _ in range(app.config["CONSOLE_LOGIN_MAX_FAILURES"]):
        assert login(client, "root", "wrong password!").status_code == 401
    # locked: the right password is refused too, with the same words
    r = login(client, "root")
    assert r.status_code == 401 and GENERIC in r.text
    locked = _audit(app, "login.failed")
    assert locked[-2].detail["locked_until"] == clock.now + app.config["CONSOLE_LOGIN_LOCK_S"] * 1000
    assert locked[-1].detail == {"reason": "locked"}
    clock.advance(app.config["CONSOLE_LOGIN_LOCK_S"] + 1)
    assert login(client, "root").status_code == 303
    # a success clears the count: four more failures do not lock
    other = app.test_client()
    for _ in range(app.config["CONSOLE_LOGIN_MAX_FAILURES"] - 1):
        login(other, "root", "wrong password!")
    assert login(other, "root").status_code == 303


def test_sessions_expire_when_idle_and_at_their_end(app: Flask, client: FlaskClient) -> None:
    clock = fake_clock(app)
    make_operator(app, "root", "admin")
    idle, ttl = app.config["CONSOLE_IDLE_TIMEOUT_S"], app.config["CONSOLE_SESSION_TTL_S"]
    login(client, "root")
    clock.advance(idle - 5)
    assert client.get("/").status_code == 200  # activity moves the idle deadline
    clock.advance(idle - 5)
    assert client.get("/").status_code == 200
    clock.advance(idle + 1)
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    # an active session still ends at its absolute expiry
    login(client, "root")
    start = clock.now
    while clock.now + (idle - 5) * 1000 < start + ttl * 1000:
        clock.advance(idle - 5)
        assert client.get("/").status_code == 200
    clock.now = start + ttl * 1000
    assert client.get("/").status_code == 302
    # an htmx request is told to send the browser to the login page
    r = client.get("/", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")


def test_automatic_refreshes_do_not_keep_an_idle_login_alive(app: Flask, client: FlaskClient) -> None:
    """A page's polls (X-JC-Poll: the station page's live parts, the charts' JSON) are answered
    but are no activity: an unattended page is logged out at the idle timeout, its next poll
    sent to the login; a person's request moves the deadline as before."""
    clock = fake_clock(app)
    make_operator(app, "root", "admin")
    idle = app.config["CONSOLE_IDLE_TIMEOUT_S"]
    poll = {"HX-Request": "true", "X-JC-Poll": "1"}
    login(client, "root")
    for _ in range(3):
        clock.advance(idle // 3 - 5)
        assert client.get("/stations/", headers=poll).status_code == 200
    clock.advance(20)  # idle + 5 s since the login; polls all the while
    r = client.get("/stations/", headers=poll)
    assert r.status_code == 401 and r.headers["HX-Redirect"].startswith("/login")
    # the same requests without the mark are a person's: the login stays
    login(client, "root")
    for _ in range(4):
        clock.advance(idle // 3 - 5)
        assert client.get("/stations/", headers={"HX-Request": "true"}).status_code == 200


def test_a_password_change_ends_the_operators_sessions(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    make_operator(app, "alice", "operator")
    alice = app.test_client()
    login(alice, "alice")
    assert alice.get("/").status_code == 200
    login(client, "root")
    with app.app_context():
        from cloud.operators.service import by_login

        alice_id = by_login(db.session, "alice").id  # type: ignore[union-attr]
    r = client.post(f"/operators/{alice_id}", data={"csrf_token": csrf_of(client, f"/operators/{alice_id}"),
                                                    "role": "operator", "active": "1", "password": "a new long password"})
    assert r.status_code == 303
    assert alice.get("/").status_code == 302
    assert login(alice, "alice").status_code == 401 and login(alice, "alice", "a new long password").status_code == 303
    entry = _audit(app, "operator.password")[-1]
    assert entry.actor == "root" and entry.target == "operator:alice" and entry.detail is None and entry.ip == "127.0.0.1"


def test_csrf_is_refused_on_a_form_and_on_an_htmx_post(app: Flask, client: FlaskClient) -> None:
    make_operator(app, "root", "admin")
    # the login form itself
    r = client.post("/login", data={"login": "root", "password": PASSWORD})
    assert r.status_code == 400 and 'id="csrf-refused"' in r.text
    login(client, "root")
    new = {"login": "eve", "role": "operator", "password": "another long password"}
    r = client.post("/operators/new", data=new)
    assert r.status_code == 400 and 'id="csrf-refused"' in r.text
    r = client.post("/operators/new", data={**new, "csrf_token": "forged"})
    assert r.status_code == 400
    r = client.post("/operators/new", data=new, headers={"HX-Request": "true"})
    assert r.status_code == 400 and "<html" not in r.text
    r = client.post("/logout")
    assert r.status_code == 400 and client.get("/").status_code == 200  # still logged in
    assert _audit(app, "operator.create")[-1].target == "operator:root"  # no eve
    # the layout's header token is what htmx sends: it passes
    token = csrf_of(client, "/")
    r = client.post("/operators/new", data=new, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert r.status_code == 303 and _audit(app, "operator.create")[-1].target == "operator:eve"
    # another session's token is no good here
    other = app.test_client()
    r = client.post("/operators/new", data={**new, "login": "eve2", "csrf_token": csrf_of(other)})
    assert r.status_code == 400


def test_roles_see_and_change_only_their_areas(app: Flask) -> None:
    with app.app_context(), db.transaction() as s:
        s.add_all([Station(sid="S1", name="东门站"), Station(sid="S2", name="西门站")])
    for name, role, stations in (("root", "admin", ()), ("op", "operator", ()), ("fin", "finance", ()),
                                 ("own", "owner", ("S2",)), ("own0", "owner", ())):
        make_operator(app, name, role, stations)
    clients = {}
    for name in ("root", "op", "fin", "own", "own0"):
        clients[name] = c = app.test_client()
        assert login(c, name).status_code == 303
    expect = {  # (GET /operators/, GET /audit/, POST /operators/new)
        "root": (200, 200, 303), "op": (403, 403, 403), "fin": (403, 200, 403), "own": (403, 403, 403),
    }
    for name, (ops, aud, new) in expect.items():
        c = clients[name]
        assert c.get("/operators/").status_code == ops, name
        assert c.get("/audit/").status_code == aud, name
        r = c.post("/operators/new", data={"csrf_token": csrf_of(c, "/"), "login": f"n-{name}", "role": "operator",
                                           "password": "a long password here"})
        assert r.status_code == new, name
    # a 403 for htmx is a short text, not a page
    r = clients["op"].get("/audit/", headers={"HX-Request": "true"})
    assert r.status_code == 403 and "<html" not in r.text
    # the navigation offers only what the role may read
    nav = clients["op"].get("/").text
    assert 'data-area="stations"' in nav and 'data-area="operators"' not in nav and 'data-area="settlement"' not in nav
    nav = clients["fin"].get("/").text
    assert 'data-area="settlement"' in nav and 'data-area="audit"' in nav and 'data-area="operators"' not in nav
    # owners see their own stations only; an owner without stations sees none
    home = clients["own"].get("/").text
    assert "西门站" in home and "东门站" not in home
    home = clients["own0"].get("/").text
    assert "西门站" not in home and "东门站" not in home and 'id="no-stations"' in home
    home = clients["root"].get("/").text
    assert "西门站" in home and "东门站" in home


def test_operator_pages_audit_every_change(app: Flask, client: FlaskClient) -> None:
    with app.app_context(), db.transaction() as s:
        s.add(Station(sid="S1", name="东门站"))
    make_operator(app, "root", "admin")
    login(client, "root")
    token = csrf_of(client, "/")
    r = client.post("/operators/new", data={"csrf_token": token, "login": "bob", "role": "owner", "stations": "S1",
                                            "display_name": "Bob", "phone": "13800000000", "password": "bob's long password"})
    assert r.status_code == 303
    created = _audit(app, "operator.create")[-1]
    assert created.actor == "root" and created.detail == {"role": "owner", "display_name": "Bob",
                                                          "phone": "13800000000", "stations": ["S1"]}
    assert "bob's long password" not in str(created.detail)
    # refusals are explained on the form, in Chinese first
    r = client.post("/operators/new", data={"csrf_token": token, "login": "bob", "role": "owner",
                                            "password": "bob's long password"})
    assert r.status_code == 400 and "该登录名已被使用。" in r.text
    r = client.post("/operators/new", data={"csrf_token": token, "login": "carl", "role": "owner", "stations": "S9",
                                            "password": "carl's long password"})
    assert r.status_code == 400 and "充电站不存在。" in r.text
    r = client.post("/operators/new", data={"csrf_token": token, "login": "dan", "role": "operator", "password": "short"})
    assert r.status_code == 400 and "密码长度" in r.text
    with app.app_context():
        from cloud.operators.service import by_login

        bob = by_login(db.session, "bob")
        root = by_login(db.session, "root")
    assert bob is not None and root is not None
    r = client.post(f"/operators/{bob.id}", data={"csrf_token": token, "role": "finance", "active": "1",
                                                  "display_name": "Bob", "phone": "13800000000"})
    assert r.status_code == 303
    changed = _audit(app, "operator.update")[-1]
    assert changed.detail == {"role": ["owner", "finance"], "stations": [["S1"], []]}
    # no one demotes or deactivates themselves
    r = client.post(f"/operators/{root.id}", data={"csrf_token": token, "role": "operator", "active": "1"})
    assert r.status_code == 400
    assert client.get("/operators/9999").status_code == 404 and client.get("/operators/x").status_code == 404
    # the audit page shows it, newest first, filtered by prefix
    page = client.get("/audit/?action=operator.").text
    assert page.index("operator:bob") < page.index("operator.create") and "login.failed" not in page
    assert client.get("/audit/?before=abc&actor=" + "x" * 500).status_code == 200


def test_audit_pages_go_back_in_time(app: Flask, client: FlaskClient) -> None:
    from cloud.audit import service as audit

    make_operator(app, "root", "admin")
    with app.app_context(), db.transaction() as s:
        for n in range(120):
            audit.record(s, "cli", "tariff.assign", f"station:S{n}", {"n": n})
    login(client, "root")
    first = client.get("/audit/?action=tariff.").text
    assert "station:S119" in first and "station:S70" in first and "station:S69" not in first
    older = first.split('id="older" href="')[1].split('"')[0].replace("&amp;", "&")
    second = client.get(older).text
    assert "station:S69" in second and "station:S20" in second and "station:S70" not in second


def test_a_view_that_declares_no_area_is_closed(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """Deny by default: a console view without @requires(area) or @public answers 403."""
    from cloud.web.pages import audit as audit_page
    from tests.console.conftest import make_app

    monkeypatch.delattr(audit_page.index, "_console_area")
    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = make_app(tmp_path)
    make_operator(app, "root", "admin")
    client = app.test_client()
    login(client, "root")
    assert client.get("/audit/").status_code == 403 and client.get("/operators/").status_code == 200
