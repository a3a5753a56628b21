"""GET/PATCH /me: a driver sees and changes only their own profile; fields are checked
(nickname, https avatar, mainland mobile number) and null clears one."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from cloud.fakes.server import FakeServer
from tests.drivers_api.support import BASE, auth, error_code, login, token_of


def test_read_and_change_own_profile(client: FlaskClient, wechat: FakeServer) -> None:
    tok = token_of(client, wechat, "alice")
    me = client.get(f"{BASE}/me", headers=auth(tok)).json
    assert set(me) == {"id", "nickname", "avatar_url", "phone", "created_at", "last_login_at",
                       "has_payment_password", "payment_password_locked_until"}
    changed = client.patch(f"{BASE}/me", headers=auth(tok), json={
        "nickname": "  小明 🚗 ", "avatar_url": "https://thirdwx.qlogo.cn/mmopen/vi_32/abc/132",
        "phone": "+86 138-0013-8000"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert (changed.json["nickname"], changed.json["phone"]) == ("小明 🚗", "13800138000")
    assert client.get(f"{BASE}/me", headers=auth(tok)).json == changed.json
    # one field at a time; null clears
    one = client.patch(f"{BASE}/me", headers=auth(tok), json={"phone": None}).json
    assert one["phone"] is None and one["nickname"] == "小明 🚗"


def test_a_driver_never_touches_another(client: FlaskClient, wechat: FakeServer) -> None:
    a = login(client, wechat, "alice").json
    b = login(client, wechat, "bob").json
    client.patch(f"{BASE}/me", headers=auth(b["token"]), json={"nickname": "Bob", "phone": "13900139000"})
    client.patch(f"{BASE}/me", headers=auth(a["token"]), json={"nickname": "Alice"})
    bob = client.get(f"{BASE}/me", headers=auth(b["token"])).json
    assert (bob["id"], bob["nickname"], bob["phone"]) == (b["driver"]["id"], "Bob", "13900139000")
    alice = client.get(f"{BASE}/me", headers=auth(a["token"])).json
    assert alice["id"] == a["driver"]["id"] and alice["phone"] is None
    # no route takes a driver id: asking for one by path or field gets nothing of bob's
    for path in (f"{BASE}/me/{b['driver']['id']}", f"{BASE}/{b['driver']['id']}", f"{BASE}/drivers/{b['driver']['id']}"):
        resp = client.get(path, headers=auth(a["token"]))
        assert resp.status_code == 404 and "Bob" not in resp.get_data(as_text=True)
    resp = client.patch(f"{BASE}/me", headers=auth(a["token"]), json={"id": b["driver"]["id"], "nickname": "x"})
    assert resp.status_code == 400 and error_code(resp) == "invalid_request"
    assert client.get(f"{BASE}/me?id={b['driver']['id']}", headers=auth(a["token"])).json["id"] == a["driver"]["id"]
    assert client.get(f"{BASE}/me", headers=auth(b["token"])).json == bob


def test_phone_numbers(client: FlaskClient, wechat: FakeServer) -> None:
    tok = token_of(client, wechat, "alice")
    for good, stored in (("13800138000", "13800138000"), ("199 1234 5678", "19912345678"),
                         ("8615012345678", "15012345678"), ("0086 15012345678", "15012345678")):
        resp = client.patch(f"{BASE}/me", headers=auth(tok), json={"phone": good})
        assert resp.status_code == 200 and resp.json["phone"] == stored, good
    for bad in ("12800138000", "1380013800", "138001380000", "+1 415 555 0100", "1380013800a", "１３８００１３８０００",
                "", "   ", "86", "+8612800138000", "1" * 40, 13800138000, True, [], {"n": 1}):
        resp = client.patch(f"{BASE}/me", headers=auth(tok), json={"phone": bad})
        assert resp.status_code == 400 and error_code(resp) == "phone_invalid", bad
        assert resp.json["error"]["field"] == "phone"
    assert client.get(f"{BASE}/me", headers=auth(tok)).json["phone"] == "15012345678"


def test_bad_fields_are_refused_and_change_nothing(app: Flask, client: FlaskClient, wechat: FakeServer) -> None:
    tok = token_of(client, wechat, "alice")
    client.patch(f"{BASE}/me", headers=auth(tok), json={"nickname": "Alice"})
    bad = [({"nickname": "x" * 65}, "nickname"), ({"nickname": ""}, "nickname"), ({"nickname": 5}, "nickname"),
           ({"nickname": "a\u0000b"}, "nickname"), ({"nickname": "evil\u202egnp.exe"}, "nickname"),
           ({"nickname": "\ud800"}, "nickname"), ({"nickname": "line\nbreak"}, "nickname"),
           ({"avatar_url": "http://x.cn/a.png"}, "avatar_url"), ({"avatar_url": "javascript:alert(1)"}, "avatar_url"),
           ({"avatar_url": "https://user:pw@x.cn/a"}, "avatar_url"), ({"avatar_url": "https://"}, "avatar_url"),
           ({"avatar_url": "https://x.cn/" + "a" * 600}, "avatar_url"), ({"avatar_url": "https://x.cn/a b"}, "avatar_url"),
           ({"avatar_url": "https://[::1"}, "avatar_url"), ({"avatar_url": ["https://x.cn"]}, "avatar_url"),
           ({"nickname": "ok", "openid": "oX"}, "openid"), ({"blocked": False}, "blocked")]
    for body, field in bad:
        resp = client.patch(f"{BASE}/me", headers=auth(tok), json=body)
        assert resp.status_code == 400 and resp.json["error"]["field"] == field, (body, resp.json)
    assert client.patch(f"{BASE}/me", headers=auth(tok), json={}).status_code == 400
    me = client.get(f"{BASE}/me", headers=auth(tok)).json
    assert (me["nickname"], me["avatar_url"], me["phone"]) == ("Alice", None, None)
    # 64 characters (not bytes) is the limit: 64 Chinese characters fit
    ok = client.patch(f"{BASE}/me", headers=auth(tok), json={"nickname": "聚" * 64})
    assert ok.status_code == 200 and ok.json["nickname"] == "聚" * 64
