"""Orders still `starting` are brought up to what their start command came to
(cloud.charging.service.follow_start): a reply that came after the sender stopped waiting,
or, their command expired unanswered and no session seen, `failed` with the hold back. The
driver's own look at the order does the same; this job covers drivers who never look."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.charging import service as charging
from cloud.jobs.context import JobContext
from cloud.orders.machine import State
from cloud.orders.models import Order


def run(ctx: JobContext) -> int:
    with Session(ctx.engine) as s:
        starting = list(s.scalars(select(Order.order_id).where(Order.state == State.STARTING.value)
                                  .order_by(Order.created_at)))
    moved = 0
    for order_id in starting:  # one transaction each: one order's trouble stops no other
        with Session(ctx.engine) as s, s.begin():
            before = s.get_one(Order, order_id).session_id
            charging.follow_start(s, order_id, now=ctx.clock())
            o = s.get_one(Order, order_id)
            moved += o.state != State.STARTING.value or o.session_id != before
    return moved
