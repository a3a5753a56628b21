# ruff: noqa: F811  (the fixtures imported below are the tests' parameters)
"""The home map's guns by state come from `station_gun_counts` (kept by the database's
triggers on `guns`, migration 0028_console10): after gun states change through the real
ingest (real broker, telemetry), a gun added in the archive, a gun going offline
(`unavailable`), a late telemetry that must not count, and a station going offline by
liveness, the counts equal a GROUP BY over the guns and the home page shows exactly what
the guns and the stations' live state say. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore
from cloud.models import Gun, StationState
from cloud.reports.service import station_map
from cloud.stations.monitor import state_bucket
from cloud.stations.service import set_gun
from tests.cloud.support import FakeStation, ThreadedIngest, wait_for
from tests.console.conftest import make_app
from tests.console.support import login, make_operator
from tests.support.broker import Broker, broker  # noqa: F401  (fixture)
from tests.support.databases import db_url, engine, pg_url  # noqa: F401  (fixtures)


def counts_table(eng: Engine) -> dict[tuple[str, str], int]:
    with eng.connect() as c:
        return {
            (sid, st): int(n)
            for sid, st, n in c.execute(
                text("SELECT sid, state, n FROM station_gun_counts WHERE n <> 0")
            )
        }


def counts_of_guns(eng: Engine) -> dict[tuple[str, str], int]:
    """What the counts must be: the guns grouped, and '' = each station's guns."""
    with eng.connect() as c:
        out = {
            (sid, st): int(n)
            for sid, st, n in c.execute(
                text(
                    "SELECT sid, COALESCE(state, 'unknown'), COUNT(*) FROM guns GROUP BY sid, COALESCE(state, 'unknown')"
                )
            )
        }
        out.update(
            {
                (sid, ""): int(n)
                for sid, n in c.execute(text("SELECT sid, COUNT(*) FROM guns GROUP BY sid"))
            }
        )
    return out


def map_of_database(eng: Engine) -> dict[str, dict[str, int]]:
    """The home map's guns per station straight from `guns` and `station_state`: an
    offline station's guns all offline."""
    by: dict[str, dict[str, int]] = defaultdict(dict)
    with eng.connect() as c:
        online = {
            sid: bool(o) for sid, o in c.execute(text("SELECT sid, online FROM station_state"))
        }
        for sid, st, n in c.execute(
            text(
                "SELECT sid, COALESCE(state, 'unknown'), COUNT(*) FROM guns "
                "GROUP BY sid, COALESCE(state, 'unknown')"
            )
        ):
            bucket = state_bucket(st)
            by[sid][bucket] = by[sid].get(bucket, 0) + int(n)
    return {sid: (g if online.get(sid) else {"offline": sum(g.values())}) for sid, g in by.items()}


def page_map(client: Any) -> dict[str, dict[str, int]]:
    """The home page's station table: station → gun state → count, as rendered."""
    html = client.get("/").text
    out = {}
    for sid, cells in re.findall(r'<tr data-sid="([^"]+)">(.*?)</tr>', html, re.S):
        out[sid] = {
            st: int(n)
            for st, n in re.findall(r'<span class="gun-([a-z_]+)">[^<]*?(\d+)</span>', cells)
        }
    return out


@pytest.fixture
def console(
    engine: Engine,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Flask, Any]]:
    from argon2 import PasswordHasher

    from cloud.operators import service

    monkeypatch.setenv("JC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(
        service, "HASHER", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    )
    app = make_app(tmp_path, db_url)
    make_operator(app, "root", "admin")
    c = app.test_client()
    login(c, "root")
    yield app, c


def telemetry(st: FakeStation, ts: int, guns: dict[str, str]) -> None:
    st.publish_raw(
        "telemetry",
        json.dumps(
            {
                "v": 1,
                "ts": ts,
                "transformer": None,
                "guns": [
                    {
                        "id": g,
                        "state": s,
                        "power_w": 0,
                        "limit_w": None,
                        "energy_wh": 1,
                        "session_id": None,
                        "soc": None,
                    }
                    for g, s in guns.items()
                ],
            }
        ),
        qos=1,
    )


def gun_states(eng: Engine, sid: str) -> dict[str, str | None]:
    with eng.connect() as c:
        return dict(
            c.execute(text("SELECT gun_id, state FROM guns WHERE sid = :s"), {"s": sid}).all()
        )


