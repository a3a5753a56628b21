"""A pile owner's withdrawal of earnings to their WeChat change (商家转账), through the
payment provider's `TransferProvider` (docs/sharing.md).

    password — the owner's payment password, when they set one (the wallet's, checked under
               its lockout by cloud.drivers.service), before anything is held;
    request  — the owner asks for at most their earnings: the amount moves to
               `owner_withdrawing` in the ledger (held), a row with a fresh out_bill_no;
    send     — the transfer asked of the provider with that out_bill_no (outside any database
               transaction); its answer applied: SUCCESS → paid (withdrawing → the provider's
               clearing account), FAIL/CANCELLED or a refusal of the request → released
               (withdrawing → earnings), anything else → sending (`follow` queries it);
    follow   — the provider asked about a sending or unanswered withdrawal, the answer applied;
    notified — the provider's signed callback of the transfer's final state, applied as `follow`
               applies the same state (`handle_transfer_notification`).

One out_bill_no per withdrawal and the ledger's keys per outcome: however often send/follow
run, at the same time or after a crash, the money leaves once and is booked once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db import take_write_lock
from cloud.drivers import lockout
from cloud.drivers import service as drivers
from cloud.drivers.models import PaymentPassword
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.ledger.errors import InsufficientFunds
from cloud.models.base import now_ms
from cloud.payments.errors import (
    AmountMismatch,
    DecryptionFailed,
    InvalidPaymentRequest,
    NotificationInvalid,
    PaymentError,
    ProviderError,
    SignatureInvalid,
)
from cloud.payments.provider import (
    NotificationReply,
    Transfer,
    TransferProvider,
    TransferRequest,
    TransferState,
)
from cloud.sharing.models import Withdrawal
from cloud.sharing.service import SharingError

log = logging.getLogger(__name__)
Transactions = Callable[[], AbstractContextManager[Session]]
FINAL = ("paid", "released")
MAX_FEN = (
    20_000 * 100
)  # WeChat asks for the payee's real name from 2,000 yuan on: withdraw less at a time
REMARK = "充电桩共享收益提现"  # shown to the owner in WeChat (≤ 32 characters)
SCENE_REPORT = (("岗位类型", "充电桩共享桩主"), ("报酬说明", "共享充电桩的分成收益"))


def scene_id_of(settings: Mapping[str, Any]) -> str:
    return str(settings.get("SHARING_TRANSFER_SCENE_ID") or "1005")


def check_amount(amount_fen: Any) -> int:
    """A withdrawal's amount: whole fen, 1 fen to MAX_FEN; SharingError `invalid_amount`."""
    if (
        isinstance(amount_fen, bool)
        or not isinstance(amount_fen, int)
        or not 1 <= amount_fen <= MAX_FEN
    ):
        raise SharingError("invalid_amount", f"amount_fen: 1..{MAX_FEN} fen")
    return amount_fen


def check_password(
    transactions: Transactions,
    owner_id: int,
    payment_password: Any,
    policy: lockout.Policy,
    now: int,
) -> None:
    """The payment password a withdrawal needs when the owner set one, as a wallet start or
    refund does: SharingError `payment_password_required` when it is missing; a wrong,
    malformed or locked one raises the drivers' errors (`payment_password_wrong` with the
    attempts left, `payment_password_locked`, `payment_password_format`) through
    `drivers.verify_payment_password`, which counts the attempt under the lockout. Returns
    when none is set or the password is right; nothing is held or moved either way."""
    with transactions() as s:
        has_password = s.get(PaymentPassword, owner_id) is not None
    if not has_password:
        return
    if payment_password is None:
        raise SharingError("payment_password_required", "a payment password is set: send it")
    drivers.verify_payment_password(transactions, owner_id, payment_password, policy, now)


