"""The gateway's local store: one SQLite file in WAL mode, with two small files beside it.

    station.db        the database (tables: see docs/store.md)
    station.db.lock   flock'ed while a gateway has the store open: one writer, ever
    station.db.seq    the outbox seq high-water mark (see seqfile.py), so a fresh store
                      after corruption or loss continues after the last seq ever assigned

Durability: commits default to `synchronous=NORMAL` (in WAL mode a commit survives kill -9,
not power loss). A transaction that writes money (session rows, `session_*` records,
tariff, command replies) is committed with `synchronous=FULL` (the WAL is fsynced) before
`transaction()` returns. Before the outbox hands records out to be sent, any NORMAL commits
are made durable too, so a seq the cloud has seen can never be rolled back by power loss
and then reassigned.

Threads: the gateway is the only writer; calls may come from the event loop thread or a
worker thread, an RLock serialises them.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlite_utils import Database

from edge.clock import Clock, SystemClock

from . import recovery
from .cards import Cards
from .events import Alarms, Events
from .lock import LockFile, StoreError
from .migrations import migrate, schema_version
from .outbox import Outbox
from .pairing import PairingCodes
from .prune import PruneReport, prune
from .samples import Samples
from .seqfile import SeqMark, fsync_dir, read_mark, write_mark
from .sessions import Sessions
from .settings import Settings

log = logging.getLogger("edge.cache")

_FULL, _NORMAL = 2, 1
_SQLITE_READONLY = 8
_SALVAGE_KEY = "store.salvage_from"  # kv: a salvage started and not finished
# Keep the WAL from growing without bound between checkpoints (bytes kept after one).
_JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class StoreAlarm:
    """Something the gateway must raise as an alarm event after opening the store."""

    key: str  # "store_corrupt", "store_missing", "store_rewound"
    message: str
    preserved: Path | None = None


@dataclass(frozen=True)
class RecoveryReport:
    """What opening the store had to repair."""

    reason: Literal["corrupt", "missing", "rewound"]
    detail: str
    preserved: Path | None  # the broken file, moved aside (reason "corrupt")
    salvaged: dict[str, int] = field(default_factory=dict)  # rows copied from it, per table
    lost_seqs: int = 0  # seqs covered by `lost` placeholder records
    last_seq: int = 0  # the counter afterwards: the next append gets last_seq + 1


@dataclass
class _Txn:
    durable: bool
    needs_sync: bool = False  # a money write joined a NORMAL transaction


class Store:
    """Open with `Store.open(path, ...)`; close with `close()` or a `with` block."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cap_bytes: int | None = None,
        seq_block: int = 1000,
        max_events: int = 10_000,
        max_samples: int = 43_200,
        check: Literal["integrity", "quick"] = "integrity",
        clock: Clock | None = None,
        prune_check_every: int = 256,
    ) -> None:
        if seq_block < 1:
            raise ValueError("seq_block must be >= 1")
        self.path = Path(path)
        self.cap_bytes = cap_bytes
        self.seq_block = seq_block
        self.max_events = max_events
        self.max_samples = max_samples
        self.prune_check_every = prune_check_every
        self.recovery: RecoveryReport | None = None
        self.startup_alarm: StoreAlarm | None = None
        self.schema_found = 0  # the version the file had before migrations ran
        self.last_prune: PruneReport | None = None
        self._check_mode = check
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._txn: _Txn | None = None
        self._sync_level = 0
        self._dirty = False  # NORMAL commits not yet fsynced
        self._synced_seq = 0
        self._hwm = 0
        self._commits = 0
        self._pruning = False
        self.conn: sqlite3.Connection | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._flock = LockFile(self._sidecar(".lock"))
        self._flock.acquire(self.path)
        try:
            self._open()
        except BaseException:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
            self._flock.release()
            raise

    @classmethod
    def open(cls, path: str | os.PathLike[str], **options: Any) -> Store:
        return cls(path, **options)

    # -- opening ------------------------------------------------------------------------

    def _sidecar(self, suffix: str) -> Path:
        return self.path.with_name(self.path.name + suffix)

    def _open(self) -> None:
        mark = read_mark(self._sidecar(".seq"))
        existed = self.path.exists()
        preserved: Path | None = None
        problem = ""
        if existed:
            try:
                problem = _precheck(self.path, self._check_mode)
            except sqlite3.DatabaseError as exc:
                if not recovery.is_corruption(exc):
                    raise
                problem = f"{exc.__class__.__name__}: {exc}"
            if problem:
                preserved = recovery.preserve(self.path, self._clock.time())
                log.error("store %s failed its check (%s); moved to %s", self.path, problem, preserved)
        self.conn = _connect(self.path)
        if not existed or preserved is not None:
            fsync_dir(self.path.parent)  # the new file's directory entry
        self.db = Database(self.conn, execute_plugins=False)
        self.schema_found, _ = migrate(self.db)
        _ensure_incremental_vacuum(self.conn)

        self.outbox = Outbox(self)
        self.sessions = Sessions(self)
        self.events = Events(self)
        self.alarms = Alarms(self)
        self.samples = Samples(self)
        self.cards = Cards(self)
        self.pairing = PairingCodes(self)
        self.settings = Settings(self)

        self._synced_seq = self.outbox.last_seq()
        pending = self.settings.get(_SALVAGE_KEY)
        if preserved is None and pending and (self.path.parent / pending).exists():
            # The last start died while salvaging: the fresh store is empty; do it again.
            preserved, problem = self.path.parent / pending, "salvage interrupted, resumed"
        if preserved is not None:
            self._recover_from(preserved, problem, mark)
        elif mark is not None and (not existed or self.outbox.last_seq() < mark.synced):
            self._recover_seq("missing" if not existed else "rewound", mark)
        if self.startup_alarm is not None:
            log.error("%s", self.startup_alarm.message)

        last = self.outbox.last_seq()
        self._synced_seq = last
        self._hwm = max(mark.hwm if mark else 0, last)
        self._write_mark()

    def _recover_from(self, preserved: Path, problem: str, mark: SeqMark | None) -> None:
        """A fresh store after corruption: salvage, continue the seq, raise the alarm.

        One durable transaction; a kv marker written before it makes the next start resume
        the salvage if the gateway dies during it.
        """
        now = self.now_ms()
        self.settings.set(_SALVAGE_KEY, preserved.name, durable=True)
        with self.transaction(durable=True):
            salvage = recovery.salvage(preserved, self)
            if salvage.last_seq is not None:
                floor = max(salvage.last_seq, salvage.max_seq)
                acked = salvage.acked_seq or 0
                if mark is not None and floor < mark.synced:
                    floor = mark.hwm  # the copy's counter is behind what was durable once
            else:
                floor = max(mark.hwm if mark else 0, salvage.max_seq)
                acked = max(mark.acked if mark else 0, salvage.acked_seq or 0)
            lost = self.outbox._cover(floor, acked, "store_corrupt", now)
            last = self.outbox.last_seq()
            message = (
                f"local store was corrupt ({problem}); preserved as {preserved.name}, "
                f"started a fresh store, salvaged {sum(salvage.rows.values())} rows, "
                f"{lost} outbox seqs marked lost; seq continues after {last}"
            )
            if mark is None and salvage.last_seq is None:
                message += "; no seq mark and unreadable copy: seq continuity not guaranteed"
            self.recovery = RecoveryReport("corrupt", problem, preserved, salvage.rows, lost, last)
            self.startup_alarm = StoreAlarm("store_corrupt", message, preserved)
            self.alarms.raise_("store_corrupt", message, now)
            self.settings.delete(_SALVAGE_KEY)

    def _recover_seq(self, reason: Literal["missing", "rewound"], mark: SeqMark) -> None:
        """The file vanished or went back in time (restored from a backup): seqs up to the
        mark may be at the cloud already; never assign them again."""
        now = self.now_ms()
        with self.transaction(durable=True):
            was = self.outbox.last_seq()
            lost = self.outbox._cover(mark.hwm, mark.acked, f"store_{reason}", now)
            last = self.outbox.last_seq()
            detail = (
                f"store counter {was} below the seq mark "
                f"(durable {mark.synced}, reserved {mark.hwm})"
            )
            message = (
                f"local store {'was missing' if reason == 'missing' else 'went backwards'}: "
                f"{detail}; {lost} outbox seqs marked lost; seq continues after {last}"
            )
            self.recovery = RecoveryReport(reason, detail, None, {}, lost, last)
            self.startup_alarm = StoreAlarm(f"store_{reason}", message)
            self.alarms.raise_(f"store_{reason}", message, now)

    # -- transactions ---------------------------------------------------------------------

    @contextmanager
    def transaction(self, durable: bool = False) -> Iterator[Store]:
        """Everything written inside is one commit.

        durable=True: committed with synchronous=FULL before this returns. Money writes
        inside a durable=False transaction still make it durable (an extra fsync after the
        commit). Nested calls join the outer transaction as a savepoint, so an exception
        caught inside leaves no half-written change (a seq taken without its record).
        """
        with self._lock:
            conn = self._conn()
            outer = self._txn
            if outer is not None:
                if durable and not outer.durable:
                    outer.needs_sync = True
                with self.db.atomic():
                    yield self
                return
            self._set_synchronous(_FULL if durable else _NORMAL)
            txn = self._txn = _Txn(durable)
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                self._txn = None
            self._after_commit(txn)

    def _after_commit(self, txn: _Txn) -> None:
        if txn.durable:
            self._mark_synced()
        elif txn.needs_sync:
            self.sync()
        else:
            self._dirty = True
        self._commits += 1
        if (
            self.cap_bytes is not None
            and not self._pruning
            and self.prune_check_every > 0
            and self._commits % self.prune_check_every == 0
        ):
            # The commit is done: a failing prune must not make it look failed (and retried).
            try:
                self.maybe_prune()
            except Exception:
                log.exception("pruning the store failed")

    def sync(self) -> None:
        """Make every commit so far durable (one fsynced commit; WAL frames are ordered)."""
        with self._lock:
            if self._txn is not None:
                self._txn.needs_sync = True  # done when the enclosing transaction commits
                return
            with self.transaction(durable=True):
                self.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES ('store.syncs', '1', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = kv.value + 1, updated_at = excluded.updated_at",
                    (self.now_ms(),),
                )

    def sync_if_dirty(self) -> None:
        with self._lock:
            if self._dirty and self._txn is None:
                self.sync()

    def _mark_synced(self) -> None:
        self._dirty = False
        self._synced_seq = self.outbox.last_seq()

    def _set_synchronous(self, level: int) -> None:
        # SQLite refuses to change it inside a transaction, so it is set before BEGIN.
        if level != self._sync_level:
            self._conn().execute(f"PRAGMA synchronous={level}")
            self._sync_level = level

    @property
    def in_transaction(self) -> bool:
        return self._txn is not None

    # -- helpers for the table modules ----------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self.conn is None:
            raise StoreError(f"the store {self.path} is closed")
        return self.conn

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """A write; only inside `transaction()` so that no write escapes the commit policy."""
        if self._txn is None:
            raise StoreError("writes go through Store.transaction()")
        return self._conn().execute(sql, params)

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        if self._txn is None:
            raise StoreError("writes go through Store.transaction()")
        return self._conn().executemany(sql, rows)

    def query(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        with self._lock:
            self._conn()
            return list(self.db.query(sql, params))

    def scalar(self, sql: str, params: Any = ()) -> Any:
        with self._lock:
            row = self._conn().execute(sql, params).fetchone()
            return None if row is None else row[0]

    def now_ms(self) -> int:
        return int(self._clock.time() * 1000)

    def _reserve_seq(self, seq: int) -> None:
        """Called by the outbox, inside the transaction that assigns `seq`, before it commits."""
        if seq > self._hwm:
            hwm = seq + self.seq_block - 1
            self._write_mark(hwm)  # if this fails the append fails: no seq beyond the mark
            self._hwm = hwm

    def _write_mark(self, hwm: int | None = None) -> None:
        mark = SeqMark(
            hwm=self._hwm if hwm is None else hwm,
            synced=self._synced_seq,
            acked=self.outbox.acked_seq(),
            block=self.seq_block,
        )
        write_mark(self._sidecar(".seq"), mark)

    # -- size ---------------------------------------------------------------------------

    def used_bytes(self) -> int:
        """Bytes in live pages of the database (what the cap is compared with)."""
        with self._lock:
            conn = self._conn()
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            free = conn.execute("PRAGMA freelist_count").fetchone()[0]
            size = conn.execute("PRAGMA page_size").fetchone()[0]
            return int((pages - free) * size)

    def size_bytes(self) -> int:
        """Bytes on disk: the database file and its WAL."""
        total = 0
        for p in (self.path, self._sidecar("-wal")):
            try:
                total += p.stat().st_size
            except FileNotFoundError:
                pass
        return total

    def maybe_prune(self, now_ms: int | None = None) -> PruneReport | None:
        """Prune when over the cap; cheap when not (two pragmas). Back under the cap (acks
        freed space), a standing `store_full` alarm is cleared."""
        if self.cap_bytes is None or self.used_bytes() <= self.cap_bytes:
            if self.cap_bytes is not None:
                full = self.alarms.get("store_full")
                if full is not None and full.active:
                    self.alarms.clear("store_full", now_ms if now_ms is not None else self.now_ms())
            return None
        return self.prune(now_ms=now_ms)

    def prune(self, cap_bytes: int | None = None, now_ms: int | None = None) -> PruneReport:
        cap = self.cap_bytes if cap_bytes is None else cap_bytes
        if cap is None:
            raise ValueError("no cap_bytes configured")
        with self._lock:
            if self._txn is not None:
                raise StoreError("prune() inside a transaction")
            self._pruning = True
            try:
                report = prune(self, cap, self.now_ms() if now_ms is None else now_ms)
            finally:
                self._pruning = False
            self.last_prune = report
            return report

    def vacuum(self) -> None:
        """Return free pages to the file system and truncate the WAL."""
        with self._lock:
            conn = self._conn()
            if self._txn is not None:
                raise StoreError("vacuum() inside a transaction")
            # executescript steps the pragma to completion (execute() frees one page per call)
            conn.executescript("PRAGMA incremental_vacuum;")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    # -- checks and closing ------------------------------------------------------------------

    def integrity_ok(self) -> bool:
        with self._lock:
            return _check(self._conn(), "integrity") == ""

    def schema_version(self) -> int:
        with self._lock:
            self._conn()
            return schema_version(self.db)

    def close(self) -> None:
        with self._lock:
            if self.conn is None:
                return
            if self._txn is not None:
                raise StoreError("close() inside a transaction")
            try:
                self.sync_if_dirty()
                self._write_mark()
                self.conn.execute("PRAGMA optimize")
            finally:
                self.conn.close()
                self.conn = None
                self._flock.release()

    @property
    def closed(self) -> bool:
        return self.conn is None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | os.PathLike[str], **options: Any) -> Store:
    return Store(path, **options)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: the driver opens no transactions of its own; Store.transaction
    # issues BEGIN IMMEDIATE / COMMIT itself (and sqlite-utils nests savepoints in it).
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=5.0)
    try:
        conn.execute("PRAGMA busy_timeout=5000")
        if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
            # Only on a new file: on an existing one the pragma bumps the header (a write to
            # a file that may be corrupt and must be preserved as found). Older files are
            # converted once after migration.
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot put {path} in WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA journal_size_limit={_JOURNAL_SIZE_LIMIT}")
        conn.execute("PRAGMA trusted_schema=OFF")
        conn.execute("PRAGMA cell_size_check=ON")  # catch a bad page on read, not at some distant write
    except BaseException:
        conn.close()
        raise
    return conn


def _precheck(path: Path, mode: str) -> str:
    """The start-up check, on a read-only connection: closing it neither checkpoints the WAL
    into a file that may be corrupt nor deletes the WAL, so a broken store is preserved
    exactly as found."""
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    try:
        return _check(conn, mode)
    except sqlite3.OperationalError as exc:
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) != _SQLITE_READONLY:
            raise
    finally:
        conn.close()
    # A hot rollback journal (a file not in WAL mode) needs a writer to roll it back.
    conn = sqlite3.connect(str(path), isolation_level=None)
    try:
        return _check(conn, mode)
    finally:
        conn.close()


def _check(conn: sqlite3.Connection, mode: str) -> str:
    """'' when the database is sound, else what the check found."""
    pragma = "quick_check" if mode == "quick" else "integrity_check"
    rows = conn.execute(f"PRAGMA {pragma}").fetchall()
    if rows == [("ok",)]:
        return ""
    return "; ".join(str(r[0]) for r in rows[:5])


def _ensure_incremental_vacuum(conn: sqlite3.Connection) -> None:
    if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        # A store created without it (schema v1 builds): convert once; VACUUM rewrites it.
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("VACUUM")
