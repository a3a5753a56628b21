"""The periodic job `follow_starts` (cloud/jobs) applies charging.follow_start to every order
still `starting`: a reply stored after the sender stopped waiting names the session, an
expired command with no session fails the order and gives its hold back."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from cloud.db import make_engine
from cloud.jobs import follow_starts
from cloud.jobs.context import JobContext
from cloud.jobs.registry import JOBS
from cloud.ledger import service as ledger
from cloud.models import CommandLog, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.models import Order
from tests.charging.support import ORIGIN, seed_station


def _starting(s: Session, oid: str, gun: str, t0: int, *, reply: dict | None) -> None:
    orders.create(s, order_id=oid, driver_id="7", sid="S1", gun=gun, limit_mode="amount", limit_value=2000,
                  hold_fen=2000)
    o = orders.apply(s, oid, Event.START_SENT)
    assert o.created_at <= t0 + 1_000
    s.add(CommandLog(id=f"c-{oid}", sid="S1", type="start", payload={"gun": gun, "order_id": oid},
                     created_at=o.created_at, expires_at=t0 + 30_000, status="replied" if reply else "sent",
                     ok=True if reply else None, detail=reply, replied_at=t0 + 40_000 if reply else None))


def test_job_follows_starting_orders(app, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert ("follow_starts", follow_starts.run) in JOBS
    engine = make_engine(app.config["DATABASE_URL"])
    t0 = now_ms()  # the orders and their commands are made within a second of it
    with Session(engine) as s, s.begin():
        seed_station(s, "S1", *ORIGIN, guns={"P1-1": "plugged", "P1-2": "plugged"})
        ledger.top_up(s, "7", 5000, "test:7")
        _starting(s, "o-late", "P1-1", t0, reply={"session_id": "sess-late"})
        _starting(s, "o-lost", "P1-2", t0, reply=None)
    clock = [t0 + 45_000]  # past the expiry, within the grace: only the late reply decides
    ctx = JobContext(engine=engine, holder="test", clock=lambda: clock[0])
    assert follow_starts.run(ctx) == 1
    with Session(engine) as s:
        late, lost = s.get_one(Order, "o-late"), s.get_one(Order, "o-lost")
        assert (late.state, late.session_id) == ("starting", "sess-late")
        assert (lost.state, lost.session_id) == ("starting", None)
    assert follow_starts.run(ctx) == 0  # nothing new: nothing moved
    clock[0] = t0 + 30_000 + 61_000  # the grace is over: the unanswered start failed
    assert follow_starts.run(ctx) == 1
    with Session(engine) as s:
        assert s.get_one(Order, "o-lost").state == "failed"
        assert s.get_one(Order, "o-late").state == "starting"  # its session's records move it on
        assert ledger.balances(s, "7").held == 2000  # o-lost's hold is back, o-late's stays
    engine.dispose()
