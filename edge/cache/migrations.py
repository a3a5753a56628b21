"""Schema versions, kept in `PRAGMA user_version`, and the ordered steps between them.

`MIGRATIONS[n]` takes a store from version n to n+1. Steps are never edited once shipped
(a gateway in the field may be at any version); a change is a new step at the end. Each step
runs in its own transaction together with the version bump, so a crash mid-migration leaves
the previous version intact and the step runs again on the next start.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlite_utils import Database

from .lock import StoreError


class SchemaTooNew(StoreError):
    """The store was written by a newer gateway."""


def _v1(db: Database) -> None:
    # The first layout: the outbox, sessions and a key-value table.
    for sql in (
        """CREATE TABLE outbox_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            last_seq INTEGER NOT NULL,
            acked_seq INTEGER NOT NULL)""",
        "INSERT INTO outbox_state (id, last_seq, acked_seq) VALUES (1, 0, 0)",
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            type TEXT NOT NULL,
            ts INTEGER NOT NULL,
            body TEXT NOT NULL)""",
        """CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at INTEGER)""",
        """CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY,
            gun TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('starting', 'active', 'ended')),
            order_id TEXT,
            auth TEXT NOT NULL,
            limit_json TEXT,
            power_cap_w INTEGER,
            energy_start_wh INTEGER,
            energy_last_wh INTEGER,
            started_at INTEGER,
            ended_at INTEGER,
            stop_reason TEXT,
            cost_fen INTEGER NOT NULL DEFAULT 0,
            cost_state TEXT,
            reported INTEGER NOT NULL DEFAULT 0)""",
    ):
        db.execute(sql)