class Gateways:
    """The stations' telemetry every 0.3 s with the time now and their guns' states as set
    (a live gateway reports all the time; the liveness timeout is 2 s)."""

    def __init__(self) -> None:
        self.guns: dict[FakeStation, dict[str, str]] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def set(self, st: FakeStation, guns: dict[str, str]) -> None:
        with self.lock:
            self.guns[st] = dict(guns)
            telemetry(st, int(time.time() * 1000), guns)

    def drop(self, st: FakeStation) -> None:
        with self.lock:
            self.guns.pop(st, None)

    def _run(self) -> None:
        while not self.stop.wait(0.3):
            with self.lock:
                for st, guns in self.guns.items():
                    telemetry(st, int(time.time() * 1000), guns)


def test_counts_follow_ingested_gun_states_and_liveness(
    broker: Broker,
    engine: Engine,
    console: tuple[Flask, Any],
) -> None:
    _, client = console
    ingest = ThreadedIngest(broker, engine, offline_after_s=2.0, sweep_every_s=0.2).start()
    gws = Gateways()
    a, b = FakeStation(broker, "GA").connect(), FakeStation(broker, "GB").connect()
    try:

        def live(sid: str) -> bool:
            with Session(engine) as s:
                row = s.get(StationState, sid)
                return bool(row and row.online)

        gws.thread.start()
        gws.set(a, {"P1-1": "available", "P1-2": "charging", "P2-1": "faulted"})
        gws.set(b, {"P1-1": "charging", "P1-2": "plugged"})
        wait_for(lambda: live("GA") and live("GB"), 10, "both online")
        wait_for(
            lambda: (
                gun_states(engine, "GA")
                == {"P1-1": "available", "P1-2": "charging", "P2-1": "faulted"}
                and gun_states(engine, "GB") == {"P1-1": "charging", "P1-2": "plugged"}
            ),
            10,
            "first states",
        )
        # the archive adds a gun no telemetry has named: counted as unknown
        with Session(engine) as s, s.begin():
            set_gun(s, "GA", "P9-1", name="新枪")
        assert counts_table(engine) == counts_of_guns(engine)
        assert (
            counts_table(engine)[("GA", "unknown")] == 1 and counts_table(engine)[("GA", "")] == 4
        )
        assert (
            page_map(client)
            == map_of_database(engine)
            == {
                "GA": {"idle": 1, "charging": 1, "faulted": 1, "unknown": 1},
                "GB": {"charging": 1, "plugged": 1},
            }
        )

        # states change; a gun goes offline (unavailable); P9-1 is heard from at last
        ga = {"P1-1": "charging", "P1-2": "available", "P2-1": "unavailable", "P9-1": "available"}
        gws.set(a, ga)
        gws.set(b, {"P1-1": "finishing", "P1-2": "plugged"})
        wait_for(
            lambda: (
                gun_states(engine, "GA") == ga and gun_states(engine, "GB")["P1-1"] == "finishing"
            ),
            10,
            "the changes",
        )
        # a late telemetry (an older ts) changes nothing, neither the guns nor their counts
        telemetry(a, int(time.time() * 1000) - 60_000, dict.fromkeys(ga, "faulted"))
        time.sleep(1.0)
        assert gun_states(engine, "GA") == ga
        assert counts_table(engine) == counts_of_guns(engine)
        want = {
            "GA": {"idle": 2, "charging": 1, "offline": 1},
            "GB": {"plugged": 2},
        }
        assert map_of_database(engine) == want
        assert page_map(client) == want
        with Session(engine) as s:
            assert station_map(s, {"GB"})["totals"]["guns"] == {"plugged": 2}

        # GB goes quiet (a clean DISCONNECT: no will): offline by liveness, its guns offline on
        # the map while their last states (and so their counts) stay as reported
        gws.drop(b)
        b.close()
        wait_for(lambda: not live("GB"), 10, "GB offline by liveness")
        assert live("GA")
        assert counts_table(engine) == counts_of_guns(engine)
        assert counts_table(engine)[("GB", "finishing")] == 1
        want["GB"] = {"offline": 2}
        assert map_of_database(engine) == want
        assert page_map(client) == want
        with Session(engine) as s:
            assert station_map(s, None)["totals"] == {
                "stations": {"online": 1, "offline": 1},
                "guns": {"charging": 1, "idle": 2, "offline": 3},
            }

        # back: its first message shows it online again, its guns as it reports them now
        b.connect()
        gws.set(b, {"P1-1": "available", "P1-2": "plugged"})
        wait_for(
            lambda: live("GB") and gun_states(engine, "GB")["P1-1"] == "available", 10, "GB back"
        )
        want["GB"] = {"idle": 1, "plugged": 1}
        assert page_map(client) == want == map_of_database(engine)
        assert counts_table(engine) == counts_of_guns(engine)
    finally:
        gws.stop.set()
        gws.thread.join(5)
        for st in (a, b):
            st.close()
        ingest.stop()


