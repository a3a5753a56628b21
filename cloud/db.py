"""Database engines and the Flask extension that binds one to an app.

SQLite gets WAL, synchronous=FULL (an ack promises durability, so a commit must survive power
loss), foreign keys and a busy timeout; writers that run concurrently (ingest processes) take
the write lock at BEGIN so that two of them never deadlock upgrading a read lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

Purpose = Literal["web", "writer"]


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

        begin = "BEGIN IMMEDIATE" if purpose == "writer" else "BEGIN"

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            conn.exec_driver_sql(begin)

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


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
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    stmt = ins.on_conflict_do_nothing()
    cols = list(returning)
    if cols:
        return list(conn.execute(stmt.returning(*cols), list(rows)).all())
    conn.execute(stmt, list(rows))
    return []


class Database:
    """Flask extension: created unbound, bound by `init_app`; one Session per app context."""

    def __init__(self) -> None:
        self._engines: dict[int, tuple[Engine, sessionmaker[Session]]] = {}

    def init_app(self, app: Any) -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        self._engines[id(app)] = (engine, sessionmaker(engine, expire_on_commit=False))
        app.extensions["jc_db"] = self
        app.teardown_appcontext(self._teardown)

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
        """A fresh session in its own transaction, committed at the end (rolled back on error)."""
        with self._current()[1].begin() as s:
            yield s

    def _teardown(self, _exc: BaseException | None) -> None:
        from flask import g

        s = g.pop("jc_db_session", None)
        if s is not None:
            s.close()


db = Database()
