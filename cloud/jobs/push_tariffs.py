"""Tariff assignments a station has not acknowledged are sent with `set_tariff`: the one in
force now, and every scheduled one ahead of its time with its `effective_from`, so that the
gateway switches at that instant by its own clock even without a cloud link then. An ok
reply marks them pushed. Scheduled ones cancelled after they were sent are withdrawn with
`cancel_tariff`. A station offline, or silent, stays due: the job runs periodically and
reaches it when it is back.

`TARIFF_PUSH_AHEAD_S` (the app's setting) bounds how far ahead; 0 sends each at its time
only (gateways older than scheduled tariffs would apply a future one at once)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from cloud.db import take_write_lock
from cloud.jobs.context import JobContext
from cloud.models import StationState
from cloud.tariffs import service as tariffs

log = logging.getLogger("jc.jobs")

DEFAULT_AHEAD_S = 366 * 86400


def run(ctx: JobContext) -> int:
    if ctx.send is None:
        return 0
    now = ctx.clock()
    ahead_ms = int(ctx.config.get("TARIFF_PUSH_AHEAD_S", DEFAULT_AHEAD_S)) * 1000
    with Session(ctx.engine) as s:
        online = {}

        def is_online(sid: str) -> bool:
            if sid not in online:
                state = s.get(StationState, sid)
                online[sid] = state is not None and state.online
            return online[sid]

        due = []
        for a in tariffs.due_pushes(s, now, ahead_ms=ahead_ms):
            version = tariffs.get(s, a.tariff_id)
            if is_online(a.sid) and version is not None:
                due.append((a.id, a.sid, version.body, a.effective_from))
        cancels = [(a.id, a.sid, a.tariff_id, a.effective_from) for a in tariffs.due_cancels(s) if is_online(a.sid)]
    done = 0
    for assignment_id, sid, body, effective_from in due:
        fields = {"tariff": body, "effective_from": effective_from}
        if _send(ctx, sid, "set_tariff", fields, f"set_tariff {body.get('id')}"):
            with Session(ctx.engine) as s, s.begin():
                take_write_lock(s)
                tariffs.mark_pushed(s, assignment_id, ctx.clock(), tariff_id=body.get("id"))
            done += 1
    for assignment_id, sid, tariff_id, effective_from in cancels:
        fields = {"effective_from": effective_from, "tariff_id": tariff_id}
        if _send(ctx, sid, "cancel_tariff", fields, f"cancel_tariff {tariff_id}"):
            with Session(ctx.engine) as s, s.begin():
                take_write_lock(s)
                tariffs.mark_cancel_pushed(s, assignment_id, ctx.clock())
            done += 1
    return done


def _send(ctx: JobContext, sid: str, type_: str, fields: dict, what: str) -> bool:
    assert ctx.send is not None
    try:
        reply = ctx.send(sid, type_, fields, ctx.settings.command_timeout_s)
    except Exception as exc:  # noqa: BLE001 - timeout, broker away: it stays due
        log.warning("%s to %s not acknowledged (%s): stays due", what, sid, exc)
        return False
    if not reply.ok:
        log.warning("station %s refused %s: %s", sid, what, reply.error)
        return False
    return True