def test_concurrent_gun_changes_keep_the_counts(engine: Engine) -> None:
    """Four writers change, add and remove guns of the same two stations at once, several
    guns per transaction: the counts equal the guns at the end. A transaction the database
    refuses (a deadlock on PostgreSQL, a busy file on SQLite) is tried again, as the ingest
    tries its batches again."""
    with Session(engine) as s, s.begin():
        s.execute(text("INSERT INTO stations (sid, created_at) VALUES ('CA', 0), ('CB', 0)"))
        for sid in ("CA", "CB"):
            for g in range(6):
                s.add(Gun(sid=sid, gun_id=f"P{g}-1", pile_id=f"P{g}"))
    states = ["available", "charging", "plugged", "faulted", None]
    errors: list[BaseException] = []
    done = [0]

    def change(s: Session, rnd: random.Random) -> None:
        for sid, g in sorted({(rnd.choice(("CA", "CB")), rnd.randrange(8)) for _ in range(4)}):
            gun = f"P{g}-1"
            if g >= 6 and rnd.random() < 0.5:  # guns P6, P7 come and go
                insert_or_ignore(
                    s,
                    Gun.__table__,
                    [{"sid": sid, "gun_id": gun, "pile_id": f"P{g}", "state": rnd.choice(states)}],
                )
            elif g >= 6:
                s.execute(delete(Gun).where(Gun.sid == sid, Gun.gun_id == gun))
            else:
                s.execute(
                    update(Gun)
                    .where(Gun.sid == sid, Gun.gun_id == gun)
                    .values(state=rnd.choice(states))
                )

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            for _ in range(25):
                for attempt in range(50):
                    try:
                        with Session(engine) as s, s.begin():
                            change(s, random.Random(rnd.random()))
                        done[0] += 1
                        break
                    except OperationalError:
                        time.sleep(0.01 * attempt)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert errors == [] and done[0] == 100
    assert counts_table(engine) == counts_of_guns(engine)


