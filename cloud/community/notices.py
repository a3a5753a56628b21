"""Messages to drivers outside the app: a session receipt when an order settles, through a
small notifier interface (WeChat subscribe messages in production, anything with
`session_receipt` in tests).

Money never waits for a message and never fails because of one: billing only notes the
settled order id on its Session (`order_settled`); when its outermost transaction ends, one
background thread re-reads the order in its own session and sends only if it is settled (a
savepoint or transaction rolled back after the note sends nothing). Every failure is logged
(`jc.notices`) and dropped. No notifier configured: nothing is noted."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from cloud.wechat.subscribe import SubscribeClient

log = logging.getLogger("jc.notices")
_PENDING = "jc_notices_settled"


@dataclass(frozen=True)
class Receipt:
    order_id: str
    driver_id: str
    openid: str | None
    sid: str
    station_name: str
    total_fen: int
    settled_at: int


class Notifier(Protocol):
    def session_receipt(self, receipt: Receipt) -> None: ...


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


class WechatNotifier:
    """Session receipts as subscribe messages. The template's keys are those of the template
    chosen in the mini-program's console (order number, amount, station, time). A tap on the
    message opens the mini-program's order page (miniprogram/pages/order, `?id=`)."""

    def __init__(self, client: SubscribeClient, template_id: str, page: str = "pages/order/order") -> None:
        self.client, self.template_id, self.page = client, template_id, page

    def session_receipt(self, r: Receipt) -> None:
        if not r.openid:
            log.info("order %s: driver %s has no openid, no receipt", r.order_id, r.driver_id)
            return
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(r.settled_at / 1000 + 8 * 3600))  # China time
        self.client.send(r.openid, self.template_id,
                         {"character_string1": r.order_id[:32], "amount2": yuan(r.total_fen),
                          "thing3": (r.station_name or r.sid)[:20], "time4": when},
                         page=f"{self.page}?id={r.order_id}")


_notifier: Notifier | None = None
_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jc-notices")
_lock = threading.Lock()


def configure(notifier: Notifier | None) -> None:
    global _notifier
    with _lock:
        _notifier = notifier


def order_settled(s: Session, order_id: str) -> None:
    """Note a settled order on the Session; its receipt goes out after the commit."""
    if _notifier is None:
        return
    if _PENDING not in s.info:
        s.info[_PENDING] = []
        event.listen(s, "after_transaction_end", _after_end)
    s.info[_PENDING].append(order_id)


def _after_end(s: Session, transaction: SessionTransaction) -> None:
    # Only the end of the outermost transaction counts: after_commit fires for a savepoint's
    # release too (billing runs in one), before anything is visible to another reader. A
    # rolled-back end sends nothing either: the reader finds the order not settled.
    if transaction.parent is not None or transaction.nested:
        return
    ids, s.info[_PENDING] = list(s.info.get(_PENDING, [])), []
    notifier, bind = _notifier, s.get_bind()
    if ids and notifier is not None:
        _pool.submit(_send, bind, ids, notifier)


def _send(bind: Any, ids: list[str], notifier: Notifier) -> None:
    from cloud.drivers.models import Driver
    from cloud.models import Station
    from cloud.orders.models import Order

    for order_id in ids:
        try:
            with Session(bind) as s:
                order = s.get(Order, order_id)
                if order is None or order.state != "settled" or order.settled_at is None:
                    # rolled back after the note, or not settled after all
                    log.info("order %s not settled (%s): no receipt", order_id, order and order.state)
                    continue
                driver = s.get(Driver, int(order.driver_id)) if order.driver_id.isdigit() else None
                station = s.get(Station, order.sid)
                receipt = Receipt(order_id, order.driver_id, driver.openid if driver else None, order.sid,
                                  (station.name if station else None) or order.sid, int(order.total_fen or 0),
                                  order.settled_at)
            notifier.session_receipt(receipt)
        except Exception:  # noqa: BLE001 - a message never matters more than the next one
            log.exception("session receipt for order %s not sent", order_id)


def drain(timeout: float = 10.0) -> None:
    """Wait until every receipt noted so far was handled (tests, shutdown)."""
    f: Future[None] = _pool.submit(lambda: None)
    f.result(timeout=timeout)
