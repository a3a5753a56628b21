"""The progress poll (GET /api/v1/driver/orders/<id>) from its snapshot (cloud/charging/progress.py):
one SQL statement with the token check, ETag / If-None-Match → 304, the snapshot always what the
full read shows, through ingest's records and telemetry and the order's transitions, and
another driver's order as missing with or without a tag."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from cloud.charging import progress
from cloud.charging import service as charging
from cloud.charging.models import OrderProgress
from cloud.db import db
from cloud.drivers import service as drivers
from cloud.fakes.server import FakeServer
from cloud.ingest.decode import Batch, RecordIn
from cloud.ingest.store import Store
from cloud.models import now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.stations import service as stations
from tests.charging.support import (
    ORDERS,
    ORIGIN,
    gun_entry,
    new_driver,
    seed,
    seed_station,
    telemetry,
    top_up,
)

SESSION = "0f8b3c2e-1111-4222-8333-444455556666"


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs, but SQLite's BEGIN (which
    PostgreSQL's driver sends by itself, unseen here; the poll's connection there is in
    autocommit: no BEGIN and no ROLLBACK round trip, checked). The poll's reads on
    PostgreSQL go straight to psycopg (cloud.db `read_row`), past SQLAlchemy's events: the
    reader's connections are watched at psycopg's cursor as well."""
    seen: list[str] = []

    def note(conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if conn.dialect.name == "postgresql":
            assert conn.connection.dbapi_connection.autocommit, sql
        if sql != "BEGIN":
            seen.append(sql)

    with app.app_context():
        engines = [db.engine, *([db._readers[id(app)]] if id(app) in db._readers else [])]
    watched: list[Any] = []
    if len(engines) == 2:
        import psycopg

        class Watched(psycopg.Cursor):  # type: ignore[type-arg]
            def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:
                assert self.connection.autocommit, query
                seen.append(str(query))
                return super().execute(query, params, **kw)

        def checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            watched.append((dbapi_conn, dbapi_conn.cursor_factory))
            dbapi_conn.cursor_factory = Watched

        def checkin(dbapi_conn: Any, _record: Any) -> None:
            for c, factory in watched:
                if c is dbapi_conn:
                    c.cursor_factory = factory

        event.listen(engines[1].pool, "checkout", checkout)
        event.listen(engines[1].pool, "checkin", checkin)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", note)
        if len(engines) == 2:
            event.remove(engines[1].pool, "checkout", checkout)
            event.remove(engines[1].pool, "checkin", checkin)
            for c, factory in watched:
                c.cursor_factory = factory


def ingest(
    app: Flask, *records: dict[str, Any], tel: list[dict[str, Any]] | None = None, seq: list[int]
) -> None:
    """Records and telemetry of S1 through ingest's Store, as the worker hands them over."""
    now = now_ms()
    batch = Batch(received_at=now, seen={"S1"}, stations={"S1"})
    for body in records:
        seq[0] += 1
        batch.records.append(
            RecordIn(
                "S1",
                seq[0],
                body["type"],
                body.get("ts", now),
                {k: v for k, v in body.items() if k not in ("type", "ts")},
                None,
            )
        )
    if tel is not None:
        batch.telemetry["S1"] = (now, telemetry(tel))
    with app.app_context():
        Store(db.engine).write(batch)


def start(app: Flask, did: int, oid: str) -> None:
    with app.app_context(), db.transaction() as s:
        orders.create(
            s,
            order_id=oid,
            driver_id=str(did),
            sid="S1",
            gun="P1-1",
            limit_mode="amount",
            limit_value=2_000,
            hold_fen=2_000,
        )
        orders.apply(s, oid, Event.START_SENT)


def full_view(app: Flask, did: int, oid: str, now: int) -> dict[str, Any]:
    with app.app_context():
        try:
            return charging.order_view(db.session, did, oid, now=now)
        finally:
            db.session.rollback()


def snapshot_view(app: Flask, token: str, oid: str, now: int) -> dict[str, Any] | None:
    with app.app_context():
        got = progress.poll(db.read_row, token, oid, now)
        return None if got.row is None else json.loads(progress.answer(got.row, now))


@pytest.fixture
def world(app: Flask, client: FlaskClient, wechat: FakeServer) -> dict[str, Any]:
    seed(app, seed_station, "S1", *ORIGIN, guns={"P1-1": "plugged"})
    h_a, alice = new_driver(client, wechat, "alice")
    h_b, bob = new_driver(client, wechat, "bob")
    for did in (alice, bob):
        top_up(app, did, 10_000)
    start(app, alice, "o-alice")
    start(app, bob, "o-bob")
    return {"alice": (h_a, alice), "bob": (h_b, bob), "seq": [0]}


def charge(app: Flask, world: dict[str, Any]) -> None:
    """Alice's order charging: the session's start and a progress record, live telemetry."""
    t0 = now_ms() - 120_000
    ingest(
        app,
        {
            "type": "session_started",
            "ts": t0,
            "session_id": SESSION,
            "gun": "P1-1",
            "order_id": "o-alice",
            "auth": "remote",
            "energy_start_wh": 1000,
            "limit": {"mode": "amount", "value": 2000},
            "power_cap_w": 60000,
        },
        {
            "type": "session_progress",
            "ts": t0 + 60_000,
            "session_id": SESSION,
            "energy_wh": 1900,
            "power_w": 30000,
            "voltage_v": 400.0,
            "current_a": 75.0,
            "soc": 55,
            "cost_fen": 108,
        },
        tel=[gun_entry("P1-1", "charging", session_id=SESSION, power_w=31_000, soc=56)],
        seq=world["seq"],
    )


def test_the_poll_is_one_statement_and_304_when_nothing_changed(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    h, _ = world["alice"]
    charge(app, world)
    url = f"{ORDERS}/o-alice"
    with statements(app) as sql:
        r = client.get(url, headers=h)
    assert r.status_code == 200 and r.json["power_w"] == 31_000 and r.json["state"] == "charging"
    # the token check and the snapshot together; no statement of the full read
    assert len(sql) == 1, sql
    assert "order_progress" in sql[0] and "driver_sessions" in sql[0]
    tag = r.headers["ETag"]
    assert tag.startswith('W/"') and r.headers["Cache-Control"] == "no-store"
    with statements(app) as sql:
        r304 = client.get(url, headers={**h, "If-None-Match": tag})
    assert r304.status_code == 304 and r304.data == b"" and r304.headers["ETag"] == tag
    assert len(sql) == 1, sql
    # a tag among others, and the same tag strong, match as well (If-None-Match compares weakly)
    assert client.get(url, headers={**h, "If-None-Match": f'"x", {tag}'}).status_code == 304
    assert client.get(url, headers={**h, "If-None-Match": tag[2:]}).status_code == 304
    # a change (the next telemetry) makes a new tag and a 200
    ingest(
        app,
        tel=[gun_entry("P1-1", "charging", session_id=SESSION, power_w=29_500, soc=57)],
        seq=world["seq"],
    )
    r2 = client.get(url, headers={**h, "If-None-Match": tag})
    assert r2.status_code == 200 and r2.json["power_w"] == 29_500 and r2.json["soc"] == 57
    assert r2.headers["ETag"] != tag
    # telemetry that changes nothing the order shows leaves the tag as it is
    ingest(
        app,
        tel=[gun_entry("P1-1", "charging", session_id=SESSION, power_w=29_500, soc=57)],
        seq=world["seq"],
    )
    assert client.get(url, headers={**h, "If-None-Match": r2.headers["ETag"]}).status_code == 304


def test_the_snapshot_is_what_the_full_read_shows_at_every_step(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    h, alice = world["alice"]
    token = h["Authorization"].split(" ", 1)[1]

    def same(step: str) -> dict[str, Any]:
        now = now_ms()
        snap = snapshot_view(app, token, "o-alice", now)
        full = full_view(app, alice, "o-alice", now)
        assert snap == full, step
        r = client.get(f"{ORDERS}/o-alice", headers=h)
        assert r.status_code == 200
        with app.app_context():
            tag = progress.etag_of_view(_key(app), alice, full)
        assert r.headers["ETag"] == f'W/"{tag}"', step  # the full read's tag is the snapshot's
        return full

    assert snapshot_view(app, token, "o-alice", now_ms()) is None  # starting: read the full way
    charge(app, world)
    assert same("charging")["power_w"] == 31_000
    ingest(
        app,
        {
            "type": "session_progress",
            "ts": now_ms(),
            "session_id": SESSION,
            "energy_wh": 2500,
            "power_w": 30500,
            "voltage_v": 400.0,
            "current_a": 76.0,
            "soc": 60,
            "cost_fen": 150,
        },
        seq=world["seq"],
    )
    assert same("progress")["energy_wh"] == 1500
    with app.app_context(), db.transaction() as s:  # an archive edit shows at once
        stations.set_station(s, "S1", name="东门站")
    assert same("renamed")["station_name"] == "东门站"
    with app.app_context(), db.transaction() as s:
        orders.apply(s, "o-alice", Event.SESSION_ENDED)
    assert same("ended")["state"] == "ended"
    with app.app_context(), db.transaction() as s:
        orders.apply(
            s,
            "o-alice",
            Event.BILLED,
            lines=[
                orders.Line("electricity", 90, "valley", 1500),
                orders.Line("service", 30, "valley", 1500),
            ],
        )
    done = same("settled")
    assert done["total_fen"] == 120 and [ln["kind"] for ln in done["lines"]] == [
        "electricity",
        "service",
    ]
    assert (
        client.post(
            f"{ORDERS}/o-alice/rating", json={"stars": 4, "comment": "好"}, headers=h
        ).status_code
        == 200
    )
    assert same("rated")["rating"] == {"stars": 4, "comment": "好"}
    with app.app_context():
        row = db.session.get(OrderProgress, "o-alice")
        assert row is not None and row.state == "settled" and not row.live


def _key(app: Flask) -> bytes:
    from cloud.api.driver_orders import _etag_key

    with app.test_request_context():
        return _etag_key()


def test_another_drivers_order_is_missing_with_or_without_a_tag(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    (h_a, _), (h_b, _) = world["alice"], world["bob"]
    charge(app, world)
    mine = client.get(f"{ORDERS}/o-alice", headers=h_a)
    tag = mine.headers["ETag"]
    missing = client.get(f"{ORDERS}/o-none", headers={**h_b, "If-None-Match": tag})
    assert missing.status_code == 404
    for header in (tag, "*", f'"x", {tag}', tag[2:]):
        r = client.get(f"{ORDERS}/o-alice", headers={**h_b, "If-None-Match": header})
        assert r.status_code == 404 and r.json == missing.json, header
        assert "ETag" not in r.headers
    # Bob's tag of his own order is his alone: it never matches Alice's view of hers, and hers
    # never his, though both orders read alike while starting
    bobs = client.get(f"{ORDERS}/o-bob", headers=h_b)
    assert bobs.status_code == 200 and bobs.headers["ETag"] != tag
    assert (
        client.get(
            f"{ORDERS}/o-alice", headers={**h_a, "If-None-Match": bobs.headers["ETag"]}
        ).status_code
        == 200
    )


def test_the_token_rule_holds_on_the_poll(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    h, alice = world["alice"]
    charge(app, world)
    url = f"{ORDERS}/o-alice"
    assert client.get(url).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer jct_tool"}).status_code == 401
    assert client.get(url, headers={"Authorization": "Bearer jcd_unknown"}).status_code == 401
    tag = client.get(url, headers=h).headers["ETag"]
    with app.app_context(), db.transaction() as s:
        drivers.set_blocked(s, alice, True, now_ms())
    r = client.get(url, headers={**h, "If-None-Match": tag})
    assert r.status_code in (401, 403) and r.json["error"]["code"] in (
        "unauthorized",
        "driver_blocked",
    )


def test_a_failed_build_drops_the_row_and_the_poll_reads_the_full_way(
    app: Flask, client: FlaskClient, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, alice = world["alice"]
    charge(app, world)
    with app.app_context():
        assert db.session.scalar(
            select(OrderProgress.order_id).where(OrderProgress.order_id == "o-alice")
        )
        db.session.rollback()

    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("a view that cannot be built")

    monkeypatch.setattr(charging, "row_view", broken)
    ingest(
        app,
        tel=[gun_entry("P1-1", "charging", session_id=SESSION, power_w=12_000, soc=70)],
        seq=world["seq"],
    )
    monkeypatch.undo()
    with app.app_context():
        assert (
            db.session.get(OrderProgress, "o-alice") is None
        )  # the telemetry is stored all the same
        db.session.rollback()
    r = client.get(f"{ORDERS}/o-alice", headers=h)
    assert r.status_code == 200 and r.json["power_w"] == 12_000 and r.json["soc"] == 70


@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_dead_connection_costs_the_poll_no_error(
    app: Flask, client: FlaskClient, world: dict[str, Any]
) -> None:
    """PostgreSQL: the poll's engine does not ping at checkout; a pooled connection the server
    dropped (a restart, an idle timeout) is found dead by the read, which runs again on a
    fresh one."""
    from sqlalchemy import create_engine

    h, _ = world["alice"]
    charge(app, world)
    url = f"{ORDERS}/o-alice"
    assert client.get(url, headers=h).status_code == 200
    with app.app_context():
        reader = db._readers[id(app)]
        assert reader.pool.checkedin() == 1  # the one the poll used, back in the pool
        with reader.connect() as conn:
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        admin = create_engine(db.engine.url)
        with admin.connect() as conn:
            assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
        admin.dispose()
    r = client.get(url, headers=h)
    assert r.status_code == 200 and r.json["power_w"] == 31_000
