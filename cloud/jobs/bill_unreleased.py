"""Ended orders whose car never reported leaving (no gun_released) are billed without the
idle fee once the wait is over (cloud.billing.service.bill_unreleased); orders whose session
ended while they show it running are moved on (cloud.billing.service.catch_up)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.billing import service as billing
from cloud.jobs.context import JobContext


def run(ctx: JobContext) -> int:
    with Session(ctx.engine) as s, s.begin():
        now = ctx.clock()
        caught = billing.catch_up(s, quiet_ms=ctx.settings.catch_up_ms, now=now)
        return len(caught) + len(billing.bill_unreleased(s, wait_ms=ctx.settings.release_wait_ms, now=now))
