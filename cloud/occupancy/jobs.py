"""The occupancy forecast (cloud/occupancy) refreshed once an hour from the sessions, so that
no recommendation or trip plan reads weeks of sessions."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext
from cloud.occupancy import service


def run(ctx: JobContext) -> int:
    with Session(ctx.engine) as s, s.begin():
        return service.refresh_if_due(s, ctx.clock())
