"""Database engines and the Flask extension that binds one to an app.

SQLite gets WAL, synchronous=FULL (an ack promises durability, so a commit must survive power
loss), foreign keys and a busy timeout; writers that run concurrently (ingest processes) take
the write lock at BEGIN so that two of them never deadlock upgrading a read lock. A web
transaction that reads, then writes, takes the write lock first (`take_write_lock`; every
`Database.transaction()` does): else it fails at once ("database is locked") when another
process committed meanwhile, which the busy timeout cannot help.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, TypeVar

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

Purpose = Literal["web", "writer"]
WRITE_AT_BEGIN = "jc_write_at_begin"  # a connection's execution option: SQLite's BEGIN IMMEDIATE
T = TypeVar("T")


def make_engine(url: str, *, purpose: Purpose = "web", echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            immediate = purpose == "writer" or conn.get_execution_options().get(WRITE_AT_BEGIN, False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # A ping per checkout (one round trip; a poll checks out once): after a database restart
    # no request fails on a dead pooled connection.
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


def take_write_lock(s: Session | Connection) -> None:
    """On SQLite, take the write lock now, before this transaction reads what it will write
    on (a no-op write); PostgreSQL needs nothing here (its writers lock rows)."""
    bind = s.get_bind() if isinstance(s, Session) else s
    if bind.dialect.name == "sqlite":
        s.execute(text("UPDATE station_seq SET acked_seq = acked_seq WHERE 0"))


def lock_stations(s: Session | Connection, sids: Iterable[str]) -> None:
    """PostgreSQL: lock the stations' rows (FOR NO KEY UPDATE, in sid order) before anything
    else of theirs. The lock order of the cloud's writers (docs/cloud.md "One lock
    order"): a transaction that changes several rows among a station's guns, orders and
    `station_gun_counts` takes its stations' rows first, so two such transactions on one
    station queue there and never hold each other's gun or order rows in opposite orders.
    NO KEY UPDATE leaves inserts that reference the station (its key) free. SQLite needs
    nothing: its writers hold the one write lock."""
    bind = s.get_bind() if isinstance(s, Session) else s
    wanted = sorted(set(sids))
    if wanted and bind.dialect.name == "postgresql":
        s.execute(
            text("SELECT sid FROM stations WHERE sid = ANY(:sids) ORDER BY sid FOR NO KEY UPDATE"),
            {"sids": wanted},
        )


def insert_or_ignore(
    conn: Connection | Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Iterable[Any] = (),
) -> list[Any]:
    """Bulk INSERT … ON CONFLICT DO NOTHING (SQLite and PostgreSQL); rows actually inserted
    are returned when `returning` names columns."""
    if not rows:
        return []
    dialect = conn.get_bind().dialect.name if isinstance(conn, Session) else conn.dialect.name
    if dialect == "postgresql":
        return _pg_insert_or_ignore(conn, table, rows, list(returning))
    ins = sqlite.insert(table)
    stmt = ins.on_conflict_do_nothing()
    cols = list(returning)
    if cols:
        return list(conn.execute(stmt.returning(*cols), list(rows)).all())
    conn.execute(stmt, list(rows))
    return []


def _pg_insert_or_ignore(
    conn: Connection | Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: list[Any],
) -> list[Any]:
    """PostgreSQL: one INSERT … SELECT FROM unnest(arrays) per batch, arrays sent in binary.

    Short, constant SQL with one array per column: several times faster than multi-row
    VALUES (long SQL text that psycopg parses per batch) or executemany; binary arrays spare
    the server from parsing quoted JSON inside array literals.
    """
    dialect = postgresql.dialect()
    cols = [c for c in table.columns if c.name in rows[0]]
    arrays: list[list[Any]] = []
    casts: list[str] = []
    selects: list[str] = []
    for n, c in enumerate(cols):
        pg_type = c.type.dialect_impl(dialect).compile(dialect=dialect)
        values = [r.get(c.name) for r in rows]
        if pg_type == "JSONB":
            values = [None if v is None else json.dumps(v, separators=(",", ":")) for v in values]
            casts.append("%b::text[]")
            selects.append(f"u.c{n}::jsonb")
        else:
            if pg_type in ("FLOAT", "DOUBLE PRECISION", "REAL"):
                values = [None if v is None else float(v) for v in values]  # one type per array
            casts.append(f"%b::{pg_type}[]")
            selects.append(f"u.c{n}")
        arrays.append(values)
    names = ", ".join(f'"{c.name}"' for c in cols)
    aliases = ", ".join(f"c{n}" for n in range(len(cols)))
    sql = (
        f'INSERT INTO "{table.name}" ({names}) SELECT {", ".join(selects)} '
        f"FROM unnest({', '.join(casts)}) AS u({aliases}) ON CONFLICT DO NOTHING"
    )
    if returning:
        sql += " RETURNING " + ", ".join(f'"{c.name}"' for c in returning)
    bind = conn.connection() if isinstance(conn, Session) else conn
    result = bind.exec_driver_sql(sql, tuple(arrays))
    return list(result.all()) if returning else []


class Database:
    """Flask extension: created unbound, bound by `init_app`; one Session per app context."""

    def __init__(self) -> None:
        self._engines: dict[int, tuple[Engine, sessionmaker[Session]]] = {}
        self._readers: dict[int, Engine] = {}  # PostgreSQL: the engine of `read`
        # (reader, statement) → the statement (held, so that its id is never reused) and its text
        self._sql: dict[tuple[int, int], tuple[Executable, str]] = {}

    def init_app(self, app: Any) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        self._engines[id(app)] = (engine, sessionmaker(engine, expire_on_commit=False))
        app.extensions["jc_db"] = self
        app.teardown_appcontext(self._teardown)
        if engine.dialect.name == "postgresql":
            # autocommit: no transaction is ever left open, so no rollback at checkin either
            reader = create_engine(
                engine.url, pool_size=5, max_overflow=10, isolation_level="AUTOCOMMIT",
                pool_reset_on_return=None,
            )
            self._readers[id(app)] = reader

            @event.listens_for(engine, "engine_disposed")
            def _dispose_reader(_engine: Engine) -> None:
                reader.dispose()  # whoever closes the app's connections closes the reader's too

    def read(self, fn: Callable[[Connection], T]) -> T:
        """`fn` on a connection for one statement's read. On PostgreSQL an engine of its own:
        autocommit (one SELECT is its own snapshot: no BEGIN and ROLLBACK round trips) and no
        ping at checkout (a round trip as long as the read); a connection found dead instead
        is dropped (with the pool's older ones) and the read tried once more on a fresh one.
        For the progress poll, a round trip per request where the ping and the transaction
        made four."""
        from flask import current_app

        app_id = id(current_app._get_current_object())  # type: ignore[attr-defined]
        engine = self._readers.get(app_id) or self._engines[app_id][0]
        for attempt in (1, 2):
            try:
                with engine.connect() as conn:
                    return fn(conn)
            except DBAPIError as e:
                if attempt == 2 or not e.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    def read_row(self, stmt: Executable, params: Mapping[str, Any]) -> Any:
        """The first row (or None) of one read statement with named bound parameters, read
        like `read`. On PostgreSQL straight on the reader's psycopg connection, rows as named
        tuples: SQLAlchemy's execution of a statement costs twice the CPU of the round trip
        itself (0.15 against 0.07 ms measured), and the progress poll, every 5 s per charging
        driver, is that one statement. The statement is compiled once per reader, so it must
        hold only plain bound parameters and columns whose values psycopg hands back as
        SQLAlchemy would (integers, booleans, text). A connection found broken is dropped
        and the read made the `read` way, which drops the pool's older ones and tries again."""
        from flask import current_app

        app_id = id(current_app._get_current_object())  # type: ignore[attr-defined]
        reader = self._readers.get(app_id)
        if reader is None:
            return self.read(lambda conn: conn.execute(stmt, params).first())
        import psycopg
        from psycopg.rows import namedtuple_row

        key = (id(reader), id(stmt))
        held = self._sql.get(key)
        if held is None:
            compiled = stmt.compile(dialect=reader.dialect)
            if compiled.positional or getattr(compiled, "literal_execute_params", None):
                raise ValueError("read_row takes only plain named bound parameters")
            held = self._sql[key] = (stmt, compiled.string)
        sql = held[1]
        fairy = reader.raw_connection()
        try:
            with fairy.driver_connection.cursor(row_factory=namedtuple_row) as cur:
                cur.execute(sql, params)
                return cur.fetchone()
        except psycopg.OperationalError as e:
            if not fairy.driver_connection.broken and not fairy.driver_connection.closed:
                raise
            fairy.invalidate(e)
        finally:
            fairy.close()
        return self.read(lambda conn: conn.execute(stmt, params).first())

    def _current(self) -> tuple[Engine, sessionmaker[Session]]:
        from flask import current_app

        return self._engines[id(current_app._get_current_object())]  # type: ignore[attr-defined]

    @property
    def engine(self) -> Engine:
        return self._current()[0]

    @property
    def session(self) -> Session:
        """The app context's session (closed at teardown)."""
        from flask import g

        if "jc_db_session" not in g:
            g.jc_db_session = self._current()[1]()
        return g.jc_db_session

    def sessionmaker(self) -> sessionmaker[Session]:
        return self._current()[1]

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A fresh session in its own transaction, committed at the end (rolled back on error).
        On SQLite it holds the write lock from its start: a service reads, then writes what it
        read (a rule, a balance, a row it checks), and a deferred transaction that reads first
        fails at once at its first write when ingest or a job committed meanwhile."""
        with self._current()[1].begin() as s:
            s.connection(execution_options={WRITE_AT_BEGIN: True})
            yield s

    def _teardown(self, _exc: BaseException | None) -> None:
        from flask import g

        s = g.pop("jc_db_session", None)
        if s is not None:
            s.close()


db = Database()
