"""The stations, guns and archives pages through Flask's test client: every page and action,
role denials, an owner seeing only their stations on every list (the other owner's data
never appears), CSRF refused, and the audit entries of every change."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.drivers.models import Driver
from cloud.models import (
    ChargingSession,
    Gun,
    IssuedCert,
    Pile,
    ProvisioningToken,
    Station,
    StationState,
    now_ms,
)
from cloud.models.commands import CommandLog
from cloud.pki.hierarchy import Pki
from tests.console.support import csrf_of, login
from tests.console_stations.support import SESS_A1, gateway


def _as(client: FlaskClient, who: str) -> FlaskClient:
    assert login(client, who).status_code == 303
    return client


def _audit(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_station_list_and_monitoring_page(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "ops")
    r = client.get("/stations/")
    assert r.status_code == 200 and "甲站" in r.text and "乙站" in r.text
    r = client.get("/stations/ST-A")
    assert r.status_code == 200
    t = r.text
    # guns: 3 total, 1 charging, 1 idle, 1 faulted; ST-A is online
    for k, n in (("total", 3), ("charging", 1), ("idle", 1), ("plugged", 0), ("faulted", 1), ("offline", 0)):
        assert t.split(f'data-k="{k}">')[1].split("</span>")[0].endswith(f" {n}"), k
    # today: 2 sessions (sess-a0 10 kWh + sess-a1 2.5 kWh so far)
    assert '<b id="today-sessions">2</b>' in t and '<b id="today-kwh">12.5</b>' in t
    assert "gun_fault" in t and 'id="policy-form"' in t
    # ST-B is offline: every gun offline
    t = client.get("/stations/ST-B").text
    assert f'data-k="offline">{"离线"} 1</span>' in t


LIVE_PARTS = ("gun-counts", "today", "load-now", "guns", "running", "live-stamp")


def _cell(html: str, cls: str) -> str:
    return html.split(f'class="{cls}">')[1].split("</td>")[0]


def test_the_live_parts_are_polled_from_the_database(app: Flask, client: FlaskClient, seeded: dict) -> None:
    """The station page names its poller (htmx, every LIVE_EVERY_S while the tab is shown, marked
    X-JC-Poll); the poll answers every live part for an out-of-band swap by id, from the
    database as it is now: gun counts, today, load level, guns, running sessions with kWh,
    power, cost so far and elapsed time."""
    _as(client, "ops")
    page = client.get("/stations/ST-A").text
    assert 'hx-get="/stations/ST-A/live"' in page and 'hx-swap="none"' in page
    assert "every 5s [document.visibilityState === 'visible']" in page and '"X-JC-Poll": "1"' in page
    for part in LIVE_PARTS:  # the page holds each part once, in place, not out of band
        assert page.count(f'id="{part}"') == 1 and f'id="{part}" hx-swap-oob' not in page, part
    h = {"HX-Request": "true", "X-JC-Poll": "1"}
    r = client.get("/stations/ST-A/live", headers=h)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    for part in LIVE_PARTS:
        assert f'id="{part}" hx-swap-oob="true"' in r.text, part
    row = r.text.split(f'data-session="{SESS_A1}"')[1]
    assert _cell(row, "delivered") == "2.5" and _cell(row, "power") == "6,900" and _cell(row, "cost") == ""
    assert _cell(row, "elapsed").startswith("0:30:")  # started 30 minutes before the seed
    # the station moves on: the session's latest record, the telemetry, a new session
    now = now_ms()
    with app.app_context(), db.transaction() as s:
        s.execute(update(ChargingSession).where(ChargingSession.session_id == SESS_A1)
                  .values(energy_wh=14_000, power_w=7100, cost_fen=321))
        s.execute(update(StationState).where(StationState.sid == "ST-A").values(telemetry={
            "transformer": {"level": "capped", "load_pct": 61.5},
            "guns": [{"id": "P1-1", "state": "charging", "power_w": 7100, "session_id": SESS_A1},
                     {"id": "P1-2", "state": "charging", "power_w": 3000, "session_id": "5e55a002-0000-4000-8000-000000000002"},
                     {"id": "P2-1", "state": "available"}]}))
        s.add(ChargingSession(session_id="5e55a002-0000-4000-8000-000000000002", sid="ST-A", gun="P1-2",
                              status="running", started_at=now - 65_000, energy_start_wh=0, energy_wh=100,
                              power_w=3000, cost_fen=12))
    t = client.get("/stations/ST-A/live", headers=h).text
    for k, n in (("total", 3), ("charging", 2), ("idle", 1), ("plugged", 0), ("faulted", 0), ("offline", 0)):
        assert t.split(f'data-k="{k}">')[1].split("</span>")[0].endswith(f" {n}"), k
    assert '<b id="today-sessions">3</b>' in t and '<b id="load-level" class="level-capped">限功率</b>' in t
    assert '<span id="load-pct">61.5</span>' in t
    row = t.split(f'data-session="{SESS_A1}"')[1].split("</tr>")[0]
    assert _cell(row, "delivered") == "4" and _cell(row, "power") == "7,100" and _cell(row, "cost") == "¥3.21"
    row = t.split('data-session="5e55a002-0000-4000-8000-000000000002"')[1].split("</tr>")[0]
    assert _cell(row, "elapsed") in ("0:01:05", "0:01:06") and _cell(row, "cost") == "¥0.12"
    # in English too; the same figures
    t = client.get("/stations/ST-A/live", headers={**h, "Accept-Language": "en"}).text
    assert "Elapsed" in t and "Cost so far" in t and ">capped</b>" in t


def test_an_expired_login_polling_is_sent_to_the_login_and_back_to_the_page(app: Flask, client: FlaskClient, seeded: dict) -> None:
    r = client.get("/stations/ST-A/live", headers={"HX-Request": "true", "X-JC-Poll": "1",
                                                    "HX-Current-URL": "http://localhost/stations/ST-A"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login?next=/stations/ST-A"
    # another site's page is no way back: the fragment's own path (the login checks it again)
    r = client.get("/stations/ST-A/live", headers={"HX-Request": "true", "HX-Current-URL": "https://evil.example/x"})
    assert r.headers["HX-Redirect"] == "/login?next=/stations/ST-A/live"


def test_load_curve_json_has_the_minutes_and_the_two_lines(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "fin")
    d = client.get("/stations/ST-A/load.json").get_json()
    assert d["cap_pct"] == 50.0 and d["block_pct"] == 80.0 and d["level"] == "normal" and d["load_pct"] == 42.5
    assert [p[1] for p in d["points"]] == [30.0 + i * 5 for i in range(10)]
    assert client.get("/stations/NOPE/load.json").status_code == 404


def test_load_policy_goes_to_the_gateway_its_reply_shown_and_audited(app: Flask, client: FlaskClient, seeded: dict) -> None:
    gw = gateway(app)
    _as(client, "ops")
    r = client.post("/stations/ST-A/policy", data={"rated_kva": "630", "cap_above_pct": "50", "block_above_pct": "80",
                                                   "mode": "threshold"},
                    headers={"HX-Request": "true", "X-CSRFToken": csrf_of(client, "/stations/ST-A")})
    assert r.status_code == 200 and "网关已接受" in r.text
    assert gw.seen[0]["topic"] == "jc/v1/st/ST-A/cmd" and gw.seen[0]["type"] == "set_load_policy"
    assert gw.seen[0]["rated_kva"] == 630.0 and gw.seen[0]["mode"] == "threshold"
    [entry] = _audit(app, "station.load_policy")
    assert entry.actor == "ops" and entry.target == "station:ST-A" and entry.detail["outcome"] == "ok"
    # refused: the reply's code shown
    gw.error = "invalid"
    r = client.post("/stations/ST-A/policy", data={"rated_kva": "630", "csrf_token": csrf_of(client, "/stations/ST-A")})
    assert r.status_code == 200 and "invalid" in r.text and "拒绝" in r.text
    # hostile numbers: 400, nothing sent
    n = len(gw.seen)
    for bad in ({"rated_kva": "abc"}, {"rated_kva": "nan"}, {"rated_kva": "1e9"}, {"cap_above_pct": "5"}):
        r = client.post("/stations/ST-A/policy", data={**bad, "csrf_token": csrf_of(client, "/stations/ST-A")})
        assert r.status_code == 400
    assert len(gw.seen) == n


def test_load_policy_without_a_reply_times_out_and_is_audited(app: Flask, client: FlaskClient, seeded: dict) -> None:
    app.config["COMMAND_TIMEOUT_S"] = 0.2
    gateway(app, silent=True)
    _as(client, "root")
    r = client.post("/stations/ST-A/policy", data={"rated_kva": "630", "csrf_token": csrf_of(client, "/stations/ST-A")})
    assert r.status_code == 504 and "没有收到网关" in r.text
    assert _audit(app, "station.load_policy")[0].detail["outcome"] == "timeout"


def test_gun_pages_live_json_and_remote_stop(app: Flask, client: FlaskClient, seeded: dict) -> None:
    gw = gateway(app)
    _as(client, "ops")
    r = client.get("/guns/")
    assert r.status_code == 200 and "P2-1" in r.text and "ST-B" in r.text
    t = client.get("/guns/ST-A/P1-1").text
    assert "ORD-A1" in t and '<b id="today-kwh">12.5</b>' in t and '<b id="total-sessions">2</b>' in t
    assert 'id="live-chart"' in t and 'id="stop-form"' in t
    d = client.get("/guns/ST-A/P1-1/live.json").get_json()
    assert d["voltage_v"] == 229.5 and d["current_a"] == 30.1 and d["power_w"] == 6900 and d["bucket"] == "charging"
    assert d["state_label"] == "充电中"
    assert client.get("/guns/ST-A/P9-9").status_code == 404
    r = client.post("/guns/ST-A/P1-1/stop", headers={"HX-Request": "true", "X-CSRFToken": csrf_of(client, "/guns/ST-A/P1-1")})
    assert r.status_code == 200 and "网关已接受" in r.text
    assert gw.seen[-1]["type"] == "stop" and gw.seen[-1]["gun"] == "P1-1" and gw.seen[-1]["session_id"] == SESS_A1
    [entry] = _audit(app, "gun.stop")
    assert entry.target == "gun:ST-A/P1-1" and entry.actor == "ops"
    with app.app_context():
        assert db.session.scalar(select(CommandLog.status).where(CommandLog.type == "stop")) == "replied"


def test_archive_edits_are_saved_and_audited(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "root")
    assert "甲站" in client.get("/archives/").text
    csrf = csrf_of(client, "/archives/stations/ST-A")
    r = client.post("/archives/stations/ST-A", data={"csrf_token": csrf, "name": "甲站（新）", "address": "新地址",
                                                     "lat": "31.25", "lng": "121.45", "transformer_kva": "800"})
    assert r.status_code == 303
    r = client.post("/archives/stations/ST-A/piles", data={"csrf_token": csrf, "pile": "P1", "model": "JC-7K", "profile": "ac7"})
    assert r.status_code == 303
    r = client.post("/archives/stations/ST-A/guns", data={"csrf_token": csrf, "gun": "P1-2", "code": "QRA0002X",
                                                          "name": "二号枪", "rated_kw": "11", "kind": "ac"})
    assert r.status_code == 303
    with app.app_context():
        st = db.session.get(Station, "ST-A")
        assert (st.name, st.address, st.lat, st.lng, st.transformer_kva) == ("甲站（新）", "新地址", 31.25, 121.45, 800.0)
        assert (db.session.get(Pile, ("ST-A", "P1")).model, db.session.get(Pile, ("ST-A", "P1")).profile) == ("JC-7K", "ac7")
        g = db.session.get(Gun, ("ST-A", "P1-2"))
        assert (g.code, g.name, g.rated_power_w) == ("QRA0002X", "二号枪", 11000)
    assert _audit(app, "station.update")[0].detail["transformer_kva"] == [None, 800.0]
    assert _audit(app, "pile.update")[0].target == "pile:ST-A/P1"
    assert _audit(app, "gun.update")[0].detail["code"] == ["QRA0002", "QRA0002X"]
    # refused with a message, never a 500
    for data in ({"lat": "91", "lng": "0"}, {"lat": "30"}, {"transformer_kva": "-1"}, {"transformer_kva": "x"}):
        assert client.post("/archives/stations/ST-A", data={"csrf_token": csrf, **data}).status_code == 400
    r = client.post("/archives/stations/ST-A/guns", data={"csrf_token": csrf, "gun": "P1-1", "code": "QRB0001"})
    assert r.status_code == 400 and "另一把枪" in r.text
    for data in ({"gun": "P1-1", "code": "x"}, {"gun": "P1-" + "9" * 40}, {"gun": "P1-1", "kind": "xx"},
                 {"gun": "P11", "code": "QRNEW01"}, {"gun": "P1-1", "rated_kw": "-3"}):
        assert client.post("/archives/stations/ST-A/guns", data={"csrf_token": csrf, **data}).status_code == 400, data
    assert client.post("/archives/stations/NOPE", data={"csrf_token": csrf}).status_code == 404


def test_qr_label_sheet_has_one_label_per_coded_gun(app: Flask, client: FlaskClient, seeded: dict) -> None:
    app.config["PUBLIC_BASE_URL"] = "https://cd.example.cn"
    _as(client, "fin")
    t = client.get("/archives/stations/ST-A/labels").text
    assert t.count('class="label"') == 2 and t.count("<svg") == 2
    assert 'data-content="https://cd.example.cn/app/scan?g=QRA0001"' in t
    assert 'id="missing"' in t and "P2-1" in t


def test_drivers_balance_orders_and_block(app: Flask, client: FlaskClient, seeded: dict) -> None:
    did = seeded["driver_id"]
    _as(client, "root")
    t = client.get("/archives/drivers").text
    assert "司机小王" in t and "¥123.45" in t
    assert "司机小王" in client.get("/archives/drivers?q=13800000001").text
    assert "司机小王" not in client.get("/archives/drivers?q=nobody").text
    assert client.get("/archives/drivers?q=²").status_code == 200  # a digit to str.isdigit, not to int()
    t = client.get(f"/archives/drivers/{did}").text
    assert "ORD-A1" in t and "¥123.45" in t
    csrf = csrf_of(client, f"/archives/drivers/{did}")
    assert client.post(f"/archives/drivers/{did}/block", data={"csrf_token": csrf, "blocked": "1"}).status_code == 303
    with app.app_context():
        assert db.session.get(Driver, did).blocked is True
    assert client.post(f"/archives/drivers/{did}/block", data={"csrf_token": csrf, "blocked": "0"}).status_code == 303
    with app.app_context():
        assert db.session.get(Driver, did).blocked is False
    assert [e.action for e in _audit(app, "driver.block") + _audit(app, "driver.unblock")] == ["driver.block", "driver.unblock"]
    assert client.post("/archives/drivers/999999/block", data={"csrf_token": csrf, "blocked": "1"}).status_code == 404
    assert client.get("/archives/drivers/999999").status_code == 404


def test_provisioning_token_created_once_and_audited(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "root")
    csrf = csrf_of(client, "/archives/tokens")
    r = client.post("/archives/tokens", data={"csrf_token": csrf, "sid": "ST-NEW"})
    assert r.status_code == 200 and 'id="token-value"' in r.text
    token = r.text.split('id="token-value">')[1].split("<")[0]
    assert len(token) >= 24 and token not in client.get("/archives/tokens").text  # shown once
    with app.app_context():
        assert db.session.scalar(select(ProvisioningToken.sid).where(ProvisioningToken.sid == "ST-NEW")) == "ST-NEW"
    assert _audit(app, "station.token")[0].target == "station:ST-NEW"
    assert client.post("/archives/tokens", data={"csrf_token": csrf, "sid": "bad sid!"}).status_code == 400


def test_certificate_revocation_re_signs_the_crl_and_is_audited(app: Flask, client: FlaskClient, seeded: dict, tmp_path) -> None:  # noqa: ANN001
    app.config["BROKER_ACCESS_CONTROL"] = "external"
    Pki.init(app.config["CA_DIR"])
    _as(client, "root")
    csrf = csrf_of(client, "/archives/certs")
    r = client.post("/archives/certs", data={"csrf_token": csrf, "serial": "a1a1"})
    assert r.status_code == 200 and 'id="revoked"' in r.text
    with app.app_context():
        assert db.session.get(IssuedCert, "a1a1").revoke_reason == "keyCompromise"
    from pathlib import Path

    assert Path(app.config["CRL_FILE"]).exists()
    assert _audit(app, "station.revoke")[0].detail["sids"] == ["ST-A"]
    assert client.post("/archives/certs", data={"csrf_token": csrf, "serial": "a1a1"}).status_code == 404
    assert client.post("/archives/certs", data={"csrf_token": csrf, "serial": "zz"}).status_code == 400


def test_an_owner_sees_only_their_stations_on_every_list(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "owner-a")
    for path in ("/stations/", "/guns/", "/archives/", "/archives/tokens", "/archives/certs",
                 "/stations/ST-A", "/stations/ST-A/live", "/guns/ST-A/P1-1", "/archives/stations/ST-A",
                 "/archives/stations/ST-A/labels"):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "ST-B" not in r.text and "乙站" not in r.text and "QRB0001" not in r.text and "b2b2" not in r.text, path
    assert "ST-A" in client.get("/stations/").text
    assert client.get("/stations/ST-A/load.json").get_json()["points"]
    for path in ("/stations/ST-B", "/stations/ST-B/load.json", "/stations/ST-B/live", "/guns/ST-B/P1-1", "/guns/ST-B/P1-1/live.json",
                 "/archives/stations/ST-B", "/archives/stations/ST-B/labels"):
        assert client.get(path).status_code == 404, path
    # drivers are not station data: an owner does not open them
    assert client.get("/archives/drivers").status_code == 403
    # an owner reads, never changes
    csrf = csrf_of(client, "/stations/ST-A")
    assert client.post("/stations/ST-A/policy", data={"csrf_token": csrf, "rated_kva": "1"}).status_code == 403
    assert client.post("/guns/ST-A/P1-1/stop", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/archives/stations/ST-A", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    assert client.post("/archives/tokens", data={"csrf_token": csrf, "sid": "ST-A"}).status_code == 403


def test_role_denials(app: Flask, client: FlaskClient, seeded: dict) -> None:
    gw = gateway(app)
    # finance reads stations, guns and archives, changes none of them
    _as(client, "fin")
    assert client.get("/stations/ST-A").status_code == 200 and 'id="policy-form"' not in client.get("/stations/ST-A").text
    csrf = csrf_of(client, "/stations/ST-A")
    assert client.post("/stations/ST-A/policy", data={"csrf_token": csrf, "rated_kva": "630"}).status_code == 403
    assert client.post("/guns/ST-A/P1-1/stop", data={"csrf_token": csrf}).status_code == 403
    assert client.post("/archives/stations/ST-A", data={"csrf_token": csrf, "name": "x"}).status_code == 403
    client.post("/logout", data={"csrf_token": csrf})
    # an operator changes stations and guns but only reads the archives
    _as(client, "ops")
    csrf = csrf_of(client, "/archives/")
    for path, data in (("/archives/stations/ST-A", {"name": "x"}), ("/archives/drivers/1/block", {"blocked": "1"}),
                       ("/archives/tokens", {"sid": "ST-A"}), ("/archives/certs", {"serial": "a1a1"})):
        assert client.post(path, data={"csrf_token": csrf, **data}).status_code == 403, path
    assert not gw.seen and not _audit(app, "station.update")


def test_csrf_refused_on_forms_and_htmx_posts(app: Flask, client: FlaskClient, seeded: dict) -> None:
    gw = gateway(app)
    _as(client, "root")
    assert client.post("/stations/ST-A/policy", data={"rated_kva": "630"}).status_code == 400
    assert client.post("/guns/ST-A/P1-1/stop", headers={"HX-Request": "true", "X-CSRFToken": "forged"}).status_code == 400
    assert client.post("/archives/stations/ST-A", data={"name": "x"}).status_code == 400
    assert client.post("/archives/tokens", data={"sid": "ST-A", "csrf_token": "nope"}).status_code == 400
    assert not gw.seen
    with app.app_context():
        assert db.session.get(Station, "ST-A").name == "甲站"


def test_pages_in_english(app: Flask, client: FlaskClient, seeded: dict) -> None:
    _as(client, "root")
    headers = {"Accept-Language": "en"}
    assert "Station monitoring" in client.get("/stations/", headers=headers).text
    t = client.get("/stations/ST-A", headers=headers).text
    assert "Transformer load" in t and "sessions today" in t
    assert "Remote stop" in client.get("/guns/ST-A/P1-1", headers=headers).text
    assert "QR labels" in client.get("/archives/", headers=headers).text
    assert "Station monitoring" not in client.get("/stations/").text  # Chinese by default


LIST_PAGES = ["/stations/", "/archives/drivers", "/orders/", "/orders/abnormal", "/tariffs/", "/operators/", "/audit/",
              "/alarms/", "/guns/", "/money/payments", "/money/refunds", "/swap", "/community/", "/sharing"]


def test_hostile_paging_never_answers_500(app: Flask, client: FlaskClient, seeded: dict) -> None:
    """A page or `before` past what the database's integers hold (the audit log's `before`,
    the alarms' page became an OverflowError), negative, or not a number: a page, never a 500."""
    assert login(client, "root").status_code == 303
    bad = []
    for path in LIST_PAGES:
        for q in ("page=99999999999999999999999", "page=-5", "page=abc", "page=²", "before=99999999999999999999999",
                  "before=-1", "apage=99999999999999999999999"):
            try:
                status = client.get(f"{path}?{q}").status_code
            except Exception as e:  # noqa: BLE001  (TESTING propagates what would be a 500)
                status = type(e).__name__
            if status not in (200, 400):
                bad.append((path, q, status))
    assert not bad, bad