def _v2(db: Database) -> None:
    # Prune classes on the outbox, pile session identity, one open session per gun, and the
    # local tables: events, alarms, minute samples, cards, command replies.
    for sql in (
        "ALTER TABLE outbox ADD COLUMN prunable INTEGER NOT NULL DEFAULT 0",
        "UPDATE outbox SET prunable = 1 WHERE type = 'meter_minute'",
        """UPDATE outbox SET prunable = 2 WHERE type = 'event' AND json_extract(body, '$.kind')
            IN ('gun_state', 'pile_lost', 'pile_back', 'meter_lost', 'meter_back', 'clock_skew')""",
        "CREATE INDEX outbox_prunable ON outbox (prunable, seq) WHERE prunable > 0",
        "ALTER TABLE sessions ADD COLUMN pile_session_counter INTEGER",
        "ALTER TABLE sessions ADD COLUMN session_tag TEXT",
        "ALTER TABLE sessions ADD COLUMN ended_seq INTEGER",
        "ALTER TABLE sessions ADD COLUMN updated_at INTEGER",
        "CREATE UNIQUE INDEX sessions_open_gun ON sessions (gun) WHERE state != 'ended'",
        "CREATE INDEX sessions_ended ON sessions (ended_at) WHERE state = 'ended'",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts INTEGER NOT NULL,
            kind TEXT NOT NULL,
            gun TEXT,
            detail TEXT NOT NULL)""",
        """CREATE TABLE alarms (
            key TEXT PRIMARY KEY,
            message TEXT NOT NULL,
            raised_at INTEGER NOT NULL,
            cleared_at INTEGER,
            active INTEGER NOT NULL)""",
        """CREATE TABLE samples (
            minute_ts INTEGER PRIMARY KEY,
            p_avg_w INTEGER NOT NULL,
            p_max_w INTEGER NOT NULL,
            load_pct_max REAL NOT NULL,
            energy_import_wh INTEGER NOT NULL)""",
        """CREATE TABLE cards (
            card_id TEXT PRIMARY KEY,
            label TEXT,
            expires_at INTEGER,
            valid INTEGER NOT NULL)""",
        """CREATE TABLE replies (
            command_id TEXT PRIMARY KEY,
            reply TEXT NOT NULL,
            until_ms INTEGER NOT NULL)""",
    ):
        db.execute(sql)


def _v3(db: Database) -> None:
    # Revision 1.1 money: the idle time after a session (until its gun_released record), the
    # charging time counted on the monotonic clock, and each session's recorded progress
    # readings, from which its cost is recomputed when its cost state is lost.
    # Sessions that ended before this step are not tracked for release (release_pending 0).
    for sql in (
        "ALTER TABLE sessions ADD COLUMN release_pending INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE sessions ADD COLUMN released_at INTEGER",
        "ALTER TABLE sessions ADD COLUMN idle_fen INTEGER",
        "ALTER TABLE sessions ADD COLUMN plugged_seen_at INTEGER",
        "ALTER TABLE sessions ADD COLUMN elapsed_ms INTEGER",
        "ALTER TABLE sessions ADD COLUMN elapsed_at INTEGER",
        "CREATE INDEX sessions_release_pending ON sessions (gun) WHERE release_pending = 1",
        """CREATE TABLE session_points (
            session_id TEXT NOT NULL,
            ts INTEGER NOT NULL,
            energy_wh INTEGER NOT NULL,
            PRIMARY KEY (session_id, ts))""",
    ):
        db.execute(sql)


def _v4(db: Database) -> None:
    # Scheduled tariffs: every tariff the station was given, keyed by the instant it takes
    # effect, so that a change scheduled ahead applies at its time by the gateway's own clock
    # (also offline, also across restarts) and the one in force at any past instant is known.
    # The single tariff kept in kv becomes the first row, in force since it was stored.
    for sql in (
        """CREATE TABLE tariffs (
            effective_from INTEGER PRIMARY KEY,
            tariff_id TEXT NOT NULL,
            body TEXT NOT NULL,
            received_at INTEGER NOT NULL)""",
        """INSERT INTO tariffs (effective_from, tariff_id, body, received_at)
            SELECT COALESCE(updated_at, 0), COALESCE(json_extract(value, '$.id'), '?'), value,
                   COALESCE(updated_at, 0)
            FROM kv WHERE key = 'tariff' AND json_valid(value) AND json_type(value) = 'object'""",
        "DELETE FROM kv WHERE key = 'tariff'",
    ):
        db.execute(sql)


def _v5(db: Database) -> None:
    # Pairing codes the gateway made (docs/sharing.md), by their record's seq: what the cloud
    # answered of each, for the status page and `jc-gateway status` — refused, and why (the
    # ack's `refused`). Codes whose record still waits in the outbox are taken over from it;
    # those the cloud acknowledged before this step have nothing more to hear.
    for sql in (
        """CREATE TABLE pairing_codes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            seq INTEGER NOT NULL,
            gun TEXT NOT NULL,
            code_sha256 TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            made_at INTEGER NOT NULL,
            refused_reason TEXT,
            refused_at INTEGER)""",
        "CREATE INDEX pairing_codes_seq ON pairing_codes (seq)",
        "CREATE INDEX pairing_codes_gun ON pairing_codes (gun, expires_at)",
        """INSERT INTO pairing_codes (seq, gun, code_sha256, expires_at, made_at)
            SELECT seq, json_extract(body, '$.detail.gun'), json_extract(body, '$.detail.code_sha256'),
                   json_extract(body, '$.detail.expires_at'), ts
            FROM outbox WHERE type = 'event' AND json_valid(body)
              AND json_extract(body, '$.kind') = 'pairing_code'
              AND json_type(body, '$.detail.gun') = 'text' AND json_type(body, '$.detail.code_sha256') = 'text'
              AND json_type(body, '$.detail.expires_at') = 'integer'
            ORDER BY seq""",
    ):
        db.execute(sql)


MIGRATIONS: list[Callable[[Database], None]] = [_v1, _v2, _v3, _v4, _v5]
LATEST = len(MIGRATIONS)


def schema_version(db: Database) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> tuple[int, int]:
    """Bring the store to LATEST; returns (version found, version now)."""
    found = schema_version(db)
    if found > LATEST:
        raise SchemaTooNew(
            f"the store is at schema v{found}, newer than this gateway knows (v{LATEST}); "
            "upgrade the gateway (downgrading a store is not supported)"
        )
    # Migrations change the shape of money tables: commit each one durably.
    db.execute("PRAGMA synchronous=FULL")
    try:
        for version in range(found, LATEST):
            db.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[version](db)
                db.execute(f"PRAGMA user_version = {version + 1}")
            except BaseException:
                if db.conn.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
    finally:
        db.execute("PRAGMA synchronous=NORMAL")
    return found, LATEST
