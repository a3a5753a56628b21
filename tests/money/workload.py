"""A random money workload for one worker (a thread or a process) against a shared database:
top-ups under keys other workers post too, orders created, moved and billed (the same order
billed by several workers at once), refunds accepted and paid. Each worker reports only what
it committed, independently of the ledger, so the test can add it up and compare."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import make_engine
from cloud.ledger import service as L
from cloud.ledger.errors import IdempotencyConflict, InsufficientFunds
from cloud.orders import service as orders
from cloud.orders.machine import Event, IllegalTransition, State
from cloud.orders.models import Order

SHARED_KEYS = 40


def key_amount(k: int) -> int:
    return 500 + 137 * k  # one amount per shared key, whoever posts it


def bill_of(order_id: str, hold: int) -> list[orders.Line]:
    """A bill that depends only on the order, so that racing workers ask the same; some exceed
    the hold (debt)."""
    r = random.Random(order_id)
    total = r.randint(0, hold + hold // 3)
    e = r.randint(0, total)
    i = r.randint(0, (total - e) // 4)
    return [orders.Line("electricity", e, "peak"), orders.Line("service", total - e - i, "peak"),
            orders.Line("idle", i)]


@dataclass
class Report:
    topups: dict[str, int] = field(default_factory=dict)  # key -> amount, postings this worker made
    replays: int = 0
    billed: dict[str, int] = field(default_factory=dict)  # order -> total
    refunds: dict[str, int] = field(default_factory=dict)
    refunds_paid: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # InsufficientFunds, IllegalTransition: expected under a race


def run_worker(url: str, driver: str, worker: int, steps: int, seed: int) -> Report:
    engine = make_engine(url, purpose="writer")
    rnd = random.Random(seed * 1000 + worker)
    rep = Report()
    try:
        for n in range(steps):
            what = rnd.choices(["top_up", "create", "advance", "refund", "refund_paid"],
                               weights=[3, 4, 6, 1, 1])[0]
            try:
                with Session(engine) as s, s.begin():
                    if what == "top_up":
                        k = rnd.randrange(SHARED_KEYS)
                        key = f"pay:{driver}:{k}"
                        p = L.top_up(s, driver, key_amount(k), key)
                        if p.replayed:
                            rep.replays += 1
                        else:
                            rep.topups[key] = key_amount(k)
                    elif what == "create":
                        orders.create(s, order_id=f"{driver}-w{worker}-{n}", driver_id=driver, sid="S1",
                                      gun="P1-1", limit_mode="amount", limit_value=0,
                                      hold_fen=rnd.randint(50, 2500))
                    elif what == "advance":
                        _advance(s, driver, rnd, rep)
                    elif what == "refund":
                        key = f"refund:{driver}:w{worker}-{n}"
                        amt = rnd.randint(1, 1500)
                        L.refund(s, driver, amt, key)
                        rep.refunds[key] = amt
                    elif what == "refund_paid" and rep.refunds:
                        key = rnd.choice(sorted(rep.refunds))
                        p = L.refund_paid(s, key)
                        if not p.replayed:
                            rep.refunds_paid[key] = rep.refunds[key]
            except (InsufficientFunds, IllegalTransition):
                rep.refused += 1
            except IdempotencyConflict as exc:  # no worker reuses a key with other arguments
                raise AssertionError(f"unexpected conflict: {exc}") from exc
    finally:
        engine.dispose()
    return rep


def _advance(s: Session, driver: str, rnd: random.Random, rep: Report) -> None:
    """Move one of the driver's open orders (any worker's) one step along its happy path."""
    open_ = list(s.execute(
        select(Order.order_id, Order.state, Order.hold_fen)
        .where(Order.driver_id == driver, Order.state.in_(["created", "starting", "charging", "ended"]))
        .order_by(Order.order_id)
    ).all())
    if not open_:
        return
    oid, state, hold = rnd.choice(open_)
    nxt = {"created": Event.START_SENT if rnd.random() < 0.85 else Event.CANCEL,
           "starting": Event.SESSION_STARTED if rnd.random() < 0.85 else Event.START_REFUSED,
           "charging": Event.SESSION_ENDED, "ended": Event.BILLED}[state]
    if nxt is Event.BILLED:
        lines = bill_of(oid, hold)
        o = orders.apply(s, oid, nxt, lines=lines)
        assert o.state == State.SETTLED.value
        rep.billed[oid] = sum(ln.fen for ln in lines)
    else:
        orders.apply(s, oid, nxt)
