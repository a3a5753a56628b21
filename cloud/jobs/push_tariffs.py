"""Tariff assignments in force that their station has not acknowledged are sent with
`set_tariff`; an ok reply marks them pushed. A station offline, or silent, stays due."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext
from cloud.models import StationState
from cloud.tariffs import service as tariffs

log = logging.getLogger("jc.jobs")


def run(ctx: JobContext) -> int:
    if ctx.send is None:
        return 0
    now = ctx.clock()
    with Session(ctx.engine) as s:
        due = []
        for a in tariffs.due_pushes(s, now):
            state = s.get(StationState, a.sid)
            version = tariffs.get(s, a.tariff_id)
            if state is not None and state.online and version is not None:
                due.append((a.id, a.sid, version.body))
    pushed = 0
    for assignment_id, sid, body in due:
        try:
            reply = ctx.send(sid, "set_tariff", {"tariff": body}, ctx.settings.command_timeout_s)
        except Exception as exc:  # noqa: BLE001 - timeout, broker away: it stays due
            log.warning("set_tariff to %s not acknowledged (%s): stays due", sid, exc)
            continue
        if not reply.ok:
            log.warning("station %s refused set_tariff %s: %s", sid, body.get("id"), reply.error)
            continue
        with Session(ctx.engine) as s, s.begin():
            tariffs.mark_pushed(s, assignment_id, ctx.clock())
        pushed += 1
    return pushed
