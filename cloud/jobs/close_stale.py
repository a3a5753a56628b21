"""Orders left open too long are closed (cloud.orders.service.close_stale)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext
from cloud.orders import service as orders


def run(ctx: JobContext) -> int:
    with Session(ctx.engine) as s, s.begin():
        return len(orders.close_stale(s, older_than_ms=ctx.settings.stale_ms, now=ctx.clock()))