@pytest.mark.postgres
def test_concurrent_ingests_of_one_station_never_deadlock(pg_url: str) -> None:
    """Four ingest stores (each a process of its own: its own caches and connections) take
    batches of one station at once, each batch naming many guns in its own order: session
    records of those guns' orders (billing locks the orders), and telemetry with every gun's
    state (the guns' rows, and through the triggers the station's counts). Every writer locks
    the station's row first (cloud/db.py `lock_stations`), so PostgreSQL never finds a
    deadlock: not one batch is tried again (before that order, this found several). At the end the counts equal the guns, every gun
    shows the newest telemetry's state and every order follows its session."""
    from cloud.ingest.decode import Batch, add_message
    from cloud.ingest.store import Store
    from cloud.ingest.worker import is_deadlock
    from cloud.models import now_ms
    from cloud.orders import service as orders
    from cloud.orders.machine import Event
    from jcproto import topic
    from tests.billing.support import T0, station
    from tests.cloud.support import migrated_engine

    eng = migrated_engine(pg_url)
    sid, n_guns, n_threads, n_batches = "DL", 16, 4, 12
    guns = [f"P{i:02d}-1" for i in range(n_guns)]
    with Session(eng) as s, s.begin():
        station(s, sid, rated_power_w=None)
        from cloud.ledger import service as ledger

        ledger.top_up(s, "1", 10**7, key="topup:dl")
        for g in guns:
            orders.create(s, order_id=f"o-{g}", driver_id="1", sid=sid, gun=g, limit_mode="amount",
                          limit_value=1000, hold_fen=1000)  # fmt: skip
            orders.apply(s, f"o-{g}", Event.START_SENT)
    sessions = {g: f"00000000-0000-4000-8000-{i:012d}" for i, g in enumerate(guns)}
    states = ("available", "charging", "plugged", "finishing", "faulted")
    ts_lock, last_ts = threading.Lock(), [T0]
    newest: dict[str, tuple[int, dict[str, str]]] = {}

    def next_ts() -> int:
        with ts_lock:
            last_ts[0] += 1000
            return last_ts[0]

    def batch_of(rnd: random.Random, seq: int) -> tuple[Batch, int]:
        picked = rnd.sample(guns, 8)  # this batch's guns, in its own order
        records = []
        for g in picked:
            sess = sessions[g]
            if rnd.random() < 0.5:
                records.append({"seq": seq, "type": "session_started", "ts": T0, "session_id": sess,
                                "gun": g, "order_id": f"o-{g}", "auth": "remote", "energy_start_wh": 1000,
                                "limit": {"mode": "amount", "value": 1000}, "power_cap_w": 60000})  # fmt: skip
            else:
                records.append({"seq": seq, "type": "session_progress", "ts": T0 + seq, "session_id": sess,
                                "energy_wh": 1000 + seq, "power_w": 7000, "voltage_v": 230.0,
                                "current_a": 30.0, "soc": 50, "cost_fen": 10})  # fmt: skip
            seq += 1
        ts = next_ts()
        order = rnd.sample(guns, len(guns))
        tele = {g: rnd.choice(states) for g in order}
        with ts_lock:
            if ts > newest.get(sid, (0, {}))[0]:
                newest[sid] = (ts, tele)
        batch = Batch(received_at=now_ms())
        add_message(batch, topic(sid, "up"), json.dumps({"v": 1, "records": records}).encode())
        body = {"v": 1, "ts": ts, "transformer": None,
                "guns": [{"id": g, "state": tele[g], "power_w": 0, "limit_w": None, "energy_wh": 1,
                          "session_id": None, "soc": None} for g in order]}  # fmt: skip
        add_message(batch, topic(sid, "telemetry"), json.dumps(body).encode())
        assert len(batch.records) == len(picked) and batch.telemetry, batch.dropped
        return batch, seq

    deadlocks, retries, errors = [0], [0], []
    gate = threading.Barrier(n_threads)

    def ingest(k: int) -> None:
        store, rnd, seq = Store(eng), random.Random(k), 1 + k * 10_000
        try:
            gate.wait()
            for _ in range(n_batches):
                batch, seq = batch_of(rnd, seq)
                for attempt in range(20):  # the worker's retry (cloud/ingest/worker.py)
                    try:
                        store.write(batch)
                        break
                    except OperationalError as exc:
                        with ts_lock:
                            retries[0] += 1
                            deadlocks[0] += is_deadlock(exc)
                        time.sleep(0.01 * attempt)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(k,)) for k in range(n_threads)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert (deadlocks[0], retries[0]) == (0, 0)
        assert counts_table(eng) == counts_of_guns(eng)
        assert counts_table(eng)[(sid, "")] == n_guns
        assert gun_states(eng, sid) == newest[sid][1]
        with eng.connect() as c:
            stored = c.execute(text("SELECT count(*) FROM raw_records WHERE sid = :s"), {"s": sid}).scalar()
            started = {
                g for (g,) in c.execute(
                    text("SELECT gun FROM sessions WHERE sid = :s AND started_seq IS NOT NULL"), {"s": sid}
                )
            }
            charging = {
                g for (g,) in c.execute(
                    text("SELECT gun FROM orders WHERE sid = :s AND state = 'charging'"), {"s": sid}
                )
            }
        assert stored == n_threads * n_batches * 8
        assert charging == started  # every started session's order moved on, and only those
    finally:
        eng.dispose()


@pytest.mark.postgres
def test_the_liveness_sweep_skips_a_station_an_ingest_holds(pg_url: str) -> None:
    """The sweep takes the stations' rows first too, skipping one a transaction holds (an
    ingest storing what the station just sent: it is alive): it never waits on, nor
    deadlocks with, a batch. The next sweep takes it, once it is free."""
    from cloud.db import lock_stations
    from cloud.ingest.store import sweep_liveness
    from tests.cloud.support import migrated_engine

    eng = migrated_engine(pg_url)
    try:
        with eng.begin() as c:
            c.execute(text("INSERT INTO stations (sid, created_at) VALUES ('LA', 0), ('LB', 0)"))
            c.execute(text("INSERT INTO station_state (sid, online, claimed_online, last_seen) "
                           "VALUES ('LA', true, true, 1), ('LB', true, true, 1)"))
        with eng.connect() as held, held.begin():
            lock_stations(held, ["LA"])
            t0 = time.monotonic()
            assert sweep_liveness(eng, int(time.time() * 1000), 90) == ["LB"]
            assert time.monotonic() - t0 < 5
        assert sweep_liveness(eng, int(time.time() * 1000), 90) == ["LA"]
    finally:
        eng.dispose()
