"""Seeding shared by the sharing tests and the clients' "my pile" tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.orders import service as orders
from cloud.orders.machine import Event


def bill_visitor_session(s: Session, order_id: str, driver_id: str, sid: str, *, gun: str = "P1-1",
                         hold_fen: int = 3_000) -> None:
    """A visitor's amount-limited order on a shared gun, run and billed through the order
    service (the driver's wallet must hold `hold_fen`): electricity 1,005 + service 333 +
    idle 35 = 1,373 fen; at a 10 % commission the owner's part is 1,236."""
    orders.create(s, order_id=order_id, driver_id=driver_id, sid=sid, gun=gun, limit_mode="amount",
                  limit_value=hold_fen, hold_fen=hold_fen)
    for e in (Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED):
        orders.apply(s, order_id, e)
    orders.apply(s, order_id, Event.BILLED, lines=[
        orders.Line("electricity", 1005, "flat", 1000),
        orders.Line("service", 333, "flat", 1000),
        orders.Line("idle", 35),
    ])  # fmt: skip