def request(
    s: Session, owner_id: str, amount_fen: Any, openid: str, *, now: int | None = None
) -> Withdrawal:
    """Hold `amount_fen` of the owner's earnings for a withdrawal to `openid`. SharingError
    `invalid_amount` or `insufficient_earnings` (nothing moved). The payment password, if the
    owner has one, is checked before (`check_password`)."""
    amount_fen = check_amount(amount_fen)
    if not isinstance(openid, str) or not openid:
        raise SharingError("no_openid", "the owner has no WeChat openid to receive the transfer")
    no = "W" + secrets.token_hex(15)  # 31 letters and digits: WeChat's out_bill_no rule
    try:
        posting = ledger.post_owner(
            s,
            f"owner-withdraw:{no}",
            "owner_withdraw",
            owner_id,
            {Kind.OWNER_EARNINGS: -amount_fen, Kind.OWNER_WITHDRAWING: amount_fen},
        )
    except InsufficientFunds:
        raise SharingError(
            "insufficient_earnings", "the amount is more than the earnings"
        ) from None
    t = now_ms() if now is None else now
    w = Withdrawal(
        owner_id=owner_id,
        amount_fen=amount_fen,
        out_bill_no=no,
        openid=openid,
        state="held",
        created_at=t,
        updated_at=t,
    )
    s.add(w)
    s.flush()
    log.info(
        "withdrawal %s of %s: %d fen held (txn %s)", w.id, owner_id, amount_fen, posting.txn_id
    )
    return w


def _lock(s: Session, withdrawal_id: int) -> Withdrawal:
    take_write_lock(s)
    w = s.scalar(select(Withdrawal).where(Withdrawal.id == withdrawal_id).with_for_update())
    if w is None:
        raise SharingError("withdrawal_not_found", f"no withdrawal {withdrawal_id}")
    return w


def _finish(s: Session, w: Withdrawal, state: str, why: str | None = None) -> None:
    legs = (
        {Kind.OWNER_WITHDRAWING: -w.amount_fen, Kind.CLEARING: w.amount_fen}
        if state == "paid"
        else {Kind.OWNER_WITHDRAWING: -w.amount_fen, Kind.OWNER_EARNINGS: w.amount_fen}
    )
    ledger.post_owner(
        s, f"owner-withdraw-{state}:{w.out_bill_no}", f"owner_withdraw_{state}", w.owner_id, legs
    )
    w.state, w.failure, w.updated_at = state, (why or None) and why[:200], now_ms()
    w.package_info = None  # a final bill can no longer be confirmed by the payee


def apply(s: Session, withdrawal_id: int, t: Transfer) -> Withdrawal:
    """The provider's answer about the transfer, applied once (a final withdrawal stays)."""
    return _apply_locked(s, _lock(s, withdrawal_id), t)


def _apply_locked(s: Session, w: Withdrawal, t: Transfer) -> Withdrawal:
    if w.state in FINAL:
        return w
    if t.amount_fen is not None and t.amount_fen != w.amount_fen:
        # never book what the provider did not confirm: left for an operator, money held
        log.error("withdrawal %s: provider says %s fen, asked %s", w.id, t.amount_fen, w.amount_fen)
        w.failure = f"amount mismatch: provider {t.amount_fen} fen"
        return w
    w.transfer_bill_no = t.transfer_bill_no
    if t.state is TransferState.SUCCESS:
        _finish(s, w, "paid")
    elif t.state in (TransferState.FAIL, TransferState.CANCELLED):
        _finish(s, w, "released", t.fail_reason or t.state.value)
    else:
        w.state, w.package_info, w.updated_at = "sending", t.package_info, now_ms()
    s.flush()
    return w


def _release_refused(transactions: Transactions, withdrawal_id: int, why: str) -> None:
    with transactions() as s:
        w = _lock(s, withdrawal_id)
        if w.state not in FINAL:
            _finish(s, w, "released", why)


def send(
    transactions: Transactions, provider: TransferProvider, withdrawal_id: int, *, scene_id: str
) -> dict[str, Any]:
    """Ask the provider for the transfer and apply the answer; the withdrawal's view. An
    unknown outcome (no answer, an unverifiable one) leaves it as it was, to send again."""
    with transactions() as s:
        w = s.get(Withdrawal, withdrawal_id)
        if w is None:
            raise SharingError("withdrawal_not_found", f"no withdrawal {withdrawal_id}")
        if w.state in FINAL:
            return view(w)
        req = TransferRequest(
            out_bill_no=w.out_bill_no,
            openid=w.openid,
            amount_fen=w.amount_fen,
            remark=REMARK,
            scene_id=scene_id,
            scene_report=SCENE_REPORT,
        )
    try:
        t = provider.transfer(req)
    except InvalidPaymentRequest as e:  # refused before sending: nothing left us
        _release_refused(transactions, withdrawal_id, f"invalid: {e}")
        return _view(transactions, withdrawal_id)
    except ProviderError as e:
        # WeChat asks to learn what became of the number before giving up on it
        log.warning(
            "withdrawal %s: transfer refused (%s); asking what became of it", withdrawal_id, e.code
        )
        return follow(transactions, provider, withdrawal_id, refused=f"{e.code}: {e.message}")
    except PaymentError as e:
        log.warning(
            "withdrawal %s: no usable answer (%s); unchanged, to send again", withdrawal_id, e.code
        )
        return _view(transactions, withdrawal_id)
    with transactions() as s:
        return view(apply(s, withdrawal_id, t))


