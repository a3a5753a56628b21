"""A store that fails its check on start: keep the broken file, salvage what reads.

The broken database (with its -wal and -shm) is moved aside to `<name>.corrupt-<UTC stamp>`
and kept for a person to look at; the WAL keeps its `-wal` suffix so that SQLite still reads
the copy with its last commits. Salvage works on a scratch copy (reading a WAL database may
checkpoint it, and the preserved files must stay as they were), table by table and row by
row, skipping what does not read.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .outbox import OutboxRecord, prune_class
from .seqfile import fsync_dir

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("edge.cache")

_CORRUPT, _NOTADB = 11, 26  # SQLite primary result codes
# Local tables copied back as they are; the outbox is handled on its own.
_TABLES = ("sessions", "session_points", "kv", "cards", "replies", "alarms", "events", "samples", "tariffs",
           "pairing_codes")


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Corrupt or not a database at all; not 'locked', not an I/O error."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in (_CORRUPT, _NOTADB)


def preserve(path: Path, now_s: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now_s))
    base = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while any(Path(f"{base}{s}").exists() for s in ("", "-wal", "-shm")):
        base = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            os.replace(src, f"{base}{suffix}")
    fsync_dir(path.parent)
    return base


@dataclass
class Salvage:
    last_seq: int | None = None  # the copy's counters, when they read
    acked_seq: int | None = None
    max_seq: int = 0  # the highest outbox seq copied back
    rows: dict[str, int] = field(default_factory=dict)


def salvage(preserved: Path, store: Store) -> Salvage:
    """Copy what reads from the preserved database into `store` (inside its transaction)."""
    result = Salvage()
    scratch = Path(tempfile.mkdtemp(prefix=".salvage-", dir=preserved.parent))
    src: sqlite3.Connection | None = None
    try:
        copy = scratch / "copy.db"
        shutil.copyfile(preserved, copy)
        if Path(f"{preserved}-wal").exists():
            shutil.copyfile(f"{preserved}-wal", f"{copy}-wal")
        src = sqlite3.connect(str(copy), isolation_level=None)
        try:
            row = src.execute("SELECT last_seq, acked_seq FROM outbox_state WHERE id = 1").fetchone()
            result.last_seq, result.acked_seq = int(row[0]), int(row[1])
        except (sqlite3.DatabaseError, TypeError, ValueError) as exc:
            log.warning("salvage: the outbox counters do not read: %s", exc)
        _salvage_outbox(src, store, result)
        for table in _TABLES:
            _salvage_table(src, store, table, result)
    except (OSError, sqlite3.DatabaseError) as exc:
        log.warning("salvage from %s stopped: %s", preserved, exc)
    finally:
        if src is not None:
            try:
                src.close()
            except sqlite3.DatabaseError:
                pass
        shutil.rmtree(scratch, ignore_errors=True)
    log.warning("salvaged from %s: %s", preserved, result)
    return result


def _salvage_outbox(src: sqlite3.Connection, store: Store, result: Salvage) -> None:
    after = result.acked_seq or 0
    seen: set[int] = set()
    # Forward until the first unreadable page, then backward from the end to it.
    for order in ("ASC", "DESC"):
        try:
            cur = src.execute(f"SELECT seq, body FROM outbox WHERE seq > ? ORDER BY seq {order}", (after,))
            for seq, body in cur:
                if seq in seen:
                    break
                seen.add(seq)
                try:
                    rec = OutboxRecord.from_raw(body)
                except (ValueError, KeyError, TypeError, AttributeError):
                    continue
                if rec.seq != seq:
                    continue
                store.execute(
                    "INSERT OR IGNORE INTO outbox (seq, type, ts, body, prunable) VALUES (?, ?, ?, ?, ?)",
                    (seq, rec.type, rec.ts, rec.raw, prune_class(rec.type, rec.body)),
                )
                result.rows["outbox"] = result.rows.get("outbox", 0) + 1
                result.max_seq = max(result.max_seq, seq)
            else:
                break  # read to the end without an error: no need to come from the other side
        except sqlite3.DatabaseError as exc:
            log.warning("salvage: outbox read stopped (%s): %s", order, exc)


def _salvage_table(src: sqlite3.Connection, store: Store, table: str, result: Salvage) -> None:
    try:
        old_cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})").fetchall()]
    except sqlite3.DatabaseError as exc:
        log.warning("salvage: %s unreadable: %s", table, exc)
        return
    new_cols = {r[1] for r in store.execute(f"PRAGMA table_info({table})").fetchall()}
    cols = [c for c in old_cols if c in new_cols]
    if not cols:
        return
    names = ", ".join(cols)
    insert = f"INSERT OR IGNORE INTO {table} ({names}) VALUES ({', '.join('?' * len(cols))})"
    try:
        for row in src.execute(f"SELECT {names} FROM {table}"):
            try:
                store.execute(insert, row)
            except sqlite3.IntegrityError:
                continue  # a CHECK or NOT NULL the broken row fails
            result.rows[table] = result.rows.get(table, 0) + 1
    except sqlite3.DatabaseError as exc:
        log.warning("salvage: %s read stopped: %s", table, exc)
