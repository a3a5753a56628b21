"""Swap bookings whose slot is over are ended as no-shows (the fee by the station's rules),
and charging packs past their expected ready time counted ready (cloud.swap.service)."""

from __future__ import annotations

from sqlalchemy.orm import sessionmaker

from cloud.jobs.context import JobContext
from cloud.swap import service as swap


def run(ctx: JobContext) -> int:
    return swap.expire_due(sessionmaker(ctx.engine).begin, ctx.clock())