def follow(
    transactions: Transactions,
    provider: TransferProvider,
    withdrawal_id: int,
    *,
    refused: str | None = None,
) -> dict[str, Any]:
    """Query the provider about the withdrawal's transfer and apply the answer. A bill the
    provider does not know after it refused the request (`refused`) is released."""
    with transactions() as s:
        w = s.get(Withdrawal, withdrawal_id)
        if w is None:
            raise SharingError("withdrawal_not_found", f"no withdrawal {withdrawal_id}")
        if w.state in FINAL:
            return view(w)
        no = w.out_bill_no
    try:
        t = provider.query_transfer(no)
    except ProviderError as e:
        if e.status == 404 and refused is not None:
            _release_refused(transactions, withdrawal_id, refused)
        return _view(transactions, withdrawal_id)
    except PaymentError:
        return _view(transactions, withdrawal_id)
    with transactions() as s:
        return view(apply(s, withdrawal_id, t))


class UnknownBill(SharingError):
    def __init__(self, out_bill_no: str) -> None:
        super().__init__("withdrawal_not_found", f"no withdrawal with out_bill_no {out_bill_no!r}")


def apply_notified(s: Session, t: Transfer) -> Withdrawal:
    """A transfer's final state from the provider's verified callback, applied as `follow`
    applies the same state: SUCCESS → paid, FAIL/CANCELLED → released; once (the row is
    locked, a final one stays). Raises UnknownBill for a bill that is none of ours and
    AmountMismatch when its amount, bill number or payee is not the withdrawal's — nothing
    is booked then (the provider retries; an operator reads the log)."""
    take_write_lock(s)  # SQLite: before the first read, or a reader cannot become the writer
    wid = s.scalar(select(Withdrawal.id).where(Withdrawal.out_bill_no == t.out_bill_no))
    if wid is None:
        raise UnknownBill(t.out_bill_no)
    w = _lock(s, wid)
    if t.amount_fen != w.amount_fen:
        raise AmountMismatch(
            f"withdrawal {w.id}", w.amount_fen, -1 if t.amount_fen is None else t.amount_fen
        )
    if (w.transfer_bill_no and t.transfer_bill_no != w.transfer_bill_no) or (
        t.openid is not None and t.openid != w.openid
    ):
        raise NotificationInvalid(
            f"withdrawal {w.id}: the notification names bill {t.transfer_bill_no} for another "
            "payee or another bill than ours"
        )
    if w.state in FINAL:
        if (w.state == "paid") != (t.state is TransferState.SUCCESS):
            # a final outcome is never undone: only an operator can sort this out
            log.error(
                "withdrawal %s is %s but a notification says %s; left as it is",
                w.id,
                w.state,
                t.state.value,
            )
        return w
    return _apply_locked(s, w, t)


def _refused(provider: TransferProvider, status: int, message: str) -> NotificationReply:
    fail = provider.notification_reply(False, message)
    return NotificationReply(status, fail.body, fail.content_type)


def handle_transfer_notification(
    transactions: Transactions,
    provider: TransferProvider,
    headers: Mapping[str, str],
    body: bytes,
) -> NotificationReply:
    """The transfer's result callback (商家转账回调通知): verified, decrypted, applied once;
    the answer for the provider. Anything refused books nothing, is logged, and is answered
    4xx/5xx with {"code": "FAIL", "message"} (the provider retries those): 401 signature
    (forged, tampered, stale, replayed, a probe), 400 content (undecryptable, another
    merchant, not a final state, the amount, bill or payee not the withdrawal's), 404 a bill
    that is not ours, 500 our failure. Handled, a duplicate too: 204. Only the database is
    written, well within the provider's 5 s."""
    try:
        notice = provider.parse_transfer_notification(headers, body)
    except SignatureInvalid as e:
        return _refused(provider, 401, f"signature refused: {e.code}")
    except (DecryptionFailed, NotificationInvalid) as e:
        return _refused(provider, 400, f"notification refused: {e.code}")
    t = notice.transfer
    try:
        with transactions() as s:
            w = apply_notified(s, t)
            wid, state = w.id, w.state
    except UnknownBill:
        log.warning(
            "transfer notification %s for unknown out_bill_no %r: nothing booked",
            notice.id,
            t.out_bill_no,
        )
        return _refused(provider, 404, "unknown out_bill_no")
    except (AmountMismatch, NotificationInvalid) as e:
        log.error("transfer notification %s refused: %s; nothing booked", notice.id, e)
        return _refused(provider, 400, "the transfer does not match the withdrawal")
    except Exception:
        log.exception(
            "transfer notification %s for %s failed; the provider retries", notice.id, t.out_bill_no
        )
        return _refused(provider, 500, "internal error, retry")
    log.info(
        "withdrawal %s: notified %s, now %s (notification %s)", wid, t.state.value, state, notice.id
    )
    return provider.notification_reply(True)


