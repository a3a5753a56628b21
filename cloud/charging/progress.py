"""The progress poll's snapshot (table `order_progress`): what GET /api/v1/driver/orders/<id>
answers, kept up to date by the writers so that a poll is one indexed read.

Writers note the orders whose view they change (`mark`): orders.create and orders.apply
(every state change and bill), the rating, and ingest for an order's session records and,
while it charges, its station's telemetry (the live power and SoC). At the outermost commit
of the writer's transaction every noted order's view is built by the same code the full read
uses (cloud/charging/service.py `_poll_view`) and its row rewritten if the view changed. The
build takes the order's row lock first (PostgreSQL): whoever commits a change to an order
last builds its view after every earlier writer committed, so two writers (two ingest
processes, ingest and the API) never leave an older view behind. Should a build fail, the
rows of those orders are deleted instead: their poll then reads the full way, never a stale
view.

The poll (`poll`) checks the driver's token and reads the snapshot in one statement: the
token's row, the order's snapshot, the station's name and the gun's code (read at poll time:
an archive edit needs no rewrite). An order without a row (made before migration 0026_poll,
a pay-per-session start still waiting for its payment, a start waiting for the station's
answer, which the full read follows up) is read the full way.

ETag: weak (`W/"…"`), a keyed BLAKE2b of the driver, the view's digest, the station's name
and the gun's code. Weak because `duration_s` runs on by the clock while charging (the
client adds the seconds since its last 200). Keyed by the app's secret and the driver: a tag
says nothing about another order's content and never matches another driver's. The
ownership check comes before any tag comparison: another driver's order answers 404 with or
without If-None-Match.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from cloud.charging import service
from cloud.charging.models import OrderProgress
from cloud.charging.service import RUNNING, ChargingError
from cloud.drivers import service as drivers
from cloud.drivers import tokens
from cloud.drivers.errors import TokenInvalid
from cloud.models import ChargingSession, Gun, Station, now_ms
from cloud.orders.machine import State
from cloud.orders.models import Order

log = logging.getLogger(__name__)

OP = OrderProgress.__table__
_O, _S, _ST, _GUN = Order.__table__, ChargingSession.__table__, Station.__table__, Gun.__table__
# Added by the poll as it answers (never stored): the clock's figure and the archive's names.
ADDED = ("duration_s", "gun_code", "station_name")
_DIRTY = "jc_progress_dirty"


# --- writers: note, then build at the outermost commit ------------------------------------------
def mark(s: Session, order_ids: Iterable[str]) -> None:
    """Note orders whose view this transaction changes; built when it commits."""
    ids = [o for o in order_ids if o]
    if not ids:
        return
    dirty = s.info.get(_DIRTY)
    if dirty is None:
        dirty = s.info[_DIRTY] = set()
        event.listen(s, "before_commit", _before_commit)
        event.listen(s, "after_soft_rollback", _after_rollback)
    dirty.update(ids)


_SESSION_ORDERS = (
    select(_O.c.order_id)
    .where(_O.c.session_id.in_(bindparam("ids", expanding=True)))
    .union(
        select(_S.c.order_id).where(
            _S.c.session_id.in_(bindparam("ids", expanding=True)), _S.c.order_id.is_not(None)
        )
    )
)
_LIVE_AT = select(OP.c.order_id).where(OP.c.sid.in_(bindparam("sids", expanding=True)), OP.c.live)


def mark_sessions(s: Session, session_ids: Iterable[str]) -> None:
    """Ingest: the orders of sessions whose records it stored (a progress record changes the
    energy and cost shown; a start or end record changes what the order shows even before
    billing moves the order)."""
    ids = sorted(set(session_ids))
    if ids:
        mark(s, s.connection().execute(_SESSION_ORDERS, {"ids": ids}).scalars())


def mark_live(s: Session, sids: Iterable[str]) -> None:
    """Ingest: the charging orders of stations whose telemetry it stored (live power, SoC)."""
    wanted = sorted(set(sids))
    if wanted:
        mark(s, s.connection().execute(_LIVE_AT, {"sids": wanted}).scalars())


def _before_commit(s: Session) -> None:
    if s.in_nested_transaction():
        return  # a savepoint's release: the outermost commit builds
    ids = sorted(s.info.get(_DIRTY) or ())
    if not ids:
        return
    s.info[_DIRTY] = set()
    s.flush()
    conn = s.connection()
    try:
        # a savepoint of the connection, not of the Session: the Session's own savepoint
        # release would fire its after_commit listeners (a prepaid start is sent by one)
        with conn.begin_nested():
            build(conn, ids)
    except OperationalError:
        raise
    except Exception:  # noqa: BLE001 - the poll never stops a writer: it reads those the full way
        log.exception("progress snapshot of %d order(s) not built; their rows dropped", len(ids))
        conn.execute(delete(OP).where(OP.c.order_id.in_(ids)))


def _after_rollback(s: Session, previous: Any) -> None:
    if previous.parent is None and not previous.nested:
        s.info[_DIRTY] = set()  # what a rolled-back transaction noted did not happen


# the view's read, with what the snapshot holds now (the row is rewritten only if it changed)
_BUILD = (
    service._POLL.add_columns(OP.c.digest.label("held_digest"), OP.c.live.label("held_live"))
    .outerjoin(OP, OP.c.order_id == _O.c.order_id)
    .where(_O.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(_O.c.order_id)
)
# PostgreSQL: the same under the orders' row locks, taken in order_id order (see the module's
# docstring); one statement
_BUILD_LOCKED = _BUILD.with_for_update(of=_O)
_BUILD_LINES = (
    select(
        service._OL.c.order_id,
        service._OL.c.kind,
        service._OL.c.period,
        service._OL.c.energy_wh,
        service._OL.c.fen,
    )
    .where(service._OL.c.order_id.in_(bindparam("ids", expanding=True)))
    .order_by(service._OL.c.order_id, service._OL.c.n)
)


def body_of(view: dict[str, Any]) -> str:
    """The stored part of a view: JSON without ADDED, keys sorted (one text per view)."""
    return json.dumps(
        {k: v for k, v in view.items() if k not in ADDED}, sort_keys=True, separators=(",", ":")
    )


def digest_of(body: str) -> str:
    return hashlib.blake2b(body.encode(), digest_size=16).hexdigest()


def build(conn: Connection, order_ids: list[str], now: int | None = None) -> int:
    """Build the views of `order_ids` and rewrite the rows whose view changed; how many."""
    t = now_ms() if now is None else now
    rows = conn.execute(
        _BUILD_LOCKED if conn.dialect.name == "postgresql" else _BUILD, {"ids": order_ids}
    ).all()
    settled = [r.o_order_id for r in rows if r.o_state == State.SETTLED.value]
    bills: dict[str, list[tuple[str, str | None, int | None, int]]] = {o: [] for o in order_ids}
    if settled:
        for oid, *line in conn.execute(_BUILD_LINES, {"ids": settled}):
            bills[oid].append(tuple(line))  # type: ignore[arg-type]
    fresh = []
    for r in rows:
        m = r._mapping
        view = service.row_view(r, t, bills[r.o_order_id])
        body = body_of(view)
        digest = digest_of(body)
        live = bool(
            m["s_session_id"] is not None and m["s_status"] == "running" and m["o_state"] in RUNNING
        )
        if (m["held_digest"], m["held_live"]) == (digest, live):
            continue
        fresh.append(
            {
                "order_id": r.o_order_id,
                "driver_id": m["o_driver_id"],
                "sid": m["o_sid"],
                "gun": m["o_gun"],
                "state": m["o_state"],
                "started_at": view["started_at"],
                "ended_at": view["ended_at"],
                "live": live,
                "digest": digest,
                "body": body,
                "updated_at": t,
            }
        )
    if fresh:
        ins = postgresql.insert(OP) if conn.dialect.name == "postgresql" else sqlite.insert(OP)
        conn.execute(
            ins.on_conflict_do_update(
                index_elements=[OP.c.order_id],
                set_={
                    c: ins.excluded[c]
                    for c in (
                        "state",
                        "started_at",
                        "ended_at",
                        "live",
                        "digest",
                        "body",
                        "updated_at",
                    )
                },
            ),
            fresh,
        )
    return len(fresh)


# --- the poll ---------------------------------------------------------------------------------------
_POLL = (
    select(
        *drivers.TOKEN_COLUMNS,
        OP.c.driver_id.label("owner"),
        OP.c.sid,
        OP.c.state,
        OP.c.started_at,
        OP.c.ended_at,
        OP.c.digest,
        OP.c.body,
        _ST.c.name.label("station_name"),
        _GUN.c.code.label("gun_code"),
    )
    .select_from(
        drivers.TOKEN_FROM.outerjoin(OP, OP.c.order_id == bindparam("order_id"))
        .outerjoin(_ST, _ST.c.sid == OP.c.sid)
        .outerjoin(_GUN, and_(_GUN.c.sid == OP.c.sid, _GUN.c.gun_id == OP.c.gun))
    )
    .where(drivers.TOKEN_DIGEST == bindparam("digest"))
)


@dataclass(frozen=True)
class Poll:
    who: drivers.Principal
    row: Any  # the order's snapshot with the archive's names; None: read the order the full way


def poll(read_row: Callable[[Any, dict[str, Any]], Any], token: str, order_id: str, now: int) -> Poll:
    """The token check and the order's snapshot, one statement read by `read_row` (statement,
    parameters → first row or None: cloud.db's `db.read_row`). Raises what
    drivers.service.authenticate raises, and ChargingError `not_found` for another driver's
    order (before anything of it is looked at)."""
    if not tokens.well_formed(token):
        raise TokenInvalid("not a driver token")
    row = read_row(_POLL, {"digest": tokens.digest(token), "order_id": order_id})
    who = drivers.principal_of(row, now)
    assert row is not None
    if row.owner is None or row.state == State.STARTING.value:
        return Poll(who, None)
    if row.owner != str(who.driver_id):
        raise ChargingError("not_found", "no such order")  # someone else's is as missing
    return Poll(who, row)


def answer(row: Any, now: int) -> str:
    """The view as JSON: the stored body (an object) with ADDED appended to it."""
    added = {
        "duration_s": service.duration_s(row.state, row.started_at, row.ended_at, now),
        "gun_code": row.gun_code,
        "station_name": row.station_name or row.sid,
    }
    return row.body[:-1] + "," + json.dumps(added, separators=(",", ":"))[1:]


def etag(
    key: bytes, driver_id: int, digest: str, station_name: str | None, gun_code: str | None
) -> str:
    """The opaque tag of what the driver sees (without the quotes and the W/)."""
    h = hashlib.blake2b(key=key[:64], digest_size=16)
    h.update(json.dumps([driver_id, digest, station_name, gun_code]).encode())
    return h.hexdigest()


def etag_of_row(key: bytes, driver_id: int, row: Any) -> str:
    return etag(key, driver_id, row.digest, row.station_name or row.sid, row.gun_code)


def etag_of_view(key: bytes, driver_id: int, view: dict[str, Any]) -> str:
    """The same tag for a view read the full way (equal to the snapshot's for the same view)."""
    return etag(
        key, driver_id, digest_of(body_of(view)), view.get("station_name"), view.get("gun_code")
    )
