"""The wallet as plain functions (no Flask request objects): recharges through the payment
provider, crediting a paid payment exactly once, reconciling payments whose notification never
came, balance refunds split across the paid payments, session prepayments and the refund of
what a session did not spend, and the wallet's views.

Money moves only through cloud.ledger.service, under keys derived from our own numbers:
`pay:<out_trade_no>` credits a payment, `refund:<out_refund_no>` takes a refund part from the
cash (then `refund_paid` or `refund_failed` closes it). A second notification, a poll racing a
notification, two job processes: each posts once, because the key posts once and because every
change first locks the driver's ledger accounts and re-reads the row under that lock.

Functions taking a Session flush and leave committing to the caller. Those that talk to the
provider take `transactions` (e.g. `db.transaction`) instead: no database transaction stays
open while the provider is asked, and what the provider must find (a pending payment, a
refund part) is committed before it is asked.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import event, exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import take_write_lock
from cloud.drivers import service as drivers
from cloud.drivers.errors import InvalidField
from cloud.drivers.lockout import Policy
from cloud.drivers.models import Driver, PaymentPassword
from cloud.ledger import service as ledger
from cloud.models.base import now_ms
from cloud.orders.models import Order
from cloud.payments.errors import (
    AmountMismatch,
    DecryptionFailed,
    NotificationInvalid,
    PaymentError,
    ProviderError,
    ProviderUnavailable,
    SignatureInvalid,
)
from cloud.payments.provider import (
    NewOrder,
    NotificationReply,
    PaymentProvider,
    Refund,
    RefundRequest,
    RefundStatus,
    TradeState,
    Transaction,
)
from cloud.sharing import service as sharing
from cloud.wallet import split as splitting
from cloud.wallet.errors import (
    ChannelUnavailable,
    NotFound,
    NothingToRefund,
    PaymentFailed,
    PaymentPasswordRequired,
    PaymentUnavailable,
    RechargeAmountInvalid,
    RefundTooLarge,
    UnknownPayment,
)
from cloud.wallet.models import PAYMENT_CHANNELS, WalletPayment, WalletRefund, WalletRefundPart
from cloud.wallet.settings import WalletSettings

log = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8))
Transactions = Callable[[], AbstractContextManager[Session]]

RECHARGE_DESCRIPTION = "聚充-钱包充值"
SESSION_DESCRIPTION = "聚充-充电预付"
REFUND_REASON = "聚充-余额退款"
PREPAY_REFUND_REASON = "聚充-预付未用部分退款"

# purpose -> what to do, in the crediting transaction, once a payment of that purpose is paid:
# the charging package registers "session" (start the prepaid order) at import.
PAID_HANDLERS: dict[str, Callable[[Session, str], None]] = {}

FINAL_ORDER_STATES = ("settled", "failed", "cancelled")


# --- helpers ------------------------------------------------------------------------------------
# SQLite's write lock before a read that leads to a write (cloud/db.py take_write_lock).
_sqlite_write_lock = take_write_lock


def _for_update(s: Session, q: Any) -> Any:
    q = q.execution_options(populate_existing=True)
    return q.with_for_update() if s.get_bind().dialect.name == "postgresql" else q


def new_number(prefix: str, now: int) -> str:
    """An out_trade_no / refund number: prefix, the China date, 16 random hex digits (26
    characters of WeChat's alphabet; unguessable, so a number says nothing about another)."""
    day = datetime.fromtimestamp(now / 1000, CHINA).strftime("%Y%m%d")
    return f"{prefix}{day}{secrets.token_hex(8).upper()}"


@contextmanager
def session_transactions(s: Session) -> Iterator[Session]:
    """`transactions` over one caller's Session (a job's): commit each, roll back on error."""
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise


def _amount(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise RechargeAmountInvalid(f"{field} must be an integer {lo}..{hi} fen", field=field,
                                    min_fen=lo, max_fen=hi)
    return value


def payment_state(p: WalletPayment) -> str:
    """pending | paid | closed | refunded_part | refunded (refunds accepted count)."""
    if p.state != "paid" or p.refunded_fen == 0:
        return p.state
    return "refunded" if p.refunded_fen >= p.amount_fen else "refunded_part"


def payment_view(p: WalletPayment) -> dict[str, Any]:
    return {"recharge_id": p.out_trade_no, "purpose": p.purpose, "order_id": p.order_id,
            "channel": p.channel, "amount_fen": p.amount_fen, "state": payment_state(p), "refunded_fen": p.refunded_fen,
            "created_at": p.created_at, "paid_at": p.paid_at, "expires_at": p.expires_at}


# --- recharges ----------------------------------------------------------------------------------
# How a payment is made (the driver API's `channel`): the mini-program's wx.requestPayment
# (JSAPI under the mini-program's appid), the H5 app inside WeChat's browser
# (WeixinJSBridge getBrandWCPayRequest: JSAPI under the official account's appid and openid),
# the H5 app in any other phone browser (an H5 payment: the browser goes to the provider's page).
CHANNELS = PAYMENT_CHANNELS


@dataclass(frozen=True)
class Channel:
    """The channel of one payment, checked: its name, the appid the order is made under
    (None: the provider's own) and, for "h5", the payer's IP address."""

    name: str = "jsapi"
    appid: str | None = None
    client_ip: str | None = None


def channel(name: Any, settings: WalletSettings, client_ip: str | None = None) -> Channel:
    """The checked channel of a request (`name` None: "jsapi")."""
    if name is None:
        name = "jsapi"
    if name not in CHANNELS:
        raise InvalidField(f"channel must be one of {', '.join(CHANNELS)}", field="channel")
    if name == "jsapi":
        return Channel()
    if not settings.oa_appid and name == "oa_jsapi":
        raise ChannelUnavailable("no official account is configured (WECHAT_OA_APPID)", channel=name)
    if name == "h5":
        if not client_ip:
            raise ChannelUnavailable("the payer's IP address is unknown", channel=name)
        return Channel("h5", settings.oa_appid or None, client_ip)
    return Channel("oa_jsapi", settings.oa_appid)


def _payer_openid(s: Session, driver_id: int, ch: Channel) -> str:
    """The openid the order names: the driver's under the channel's appid."""
    if ch.name == "h5":
        return ""  # the payer is whoever pays at the provider's page
    if ch.name == "oa_jsapi":
        assert ch.appid is not None
        found = drivers.openid_for(s, driver_id, ch.appid)
        if found is None:
            raise ChannelUnavailable("the driver never logged in through the official account", channel=ch.name)
        return found
    return s.scalar(select(Driver.openid).where(Driver.id == driver_id)) or ""


def _new_payment(s: Session, driver_id: int, purpose: str, order_id: str | None, amount: int,
                 settings: WalletSettings, now: int, ch: Channel = Channel()) -> tuple[WalletPayment, str]:
    _sqlite_write_lock(s)
    if s.scalar(select(Driver.id).where(Driver.id == driver_id)) is None:
        raise NotFound(f"no driver {driver_id}")
    openid = _payer_openid(s, driver_id, ch)
    p = WalletPayment(out_trade_no=new_number("TU" if purpose == "wallet" else "TS", now), driver_id=driver_id,
                      purpose=purpose, order_id=order_id, amount_fen=amount, state="pending", refunded_fen=0,
                      channel=ch.name,
                      expires_at=now + settings.payment_expire_ms, created_at=now, updated_at=now)
    s.add(p)
    s.flush()
    return p, openid


def _open_order(provider: PaymentProvider, p: WalletPayment, openid: str, description: str,
                ch: Channel = Channel()) -> dict[str, Any]:
    """Open the payment at the provider: {"channel", "pay_params"} (signed for wx.requestPayment
    or getBrandWCPayRequest) or, for "h5", {"channel", "h5_url"}."""
    order = NewOrder(out_trade_no=p.out_trade_no, description=description, total_fen=p.amount_fen,
                     payer_openid=openid, time_expire=datetime.fromtimestamp(p.expires_at // 1000, UTC),
                     appid=ch.appid)
    try:
        if ch.name == "h5":
            assert ch.client_ip is not None
            return {"channel": "h5", "h5_url": provider.create_h5_order(order, ch.client_ip).h5_url}
        params = provider.create_jsapi_order(order)
        p.prepay_id = params.prepay_id
        return {"channel": ch.name, "pay_params": params.for_request_payment()}
    except (ProviderUnavailable, SignatureInvalid) as e:
        # the order may exist at the provider: it stays pending; a poll or the job settles it
        log.warning("payment %s not opened: %s", p.out_trade_no, e)
        raise PaymentUnavailable(str(e)) from None
    except PaymentError as e:
        log.warning("payment %s refused by the provider: %s", p.out_trade_no, e)
        raise PaymentFailed(str(e)) from None


def create_recharge(transactions: Transactions, provider: PaymentProvider, driver_id: int, amount_fen: Any,
                    settings: WalletSettings, now: int | None = None, ch: Channel = Channel()) -> dict[str, Any]:
    """A pending recharge and how to pay it: the signed wx.requestPayment parameters
    (channels "jsapi", "oa_jsapi") or the provider's page (`h5_url`, channel "h5"). The row is
    committed before the provider is asked, so its notification always finds it."""
    amount = _amount(amount_fen, "amount_fen", settings.recharge_min_fen, settings.recharge_max_fen)
    now = now_ms() if now is None else now
    with transactions() as s:
        p, openid = _new_payment(s, driver_id, "wallet", None, amount, settings, now, ch)
        s.expunge(p)
    try:
        how = _open_order(provider, p, openid, RECHARGE_DESCRIPTION, ch)
    except PaymentFailed:
        with transactions() as s:
            _close(s, p.out_trade_no, now_ms())
        raise
    if p.prepay_id:
        with transactions() as s:
            s.execute(update(WalletPayment).where(WalletPayment.id == p.id).values(prepay_id=p.prepay_id))
    return {**payment_view(p), **how}


def _close(s: Session, out_trade_no: str, now: int) -> None:
    s.execute(update(WalletPayment).where(WalletPayment.out_trade_no == out_trade_no,
                                          WalletPayment.state == "pending")
              .values(state="closed", updated_at=now, checked_at=now))


def list_payments(s: Session, driver_id: int, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
    q = select(WalletPayment).where(WalletPayment.driver_id == driver_id)
    if before is not None:
        cursor = s.scalar(select(WalletPayment.id).where(WalletPayment.out_trade_no == before,
                                                         WalletPayment.driver_id == driver_id))
        if cursor is not None:
            q = q.where(WalletPayment.id < cursor)
    return [payment_view(p) for p in s.scalars(q.order_by(WalletPayment.id.desc()).limit(limit))]


def get_payment(s: Session, driver_id: int, out_trade_no: str) -> WalletPayment:
    """The driver's own payment; NotFound for one missing or another driver's alike."""
    p = s.scalar(select(WalletPayment).where(WalletPayment.out_trade_no == out_trade_no,
                                             WalletPayment.driver_id == driver_id))
    if p is None:
        raise NotFound("no such recharge")
    return p


def poll_payment(transactions: Transactions, provider: PaymentProvider | None, driver_id: int, out_trade_no: str,
                 settings: WalletSettings, now: int | None = None) -> dict[str, Any]:
    """The driver's payment; one still pending after `poll_after` is first asked about at the
    provider (reconcile on read), at most once per `poll_after`."""
    now = now_ms() if now is None else now
    with transactions() as s:
        p = get_payment(s, driver_id, out_trade_no)
        due = (p.state == "pending" and now - p.created_at >= settings.poll_after_ms
               and (p.checked_at is None or now - p.checked_at >= settings.poll_after_ms))
    if due and provider is not None:
        reconcile_payment(transactions, provider, out_trade_no, now)
    with transactions() as s:
        return payment_view(get_payment(s, driver_id, out_trade_no))


# --- crediting ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Credit:
    out_trade_no: str
    driver_id: int
    amount_fen: int
    credited: bool  # False: it was credited before (a duplicate)


def credit_payment(s: Session, out_trade_no: str, total_fen: int | None, transaction_id: str | None,
                   now: int | None = None) -> Credit:
    """Credit a payment the provider reports paid, once: its amount goes to the ledger
    (`top_up`, which pays any debt first), the row becomes paid, and a "session" payment's
    handler runs in this transaction. UnknownPayment, AmountMismatch: nothing is credited."""
    now = now_ms() if now is None else now
    _sqlite_write_lock(s)
    row = s.execute(select(WalletPayment.id, WalletPayment.driver_id, WalletPayment.order_id)
                    .where(WalletPayment.out_trade_no == out_trade_no)).first()
    if row is None:
        raise UnknownPayment(f"no payment {out_trade_no!r}")
    if row.order_id is not None:
        # the order row before the driver's accounts, as cloud.orders does: the paid handler
        # moves the order, and two lock orders could deadlock
        s.execute(_for_update(s, select(Order.order_id).where(Order.order_id == row.order_id)))
    ledger.lock_driver(s, str(row.driver_id))  # then the driver's accounts, as every posting does
    p = s.execute(_for_update(s, select(WalletPayment).where(WalletPayment.id == row.id))).scalar_one()
    if p.state == "paid":
        if transaction_id and p.transaction_id and transaction_id != p.transaction_id:
            log.warning("payment %s: paid again as %s (first %s); credited once", out_trade_no,
                        transaction_id, p.transaction_id)
        return Credit(p.out_trade_no, p.driver_id, p.amount_fen, False)
    if total_fen != p.amount_fen:
        raise AmountMismatch(f"payment {out_trade_no}", p.amount_fen, -1 if total_fen is None else total_fen)
    ledger.top_up(s, str(p.driver_id), p.amount_fen, f"pay:{p.out_trade_no}",
                  memo={"out_trade_no": p.out_trade_no, "transaction_id": transaction_id, "purpose": p.purpose})
    # a payment closed here but paid there (the payer was faster than the close): money arrived
    p.state, p.transaction_id, p.paid_at, p.updated_at = "paid", transaction_id, now, now
    s.flush()
    if p.purpose == "session" and p.order_id is not None:
        handler = PAID_HANDLERS.get("session")
        if handler is not None:
            handler(s, p.order_id)
    return Credit(p.out_trade_no, p.driver_id, p.amount_fen, True)


def _reply(provider: PaymentProvider, status: int, message: str) -> NotificationReply:
    fail = provider.notification_reply(False, message)
    return NotificationReply(status, fail.body, fail.content_type)


def handle_payment_notification(transactions: Transactions, provider: PaymentProvider, headers: Mapping[str, str],
                                body: bytes, now: int | None = None) -> NotificationReply:
    """Verify, decrypt, credit once; the answer for the provider. Anything refused credits
    nothing, is logged, and is answered 4xx/5xx with {"code": "FAIL", "message"} (the provider
    retries those); a duplicate of a credited payment is answered as handled."""
    try:
        notice = provider.parse_payment_notification(headers, body)
    except SignatureInvalid as e:
        return _reply(provider, 401, f"signature refused: {e.code}")
    except (DecryptionFailed, NotificationInvalid) as e:
        return _reply(provider, 400, f"notification refused: {e.code}")
    tx = notice.transaction
    try:
        with transactions() as s:
            credit = credit_payment(s, tx.out_trade_no, tx.total_fen, tx.transaction_id, now)
    except UnknownPayment:
        log.warning("payment notification %s for unknown out_trade_no %r: nothing credited", notice.id,
                    tx.out_trade_no)
        return _reply(provider, 404, "unknown out_trade_no")
    except AmountMismatch as e:
        log.warning("payment notification %s refused: %s; nothing credited", notice.id, e)
        return _reply(provider, 400, "amount does not match the order")
    except Exception:
        log.exception("payment notification %s for %s failed; the provider retries", notice.id, tx.out_trade_no)
        return _reply(provider, 500, "internal error, retry")
    if credit.credited:
        log.info("payment %s credited: %d fen to driver %d", credit.out_trade_no, credit.amount_fen, credit.driver_id)
    return provider.notification_reply(True)


# --- reconciliation -----------------------------------------------------------------------------
def reconcile_payment(transactions: Transactions, provider: PaymentProvider, out_trade_no: str,
                      now: int | None = None) -> str:
    """Ask the provider about one pending payment and act: credit it when paid, close it when
    the provider closed it, never made it, or it expired unpaid. What happened, as a word:
    credited | already | closed | pending | error."""
    now = now_ms() if now is None else now
    with transactions() as s:
        p = s.scalar(select(WalletPayment).where(WalletPayment.out_trade_no == out_trade_no))
        if p is None:
            raise UnknownPayment(f"no payment {out_trade_no!r}")
        expires_at = p.expires_at
    outcome = "pending"
    try:
        tx: Transaction | None = provider.query_order(out_trade_no)
    except ProviderError as e:
        if e.code != "ORDER_NOT_EXIST":
            log.warning("payment %s: query refused: %s", out_trade_no, e)
            return "error"
        tx = None  # the order never reached the provider
    except PaymentError as e:
        log.warning("payment %s: query failed: %s", out_trade_no, e)
        return "error"
    if tx is not None and tx.paid:
        try:
            with transactions() as s:
                credit = credit_payment(s, out_trade_no, tx.total_fen, tx.transaction_id, now)
        except AmountMismatch as e:
            log.warning("payment %s: %s; nothing credited", out_trade_no, e)
            return "error"
        return "credited" if credit.credited else "already"
    if tx is None or tx.trade_state in (TradeState.CLOSED, TradeState.REVOKED, TradeState.PAYERROR):
        outcome = "closed"
    elif now >= expires_at:
        try:
            provider.close_order(out_trade_no)
            outcome = "closed"
        except PaymentError as e:
            # ORDERPAID: paid meanwhile; the next look credits it
            log.warning("payment %s: close failed: %s", out_trade_no, e)
    with transactions() as s:
        if outcome == "closed":
            _close(s, out_trade_no, now)
        else:
            s.execute(update(WalletPayment).where(WalletPayment.out_trade_no == out_trade_no)
                      .values(checked_at=now))
    return outcome


def reconcile_pending(s: Session, provider: PaymentProvider, now: int | None = None, *,
                      older_than_ms: int = 300_000, limit: int = 200) -> dict[str, int]:
    """The job: every payment pending longer than `older_than_ms` is asked about and credited,
    closed or left (counts by outcome). It commits on `s` as it goes (a job's session): no
    transaction stays open while the provider is asked."""
    now = now_ms() if now is None else now
    numbers = list(s.scalars(select(WalletPayment.out_trade_no)
                             .where(WalletPayment.state == "pending", WalletPayment.created_at <= now - older_than_ms)
                             .order_by(WalletPayment.id).limit(limit)))
    s.commit()
    counts: dict[str, int] = {}
    for no in numbers:
        outcome = reconcile_payment(lambda: session_transactions(s), provider, no, now)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# --- refunds ------------------------------------------------------------------------------------
def _remainders(s: Session, driver_id: int, lock: bool) -> list[splitting.Remainder]:
    # A session's payment is its order's while the order runs: refund_prepay_rest gives the
    # unspent part back to it at the end, which a balance refund taken from it first would
    # leave nothing of. It joins the balance's payments once its order is final.
    running = exists(select(Order.order_id).where(Order.order_id == WalletPayment.order_id,
                                                  Order.state.not_in(FINAL_ORDER_STATES)))
    q = (select(WalletPayment).where(WalletPayment.driver_id == driver_id, WalletPayment.state == "paid",
                                     WalletPayment.refunded_fen < WalletPayment.amount_fen,
                                     ~((WalletPayment.purpose == "session") & running))
         .order_by(WalletPayment.id.desc()))
    rows = s.execute(_for_update(s, q) if lock else q).scalars()
    return [splitting.Remainder(p.id, p.amount_fen - p.refunded_fen) for p in rows]


def cash_after_debt(b: ledger.Balances) -> int:
    """The cash left once what the driver owes is paid from the balance as ledger.collect_debt
    pays it (bonus pays only spent debt, cash the rest): the most a balance refund may take."""
    to_cash_debt, to_debt, from_bonus = ledger.debts_paid(b.debt_cash, b.debt_spent, b.cash, b.bonus)
    return b.cash - to_cash_debt - (to_debt - from_bonus)


def refundable_fen(s: Session, driver_id: int) -> int:
    return splitting.refundable(cash_after_debt(ledger.balances(s, str(driver_id))), _remainders(s, driver_id, False))


def _add_refund(s: Session, driver_id: int, parts: list[tuple[int, int]], now: int, key: str | None,
                reason: str) -> WalletRefund:
    refund = WalletRefund(refund_no=new_number("RF", now), driver_id=driver_id, key=key,
                          amount_fen=sum(f for _p, f in parts), created_at=now)
    s.add(refund)
    s.flush()
    for n, (payment_id, fen) in enumerate(parts, 1):
        pay = s.get_one(WalletPayment, payment_id)
        pay.refunded_fen += fen
        pay.updated_at = now
        part = WalletRefundPart(refund_id=refund.id, payment_id=payment_id, out_refund_no=f"{refund.refund_no}-{n}",
                                amount_fen=fen, state="processing", attempts=0, created_at=now, updated_at=now)
        s.add(part)
        ledger.refund(s, str(driver_id), fen, f"refund:{part.out_refund_no}",
                      memo={"out_trade_no": pay.out_trade_no, "out_refund_no": part.out_refund_no,
                            "reason": reason})
    s.flush()
    return refund


def check_refund_amount(amount_fen: Any | None) -> None:
    """A refund's asked amount is None (all) or a positive integer of fen; else InvalidField."""
    if amount_fen is not None and (isinstance(amount_fen, bool) or not isinstance(amount_fen, int)
                                   or not 1 <= amount_fen <= ledger.MAX_FEN):
        raise InvalidField("amount_fen must be a positive integer of fen", field="amount_fen")


def request_refund(s: Session, driver_id: int, amount_fen: Any | None, now: int | None = None) -> WalletRefund:
    """Accept a balance refund (all that is refundable when `amount_fen` is None): pay any
    debt from the balance first, split the refund across the paid payments, newest first, and
    move each part from cash to refunds payable.
    Nothing is sent to the provider here (submit_refund does, after the commit)."""
    now = now_ms() if now is None else now
    check_refund_amount(amount_fen)
    _sqlite_write_lock(s)
    locked = ledger.lock_driver(s, str(driver_id))
    if locked.debt > 0:
        # a session that cost more than its hold: its debt is paid before any cash leaves,
        # never left owed behind a refund (rolled back with the refund if it is refused)
        ledger.collect_debt(s, str(driver_id), key=f"collect:{new_number('RF', now)}")
        locked = ledger.lock_driver(s, str(driver_id))
    cash = locked.cash
    remainders = _remainders(s, driver_id, True)
    can = splitting.refundable(cash, remainders)
    if can == 0:
        raise NothingToRefund("nothing is refundable")
    amount = can if amount_fen is None else amount_fen
    if amount > can:
        raise RefundTooLarge(f"{amount} fen asked, {can} fen refundable", refundable_fen=can)
    return _add_refund(s, driver_id, splitting.split(amount, remainders), now, None, REFUND_REASON)


def _part_request(s: Session, part: WalletRefundPart, reason: str | None) -> RefundRequest:
    pay = s.get_one(WalletPayment, part.payment_id)
    return RefundRequest(out_refund_no=part.out_refund_no, out_trade_no=pay.out_trade_no, refund_fen=part.amount_fen,
                         total_fen=pay.amount_fen, reason=reason)


def submit_refund(transactions: Transactions, provider: PaymentProvider, refund_no: str,
                  now: int | None = None) -> None:
    """Send the refund's parts still processing to the provider (the same out_refund_no each
    time: the provider refunds a number once) and book what it answers."""
    with transactions() as s:
        refund = s.scalar(select(WalletRefund).where(WalletRefund.refund_no == refund_no))
        if refund is None:
            return
        reason = PREPAY_REFUND_REASON if refund.key else REFUND_REASON
        requests = [_part_request(s, p, reason) for p in s.scalars(
            select(WalletRefundPart).where(WalletRefundPart.refund_id == refund.id,
                                           WalletRefundPart.state == "processing").order_by(WalletRefundPart.id))]
    for req in requests:
        send_refund_part(transactions, provider, req, now)


def send_refund_part(transactions: Transactions, provider: PaymentProvider, req: RefundRequest,
                     now: int | None = None) -> str:
    """One provider refund call for a part and its booking: the part's state after it."""
    now = now_ms() if now is None else now
    try:
        answer = provider.refund(req)
    except PaymentError as e:
        # unreachable, or refused for now (e.g. the merchant's balance short): the part stays
        # processing and the refund job sends the same number again
        log.warning("refund part %s not accepted yet: %s", req.out_refund_no, e)
        with transactions() as s:
            s.execute(update(WalletRefundPart).where(WalletRefundPart.out_refund_no == req.out_refund_no)
                      .values(attempts=WalletRefundPart.attempts + 1, last_error=str(e)[:200], updated_at=now))
        return "processing"
    with transactions() as s:
        state = apply_refund(s, answer, now)  # first: it locks the driver's accounts, then the part
        s.execute(update(WalletRefundPart).where(WalletRefundPart.out_refund_no == req.out_refund_no)
                  .values(attempts=WalletRefundPart.attempts + 1, last_error=None, updated_at=now))
        return state


def apply_refund(s: Session, refund: Refund, now: int | None = None) -> str:
    """Book what the provider says of a refund part (answer, query or notification), once:
    SUCCESS → refunds payable paid out; CLOSED / ABNORMAL → the money back to the driver's
    cash and to the payment's refundable rest; PROCESSING → nothing yet. The part's state."""
    now = now_ms() if now is None else now
    _sqlite_write_lock(s)
    row = s.execute(select(WalletRefundPart.id, WalletPayment.driver_id, WalletPayment.amount_fen)
                    .join(WalletPayment, WalletPayment.id == WalletRefundPart.payment_id)
                    .where(WalletRefundPart.out_refund_no == refund.out_refund_no)).first()
    if row is None:
        raise UnknownPayment(f"no refund part {refund.out_refund_no!r}")
    ledger.lock_driver(s, str(row.driver_id))
    part = s.execute(_for_update(s, select(WalletRefundPart).where(WalletRefundPart.id == row.id))).scalar_one()
    refund.expect_amounts(part.amount_fen, row.amount_fen)
    if part.state == "failed" and refund.status == RefundStatus.SUCCESS:
        return _refund_paid_late(s, part, row.driver_id, refund, now)
    if part.state != "processing":
        return part.state
    part.provider_refund_id = refund.refund_id
    part.updated_at = now
    key = f"refund:{part.out_refund_no}"
    if refund.status == RefundStatus.SUCCESS:
        ledger.refund_paid(s, key)
        part.state = "succeeded"
    elif refund.status in (RefundStatus.CLOSED, RefundStatus.ABNORMAL):
        ledger.refund_failed(s, key)
        pay = s.execute(_for_update(s, select(WalletPayment).where(WalletPayment.id == part.payment_id))).scalar_one()
        pay.refunded_fen -= part.amount_fen
        pay.updated_at = now
        part.state = "failed"
        log.warning("refund part %s ended %s: %d fen back to driver %d", part.out_refund_no, refund.status,
                    part.amount_fen, row.driver_id)
    s.flush()
    return part.state


def _refund_paid_late(s: Session, part: WalletRefundPart, driver_id: int, refund: Refund, now: int) -> str:
    """A part booked failed (its money back in the driver's cash) that the provider says it
    paid after all: the driver was paid twice. The cash is taken back (debt for what was
    spent meanwhile, collected by the next top-up) and the payment's refunded total restored."""
    key = f"refund:{part.out_refund_no}"
    ledger.refund_paid_late(s, key)
    pay = s.execute(_for_update(s, select(WalletPayment).where(WalletPayment.id == part.payment_id))).scalar_one()
    pay.refunded_fen = min(pay.amount_fen, pay.refunded_fen + part.amount_fen)
    pay.updated_at = now
    part.state = "succeeded"
    part.provider_refund_id = refund.refund_id
    part.updated_at = now
    log.error("refund part %s was booked failed but the provider paid it (%s): %d fen taken back from driver %d "
              "(debt for what was spent)", part.out_refund_no, refund.refund_id, part.amount_fen, driver_id)
    s.flush()
    return part.state


def handle_refund_notification(transactions: Transactions, provider: PaymentProvider, headers: Mapping[str, str],
                               body: bytes, now: int | None = None) -> NotificationReply:
    try:
        notice = provider.parse_refund_notification(headers, body)
    except SignatureInvalid as e:
        return _reply(provider, 401, f"signature refused: {e.code}")
    except (DecryptionFailed, NotificationInvalid) as e:
        return _reply(provider, 400, f"notification refused: {e.code}")
    try:
        with transactions() as s:
            apply_refund(s, notice.refund, now)
    except UnknownPayment:
        log.warning("refund notification %s for unknown out_refund_no %r", notice.id, notice.refund.out_refund_no)
        return _reply(provider, 404, "unknown out_refund_no")
    except AmountMismatch as e:
        log.warning("refund notification %s refused: %s", notice.id, e)
        return _reply(provider, 400, "amount does not match the refund")
    except Exception:
        log.exception("refund notification %s failed; the provider retries", notice.id)
        return _reply(provider, 500, "internal error, retry")
    return provider.notification_reply(True)


def refund_balance(transactions: Transactions, provider: PaymentProvider, driver_id: int, amount_fen: Any | None,
                   payment_password: Any | None, policy: Policy, now: int | None = None) -> dict[str, Any]:
    """The driver's balance refund: the payment password first when one is set (under its
    lockout), then the refund accepted and committed, then sent. Its view."""
    now = now_ms() if now is None else now
    check_refund_amount(amount_fen)  # a malformed amount spends no password attempt
    with transactions() as s:
        has_password = s.get(PaymentPassword, driver_id) is not None
    if has_password:
        if payment_password is None:
            raise PaymentPasswordRequired("a payment password is set: send it", field="payment_password")
        drivers.verify_payment_password(transactions, driver_id, payment_password, policy, now)
    with transactions() as s:
        refund_no = request_refund(s, driver_id, amount_fen, now).refund_no
    submit_refund(transactions, provider, refund_no, now)
    with transactions() as s:
        return get_refund(s, driver_id, refund_no)


def _refund_view(s: Session, refund: WalletRefund) -> dict[str, Any]:
    parts = s.execute(select(WalletRefundPart, WalletPayment.out_trade_no)
                      .join(WalletPayment, WalletPayment.id == WalletRefundPart.payment_id)
                      .where(WalletRefundPart.refund_id == refund.id).order_by(WalletRefundPart.id)).all()
    states = {p.state for p, _n in parts}
    if states == {"succeeded"}:
        state = "success"
    elif "processing" in states:
        state = "processing"
    elif states == {"failed"}:
        state = "failed"
    else:  # some parts paid out, some failed (their money back in the balance)
        state = "partial"
    return {"refund_id": refund.refund_no, "amount_fen": refund.amount_fen, "state": state,
            "order_id": refund.key.removeprefix("prepay:") if refund.key else None, "created_at": refund.created_at,
            "parts": [{"out_refund_no": p.out_refund_no, "out_trade_no": no, "amount_fen": p.amount_fen,
                       "state": p.state} for p, no in parts]}


def get_refund(s: Session, driver_id: int, refund_no: str) -> dict[str, Any]:
    refund = s.scalar(select(WalletRefund).where(WalletRefund.refund_no == refund_no,
                                                 WalletRefund.driver_id == driver_id))
    if refund is None:
        raise NotFound("no such refund")
    return _refund_view(s, refund)


def list_refunds(s: Session, driver_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return [_refund_view(s, r) for r in s.scalars(select(WalletRefund).where(WalletRefund.driver_id == driver_id)
                                                  .order_by(WalletRefund.id.desc()).limit(limit))]


def retry_refunds(s: Session, provider: PaymentProvider, now: int | None = None, *,
                  older_than_ms: int = 600_000, limit: int = 200) -> dict[str, int]:
    """The refund job: parts never sent, or still processing after `older_than_ms`, are sent
    again with the SAME out_refund_no (the provider answers the refund it made, or makes it
    once) and booked. Commits on `s` as it goes. Counts by the parts' states after."""
    now = now_ms() if now is None else now
    rows = s.execute(select(WalletRefundPart.id).where(
        WalletRefundPart.state == "processing",
        (WalletRefundPart.attempts == 0) | (WalletRefundPart.updated_at <= now - older_than_ms))
        .order_by(WalletRefundPart.id).limit(limit)).scalars().all()
    requests = []
    for part_id in rows:
        part = s.get_one(WalletRefundPart, part_id)
        refund = s.get_one(WalletRefund, part.refund_id)
        requests.append(_part_request(s, part, PREPAY_REFUND_REASON if refund.key else REFUND_REASON))
    s.commit()
    counts: dict[str, int] = {}
    for req in requests:
        state = send_refund_part(lambda: session_transactions(s), provider, req, now)
        counts[state] = counts.get(state, 0) + 1
    return counts


# --- session prepayments ------------------------------------------------------------------------
def _settings_here() -> WalletSettings:
    try:
        from flask import current_app

        return WalletSettings.from_settings(current_app.config)
    except RuntimeError:  # no app context (a script): the defaults
        return WalletSettings()


def _provider_here() -> PaymentProvider:
    from cloud.wallet.settings import app_provider

    return app_provider()


def create_prepay(s: Session, driver_id: int, order_id: str, amount_fen: int, *,
                  provider: PaymentProvider | None = None, settings: WalletSettings | None = None,
                  now: int | None = None, ch: Channel = Channel()) -> dict[str, Any]:
    """A WeChat payment for one order (purpose "session"): {"recharge_id", "amount_fen",
    "state", "channel", "pay_params" or "h5_url"}. When it is paid, its amount is credited to the driver's cash and
    PAID_HANDLERS["session"](s, order_id) runs in the same transaction. Asked again for the
    same order and amount while pending, it gives the same payment. The row is written in
    the caller's transaction (the caller commits): a notification that comes before that
    commit is answered 404 and WeChat sends it again."""
    settings = settings or _settings_here()
    provider = provider or _provider_here()
    amount = _amount(amount_fen, "amount_fen", 1, max(settings.recharge_max_fen, 1))
    now = now_ms() if now is None else now
    _sqlite_write_lock(s)
    p = s.scalar(select(WalletPayment).where(WalletPayment.order_id == order_id, WalletPayment.purpose == "session",
                                             WalletPayment.driver_id == driver_id, WalletPayment.state == "pending",
                                             WalletPayment.amount_fen == amount, WalletPayment.expires_at > now + 60_000)
                 .order_by(WalletPayment.id.desc()).limit(1))
    if p is None:
        p, openid = _new_payment(s, driver_id, "session", order_id, amount, settings, now, ch)
    else:
        openid = _payer_openid(s, driver_id, ch)
        p.channel = ch.name  # opened again, perhaps from the other client: paid through this one
    how = _open_order(provider, p, openid, SESSION_DESCRIPTION, ch)
    s.flush()
    return {**payment_view(p), **how}


def refund_prepay_rest(s: Session, order_id: str, *, provider: PaymentProvider | None = None,
                       now: int | None = None) -> None:
    """After a prepaid order is final (settled, failed, cancelled): refund to WeChat what it
    did not spend — min(hold − bill, that payment's unrefunded rest, the driver's cash) — once
    per order (key "prepay:<order>"). The part is written in the caller's transaction and sent
    after its commit (or, without a provider here, by the refund job)."""
    now = now_ms() if now is None else now
    _sqlite_write_lock(s)
    pay_id = s.scalar(select(WalletPayment.id).where(WalletPayment.order_id == order_id,
                                                     WalletPayment.purpose == "session",
                                                     WalletPayment.state == "paid")
                      .order_by(WalletPayment.id.desc()).limit(1))
    if pay_id is None:
        return
    driver_id = s.get_one(WalletPayment, pay_id).driver_id
    cash = ledger.lock_driver(s, str(driver_id)).cash
    order = s.execute(select(Order).where(Order.order_id == order_id)
                      .execution_options(populate_existing=True)).scalar_one_or_none()
    if order is None or order.state not in FINAL_ORDER_STATES:
        return
    key = f"prepay:{order_id}"
    if s.scalar(select(WalletRefund.id).where(WalletRefund.key == key)) is not None:
        return  # made before
    pay = s.execute(_for_update(s, select(WalletPayment).where(WalletPayment.id == pay_id))).scalar_one()
    spent = (order.total_fen or 0) if order.state == "settled" else 0
    unspent = max(0, order.hold_fen - spent)
    rest = min(unspent, pay.amount_fen - pay.refunded_fen, cash)
    if rest <= 0:
        return
    refund_no = _add_refund(s, driver_id, [(pay.id, rest)], now, key, PREPAY_REFUND_REASON).refund_no
    _send_after_commit(s, provider, refund_no)


def refund_prepay_unstarted(s: Session, order_id: str, hold_fen: int, *, provider: PaymentProvider | None = None,
                            now: int | None = None) -> str | None:
    """A pay-per-session start whose payment came in but that may not start (a shared pile
    closed or outside its hours by then, docs/sharing.md): the hold it paid goes back to
    WeChat — min(hold, that payment's unrefunded rest, the driver's cash), once per order
    (key "prepay:<order>", as refund_prepay_rest) — written in the caller's transaction and
    sent after its commit (or by the refund job). The refund's number, or None."""
    now = now_ms() if now is None else now
    _sqlite_write_lock(s)
    pay_id = s.scalar(select(WalletPayment.id).where(WalletPayment.order_id == order_id,
                                                     WalletPayment.purpose == "session",
                                                     WalletPayment.state == "paid")
                      .order_by(WalletPayment.id.desc()).limit(1))
    if pay_id is None:
        return None
    key = f"prepay:{order_id}"
    if s.scalar(select(WalletRefund.id).where(WalletRefund.key == key)) is not None:
        return None  # made before
    driver_id = s.get_one(WalletPayment, pay_id).driver_id
    cash = ledger.lock_driver(s, str(driver_id)).cash
    pay = s.execute(_for_update(s, select(WalletPayment).where(WalletPayment.id == pay_id))).scalar_one()
    rest = min(hold_fen, pay.amount_fen - pay.refunded_fen, cash)
    if rest <= 0:
        return None
    refund_no = _add_refund(s, driver_id, [(pay.id, rest)], now, key, PREPAY_REFUND_REASON).refund_no
    _send_after_commit(s, provider, refund_no)
    return refund_no


def _send_after_commit(s: Session, provider: PaymentProvider | None, refund_no: str) -> None:
    """Send a prepay refund to WeChat once the caller's transaction commits; with no app or no
    merchant here, or if sending fails, the refund job sends it."""
    try:
        provider = provider or _provider_here()
    except Exception:
        return
    bind = s.get_bind()

    def _send(_session: Session) -> None:
        try:
            submit_refund(sessionmaker(bind).begin, provider, refund_no)
        except Exception:
            log.exception("prepay refund %s: sending failed; the refund job retries", refund_no)

    event.listen(s, "after_commit", _send, once=True)


# --- views --------------------------------------------------------------------------------------
def wallet_view(s: Session, driver_id: int) -> dict[str, Any]:
    b = ledger.balances(s, str(driver_id))
    return {"balance_fen": b.available, "cash_fen": b.cash, "bonus_fen": b.bonus, "held_fen": b.held,
            "debt_fen": b.debt,
            "refundable_fen": splitting.refundable(cash_after_debt(b), _remainders(s, driver_id, False))}


STATEMENT_KINDS = {"top_up": "recharge", "bonus": "bonus", "collect_debt": "debt_paid", "hold": "hold",
                   "settle": "charge", "release": "release", "refund": "refund", "refund_failed": "refund_returned",
                   "refund_paid_late": "refund_taken_back"}


def statement_view(s: Session, driver_id: int, limit: int = 50, before: int | None = None) -> list[dict[str, Any]]:
    """The driver's ledger entries, newest first, whole transactions per page (`before`: the
    `id` of the oldest entry seen)."""
    lines = ledger.statement(s, str(driver_id), limit=limit + 16, before_txn=before)
    if len(lines) > limit:
        cut = lines[limit - 1].txn_id
        if lines[limit].txn_id != cut:
            lines = lines[:limit]
        else:  # the page would end inside a transaction: end it before (or, alone, after) it
            whole = [ln for ln in lines[:limit] if ln.txn_id != cut]
            lines = whole or [ln for ln in lines if ln.txn_id == cut]
    out = []
    for ln in lines:
        ref = ln.key.split(":", 1)[1] if ln.key.startswith(("pay:", "refund:")) else None
        out.append({"id": ln.txn_id, "ts": ln.created_at, "kind": STATEMENT_KINDS.get(ln.kind, ln.kind),
                    "account": ln.account, "amount_fen": int(ln.amount),
                    "balance_after_fen": int(ln.balance_after),  # a Decimal from PostgreSQL's SUM
                    "order_id": ln.order_id, "memo": ref})
    return out



# --- the console (operators; plain functions, `sids` None: every station) -----------------------
ORDER_REFUND_ROUTES = ("balance", "original")


@dataclass(frozen=True)
class OrderRefundParts:
    """Where an order refund's money went on the driver's side, in fen."""

    bonus: int  # back as bonus credit (never refundable)
    cash: int  # back as cash
    debt: int  # paid what the driver owed


def order_refund_parts(posting: ledger.Posting, driver_id: str) -> OrderRefundParts:
    def on(kind: ledger.Kind) -> int:
        return posting.amount_on(ledger.driver_code(driver_id, kind))

    return OrderRefundParts(bonus=on(ledger.Kind.BONUS), cash=on(ledger.Kind.CASH),
                            debt=on(ledger.Kind.DEBT) + on(ledger.Kind.DEBT_CASH))


def refund_order(s: Session, order_id: str, lines: Mapping[str, int], *, route: str, key: str,
                 memo: Mapping[str, Any] | None = None,
                 now: int | None = None) -> tuple[ledger.Posting, WalletRefund | None]:
    """An operator's refund of part of a settled order (an adjustment of its bill): the fee
    lines' amounts go back to the driver's balance as what paid them (bonus credit for the part
    the order took from bonus, bonus first; cash for the rest: ledger.refund_order);
    `route="original"` then sends the cash part, and only it, on to where the driver's money
    came from (a balance refund split across the paid top-ups, submitted after the commit by
    `submit_refund` or the refund job): bonus never goes to WeChat, it stays as bonus. A route
    with nothing to send (all of it bonus) sends nothing; NothingToRefund if no part of it
    reached the balance (it all paid the driver's debt) or the driver has no payment to refund
    to. The caller commits. The same `key` again changes nothing (the posting comes back
    `replayed`, no refund)."""
    if route not in ORDER_REFUND_ROUTES:
        raise InvalidField(f"route must be one of {', '.join(ORDER_REFUND_ROUTES)}", field="route")
    order = s.get(Order, order_id)
    if order is None or order.state != "settled":
        raise NotFound(f"no settled order {order_id!r}")
    posting = ledger.refund_order(s, order_id, lines, key, memo=memo)
    if not posting.replayed:
        # a shared pile's order: the owner's part of the refund taken back (docs/sharing.md)
        sharing.claw_back(s, order_id, key, sum(lines.values()), now=now)
    if route == "balance" or posting.replayed:
        return posting, None
    # only what reached the cash goes on: a bonus part stays bonus, a part may have paid debt
    parts = order_refund_parts(posting, order.driver_id)
    if parts.cash == 0 and parts.bonus > 0:
        return posting, None
    if parts.cash == 0 or not order.driver_id.isdigit():
        raise NothingToRefund("this driver paid through no payment that can take a refund")
    return posting, request_refund(s, int(order.driver_id), parts.cash, now)


@dataclass(frozen=True)
class ConsolePage:
    rows: list[Any]
    page: int
    pages: int


def _console_page(s: Session, q: Any, page: int, per: int) -> ConsolePage:
    total = s.scalar(select(func.count()).select_from(q.order_by(None).subquery())) or 0
    pages = max(1, -(-total // per))
    page = min(max(1, page), pages)
    return ConsolePage(list(s.scalars(q.limit(per).offset((page - 1) * per))), page, pages)


def payment_page(s: Session, *, sids: set[str] | None, purpose: str | None = None, page: int = 1,
                 per: int = 50) -> ConsolePage:
    """Recharges and session prepayments, newest first. A recharge belongs to no station: a
    scoped caller (a station owner) sees only prepayments of its stations' orders."""
    q = select(WalletPayment).order_by(WalletPayment.id.desc())
    if purpose:
        q = q.where(WalletPayment.purpose == purpose)
    if sids is not None:
        q = q.join(Order, Order.order_id == WalletPayment.order_id).where(Order.sid.in_(sids))
    return _console_page(s, q, page, per)


def refund_page(s: Session, *, sids: set[str] | None, page: int = 1, per: int = 50) -> ConsolePage:
    """Balance and prepayment refunds, newest first; a scoped caller sees none (a refund is
    the driver's, of no station)."""
    q = select(WalletRefund).order_by(WalletRefund.id.desc())
    if sids is not None:
        q = q.where(WalletRefund.id.is_(None))
    return _console_page(s, q, page, per)
