"""The payment-provider interface: what the wallet, orders and jobs ask of any provider.

Money is integer fen everywhere. A second provider implements `PaymentProvider` (plain methods,
these dataclasses, the errors of `cloud.payments.errors`) and is chosen in `cloud.payments`'s
`PROVIDERS` table; nothing else in the cloud names WeChat Pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from cloud.payments.errors import AmountMismatch


@dataclass(frozen=True)
class NewOrder:
    """A payment to create (a wallet top-up or one session's prepayment)."""

    out_trade_no: str
    description: str
    total_fen: int
    payer_openid: str
    time_expire: datetime | None = None  # timezone-aware; None: the provider's default (2 h)
    attach: str | None = None  # returned untouched in query and notification
    notify_url: str | None = None  # None: the provider's configured payment notify URL
    # the app the payer's openid belongs to: None is the provider's own (the mini-program's);
    # the H5 app inside WeChat's browser pays under the official account's appid and openid
    appid: str | None = None


@dataclass(frozen=True)
class H5Payment:
    """A payment opened for a phone browser outside WeChat: the browser goes to `h5_url`
    (WeChat's cashier, which then opens WeChat to pay) and comes back to the merchant's page."""

    h5_url: str

    def with_redirect(self, redirect_url: str) -> str:
        """h5_url with WeChat's `redirect_url` parameter: where the browser returns after paying."""
        from urllib.parse import quote

        sep = "&" if "?" in self.h5_url else "?"
        return f"{self.h5_url}{sep}redirect_url={quote(redirect_url, safe='')}"


@dataclass(frozen=True)
class PayParams:
    """What the mini-program hands to `wx.requestPayment`, signed by us."""

    app_id: str
    time_stamp: str
    nonce_str: str
    package: str  # "prepay_id=…"
    sign_type: str
    pay_sign: str

    @property
    def prepay_id(self) -> str:
        return self.package.removeprefix("prepay_id=")

    def for_request_payment(self) -> dict[str, str]:
        """The object for wx.requestPayment (appId too, which JSAPI in a web view needs)."""
        return {
            "appId": self.app_id,
            "timeStamp": self.time_stamp,
            "nonceStr": self.nonce_str,
            "package": self.package,
            "signType": self.sign_type,
            "paySign": self.pay_sign,
        }


class TradeState(StrEnum):
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"  # paid, then (partly) refunded
    NOTPAY = "NOTPAY"
    CLOSED = "CLOSED"
    REVOKED = "REVOKED"
    USERPAYING = "USERPAYING"
    PAYERROR = "PAYERROR"


@dataclass(frozen=True)
class Transaction:
    out_trade_no: str
    trade_state: TradeState
    total_fen: int | None  # what the order was for; None only where the provider omits it
    payer_total_fen: int | None = None  # what the payer paid (total minus coupons)
    currency: str = "CNY"
    transaction_id: str | None = None
    payer_openid: str | None = None
    success_time: datetime | None = None
    trade_state_desc: str = ""
    attach: str | None = None

    @property
    def paid(self) -> bool:
        """Money arrived (a later refund does not undo that the payment happened)."""
        return self.trade_state in (TradeState.SUCCESS, TradeState.REFUND)

    def expect_total(self, total_fen: int) -> None:
        """Raise AmountMismatch unless the provider's total is exactly the order's."""
        if self.total_fen != total_fen:
            raise AmountMismatch(
                f"order {self.out_trade_no}",
                total_fen,
                -1 if self.total_fen is None else self.total_fen,
            )


@dataclass(frozen=True)
class RefundRequest:
    """One refund part. The same `out_refund_no` refunds at most once, however often it is sent."""

    out_refund_no: str
    out_trade_no: str
    refund_fen: int
    total_fen: int  # the original order's total
    reason: str | None = None
    notify_url: str | None = None  # None: the provider's configured refund notify URL


class RefundStatus(StrEnum):
    SUCCESS = "SUCCESS"
    CLOSED = "CLOSED"
    PROCESSING = "PROCESSING"
    ABNORMAL = "ABNORMAL"


@dataclass(frozen=True)
class Refund:
    out_refund_no: str
    out_trade_no: str
    refund_id: str
    status: RefundStatus
    refund_fen: int
    total_fen: int
    payer_refund_fen: int | None = None
    currency: str = "CNY"
    transaction_id: str | None = None
    success_time: datetime | None = None
    user_received_account: str = ""

    def expect_amounts(self, refund_fen: int, total_fen: int) -> None:
        if self.refund_fen != refund_fen:
            raise AmountMismatch(f"refund {self.out_refund_no}", refund_fen, self.refund_fen)
        if self.total_fen != total_fen:
            raise AmountMismatch(
                f"refund {self.out_refund_no} (order total)", total_fen, self.total_fen
            )


@dataclass(frozen=True)
class PaymentNotice:
    """A verified, decrypted payment notification."""

    id: str  # the provider's notification id; the same on every retry of one notification
    event_type: str
    create_time: datetime | None
    transaction: Transaction


@dataclass(frozen=True)
class RefundNotice:
    id: str
    event_type: str  # REFUND.SUCCESS / REFUND.ABNORMAL / REFUND.CLOSED
    create_time: datetime | None
    refund: Refund


@dataclass(frozen=True)
class NotificationReply:
    """What the callback endpoint answers the provider (status, body, content type)."""

    status: int
    body: bytes
    content_type: str = "application/json"


@runtime_checkable
class PaymentProvider(Protocol):
    """Everything the cloud asks of a payment provider. Calls are blocking and thread-safe."""

    name: str

    def create_jsapi_order(self, order: NewOrder) -> PayParams:
        """Create (or, same parameters again, re-fetch) a payment; the signed wx.requestPayment
        parameters. Raises InvalidPaymentRequest before sending anything invalid."""
        ...

    def create_h5_order(self, order: NewOrder, payer_client_ip: str) -> H5Payment:
        """A payment for a phone browser outside WeChat (WeChat Pay "H5"); `order.payer_openid`
        is not used (the payer is whoever pays at the cashier). Raises InvalidPaymentRequest
        before sending anything invalid."""
        ...

    def query_order(self, out_trade_no: str) -> Transaction: ...

    def close_order(self, out_trade_no: str) -> None: ...

    def refund(self, request: RefundRequest) -> Refund:
        """Refund once per out_refund_no: sending the same request again returns the same refund."""
        ...

    def query_refund(self, out_refund_no: str) -> Refund: ...

    def parse_payment_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        """Verify (signature, age, replay) and decrypt; raise SignatureInvalid, DecryptionFailed
        or NotificationInvalid. The caller still checks the amount against its order."""
        ...

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotice: ...

    def notification_reply(self, ok: bool, message: str = "") -> NotificationReply:
        """The answer that tells the provider the notification was handled (or to retry)."""
        ...


# --- transfers to a user (商家转账): a pile owner's withdrawal (docs/sharing.md) -------------
@dataclass(frozen=True)
class TransferRequest:
    """Money to a user's WeChat change. The same `out_bill_no` transfers at most once."""

    out_bill_no: str  # 1-32 letters and digits, unique per merchant
    openid: str  # the payee under our appid
    amount_fen: int
    remark: str  # shown to the payee, at most 32 characters
    scene_id: str  # the transfer scene the merchant was granted (e.g. 1005 佣金报酬)
    scene_report: tuple[tuple[str, str], ...]  # (info_type, info_content) the scene requires
    notify_url: str | None = None  # None: the provider's configured transfer notify URL, if any


class TransferState(StrEnum):
    ACCEPTED = "ACCEPTED"
    PROCESSING = "PROCESSING"
    WAIT_USER_CONFIRM = "WAIT_USER_CONFIRM"  # the payee confirms in WeChat (package_info)
    TRANSFERING = "TRANSFERING"  # (WeChat's spelling)
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    CANCELING = "CANCELING"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in (TransferState.SUCCESS, TransferState.FAIL, TransferState.CANCELLED)


@dataclass(frozen=True)
class Transfer:
    out_bill_no: str
    transfer_bill_no: str
    state: TransferState
    amount_fen: int | None = None  # the query's answer carries it, the creation's not
    fail_reason: str = ""
    package_info: str | None = None  # for wx.requestMerchantTransfer while WAIT_USER_CONFIRM
    openid: str | None = None  # the payee, where the answer names them (query, notification)


@dataclass(frozen=True)
class TransferNotice:
    """A verified, decrypted notification that a transfer reached its final state."""

    id: str  # the provider's notification id; the same on every retry of one notification
    event_type: str
    create_time: datetime | None
    transfer: Transfer  # final state, amount_fen always set


@runtime_checkable
class TransferProvider(Protocol):
    """Transfers to a user, apart from PaymentProvider so that a provider without them still
    is one. Calls are blocking and thread-safe."""

    def transfer(self, request: TransferRequest) -> Transfer:
        """Create the transfer once per out_bill_no: the same request again answers the same bill."""
        ...

    def query_transfer(self, out_bill_no: str) -> Transfer: ...

    def confirm_params(self, package_info: str) -> dict[str, str]:
        """What the payee's WeChat needs to confirm a WAIT_USER_CONFIRM transfer
        (wx.requestMerchantTransfer's mchId, appId and package): the merchant and the appid
        the transfer was made under, and the bill's package_info."""
        ...

    def parse_transfer_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> TransferNotice:
        """Verify (signature, age, replay) and decrypt a transfer's final-state notification;
        raise SignatureInvalid, DecryptionFailed or NotificationInvalid. The caller still
        checks the bill and the amount against its withdrawal."""
        ...

    def notification_reply(self, ok: bool, message: str = "") -> NotificationReply:
        """The answer that tells the provider the notification was handled (or to retry)."""
        ...