RESEND_AFTER_MS = 60_000  # a held withdrawal this old got no usable answer when it was sent


def follow_due(
    transactions: Transactions,
    provider: TransferProvider,
    *,
    scene_id: str,
    now: int | None = None,
    resend_after_ms: int = RESEND_AFTER_MS,
    limit: int = 100,
) -> int:
    """The job's round (cloud/jobs/sharing.py): every `sending` withdrawal asked of the
    provider (SUCCESS → paid; FAIL, CANCELLED → released, the money back in the earnings) and
    every `held` one older than `resend_after_ms` sent again with its own out_bill_no (its
    first send got no usable answer). Any number of rounds may run at once: `apply` locks the
    row and books each outcome under its ledger key. Returns how many reached a final state."""
    t = now_ms() if now is None else now
    with transactions() as s:
        sending = list(
            s.scalars(
                select(Withdrawal.id)
                .where(Withdrawal.state == "sending")
                .order_by(Withdrawal.updated_at, Withdrawal.id)
                .limit(limit)
            )
        )
        held = list(
            s.scalars(
                select(Withdrawal.id)
                .where(Withdrawal.state == "held", Withdrawal.updated_at <= t - resend_after_ms)
                .order_by(Withdrawal.id)
                .limit(limit)
            )
        )
    done = 0
    for wid in sending:
        done += follow(transactions, provider, wid)["state"] in FINAL
    for wid in held:
        done += send(transactions, provider, wid, scene_id=scene_id)["state"] in FINAL
    return done


def _view(transactions: Transactions, withdrawal_id: int) -> dict[str, Any]:
    with transactions() as s:
        return view(s.get_one(Withdrawal, withdrawal_id))


def view(w: Withdrawal) -> dict[str, Any]:
    return {
        "withdrawal_id": w.id,
        "amount_fen": w.amount_fen,
        "state": w.state,
        "out_bill_no": w.out_bill_no,
        "package_info": w.package_info if w.state == "sending" else None,
        "failure": w.failure,
        "created_at": w.created_at,
        "updated_at": w.updated_at,
    }


def with_confirmation(v: dict[str, Any], provider: TransferProvider | None) -> dict[str, Any]:
    """A withdrawal's view with `confirm_params`: while WeChat waits for the payee
    (`sending` with a package_info), what wx.requestMerchantTransfer takes from the provider
    that made the transfer; None otherwise (or without a merchant to name)."""
    package = v.get("package_info")
    return {
        **v,
        "confirm_params": provider.confirm_params(package)
        if package and provider is not None
        else None,
    }


def own(s: Session, owner_id: str, withdrawal_id: int) -> Withdrawal:
    """The owner's withdrawal; another's answers as a missing one (`withdrawal_not_found`)."""
    w = s.get(Withdrawal, withdrawal_id)
    if w is None or w.owner_id != owner_id:
        raise SharingError("withdrawal_not_found", f"no withdrawal {withdrawal_id}")
    return w


def of_owner(s: Session, owner_id: str, *, limit: int = 50) -> list[Withdrawal]:
    return list(
        s.scalars(
            select(Withdrawal)
            .where(Withdrawal.owner_id == owner_id)
            .order_by(Withdrawal.created_at.desc(), Withdrawal.id.desc())
            .limit(limit)
        )
    )


def listing(s: Session, *, limit: int = 200) -> list[Withdrawal]:
    return list(s.scalars(select(Withdrawal).order_by(Withdrawal.id.desc()).limit(limit)))
