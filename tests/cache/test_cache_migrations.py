"""Schema versions: a v1 store (as the first release wrote it) is migrated on open."""

from __future__ import annotations

import json
import sqlite3

import pytest

from edge.cache import SCHEMA_VERSION, SchemaTooNew, Store
from edge.cache import migrations as mig

# The v1 layout exactly as shipped; kept here independent of migrations.py so that an edit
# to a shipped step shows up as a failing test.
V1_DDL = """
CREATE TABLE outbox_state (id INTEGER PRIMARY KEY CHECK (id = 1), last_seq INTEGER NOT NULL,
    acked_seq INTEGER NOT NULL);
INSERT INTO outbox_state (id, last_seq, acked_seq) VALUES (1, 0, 0);
CREATE TABLE outbox (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, ts INTEGER NOT NULL,
    body TEXT NOT NULL);
CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at INTEGER);
CREATE TABLE sessions (session_id TEXT PRIMARY KEY, gun TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'ended')), order_id TEXT,
    auth TEXT NOT NULL, limit_json TEXT, power_cap_w INTEGER, energy_start_wh INTEGER,
    energy_last_wh INTEGER, started_at INTEGER, ended_at INTEGER, stop_reason TEXT,
    cost_fen INTEGER NOT NULL DEFAULT 0, cost_state TEXT, reported INTEGER NOT NULL DEFAULT 0);
PRAGMA user_version = 1;
"""
SID = "0b0c4a52-8f0e-4a7e-9d67-4b2a4f2d9a11"
OLD_TARIFF = {"id": "old-1", "currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_fen_per_kwh": 80, "service_fen_per_kwh": 40}]}


def write_v1(path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")  # v1 had no auto_vacuum
    conn.executescript(V1_DDL)
    records = [
        (1, "meter_minute", 1000, '{"seq":1,"type":"meter_minute","ts":1000,"p_avg_w":5}'),
        (2, "event", 1001, '{"seq":2,"type":"event","ts":1001,"kind":"gun_state","gun":"P1-1","detail":{}}'),
        (3, "event", 1002, '{"seq":3,"type":"event","ts":1002,"kind":"fault_raised","gun":"P1-1","detail":{}}'),
        (4, "session_started", 1003, f'{{"seq":4,"type":"session_started","ts":1003,"session_id":"{SID}"}}'),
    ]
    conn.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", records)
    conn.execute("UPDATE outbox_state SET last_seq = 4")
    conn.execute(
        "INSERT INTO sessions (session_id, gun, state, auth, limit_json, energy_start_wh, started_at) "
        "VALUES (?, 'P1-1', 'active', 'remote', '{\"mode\":\"full\",\"value\":0}', 100, 1003)",
        (SID,),
    )
    conn.execute("INSERT INTO kv VALUES ('cfg_rev', '7', 1000)")
    conn.execute("INSERT INTO kv VALUES ('tariff', ?, 900)", (json.dumps(OLD_TARIFF),))
    conn.close()


def test_v1_store_is_migrated(db_path, clock) -> None:
    write_v1(db_path)
    with Store.open(db_path, clock=clock) as s:
        assert s.schema_found == 1
        assert s.schema_version() == SCHEMA_VERSION == 5
        assert s.scalar("PRAGMA auto_vacuum") == 2  # converted once
        assert s.recovery is None
        # data kept, prune classes filled in for old records
        assert [r.seq for r in s.outbox.batch(0, 10)] == [1, 2, 3, 4]
        classes = dict(s.conn.execute("SELECT seq, prunable FROM outbox").fetchall())
        assert classes == {1: 1, 2: 2, 3: 0, 4: 0}
        row = s.sessions.get(SID)
        assert (row.state, row.limit, row.energy_start_wh, row.session_tag) == (
            "active", {"mode": "full", "value": 0}, 100, None,
        )
        assert s.sessions.for_gun("P1-1") == row
        # v3: an old row is not waiting for its car (no gun_released is owed for it)
        assert not row.release_pending and row.elapsed_ms is None and s.sessions.pending_release() == []
        assert s.sessions.points(SID) == []
        s.sessions.add_point(SID, 2000, 150)
        assert s.sessions.points(SID) == [(2000, 150)]
        assert s.settings.get("cfg_rev") == 7
        # v4: the single stored tariff is the first of the schedule, in force since it was stored
        assert s.settings.get("tariff") is None
        assert [e.summary() for e in s.settings.tariff_history()] == [{"tariff_id": "old-1", "effective_from": 900}]
        assert s.settings.tariff(899) is None and s.settings.tariff(900) == s.settings.tariff() == OLD_TARIFF
        # seq continues; the new tables work
        assert s.outbox.append("meter_minute", {}, 2000) == 5
        s.events.add("gun_state", "P1-1", {}, 2000)
        s.alarms.raise_("x", "y", 2000)
    with Store.open(db_path, clock=clock) as s:
        assert s.schema_found == 5  # nothing to do the second time


def test_v5_takes_over_the_pairing_codes_still_in_the_outbox(db_path, clock) -> None:
    """A store from before v5 with a pairing code's record waiting: the code's row is made from
    the record, so a refusal the cloud sends for that seq finds it; a malformed record is left."""
    write_v1(db_path)
    sha = "a" * 64
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.executemany("INSERT INTO outbox VALUES (?, ?, ?, ?)", [
        (5, "event", 1004, json.dumps({"seq": 5, "type": "event", "ts": 1004, "kind": "pairing_code", "gun": "P1-1",
                                       "detail": {"gun": "P1-1", "code_sha256": sha, "expires_at": 90_000_000}})),
        (6, "event", 1005, json.dumps({"seq": 6, "type": "event", "ts": 1005, "kind": "pairing_code", "gun": "P1-1",
                                       "detail": {"gun": "P1-1", "expires_at": "soon"}})),
    ])
    conn.execute("UPDATE outbox_state SET last_seq = 6")
    conn.close()
    with Store.open(db_path, clock=clock) as s:
        row = s.pairing.find("P1-1", 90_000_000)
        assert row is not None and (row.seq, row.code_sha256, row.made_at, row.refused_reason) == (5, sha, 1004, None)
        assert s.scalar("SELECT count(*) FROM pairing_codes") == 1
        assert s.pairing.refuse(5, "unknown_gun", 2000) == "refused" and s.pairing.refuse(6, "unknown_gun", 2000) is None
        assert s.pairing.refuse(5, "expired", 3000) == "known"  # the first answer stays
        assert s.pairing.find("P1-1", 90_000_000).refused_reason == "unknown_gun"


def test_failed_migration_leaves_the_previous_version(db_path, clock, monkeypatch) -> None:
    write_v1(db_path)

    def broken(db) -> None:
        db.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("crash in the middle of a step")

    monkeypatch.setattr(mig, "MIGRATIONS", [mig.MIGRATIONS[0], broken])
    monkeypatch.setattr(mig, "LATEST", 2)
    with pytest.raises(RuntimeError):
        Store.open(db_path, clock=clock)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    conn.close()
    monkeypatch.undo()
    with Store.open(db_path, clock=clock) as s:  # and the real step runs next time
        assert s.schema_version() == 5 and s.outbox.last_seq() == 4


def test_newer_schema_is_refused(db_path, clock) -> None:
    with Store.open(db_path, clock=clock):
        pass
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaTooNew, match="v99"):
        Store.open(db_path, clock=clock)
    with pytest.raises(SchemaTooNew):  # the lock was released by the failed open
        Store.open(db_path, clock=clock)


def test_fresh_store_starts_at_latest(store: Store) -> None:
    assert store.schema_found == 0
    assert store.schema_version() == SCHEMA_VERSION
