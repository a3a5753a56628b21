"""A fake WeChat Pay (API v3, public-key mode) that behaves like the real one at its edges.

JSAPI orders (the mini-program's appid, or the official account's with its openids) and H5
orders (scene_info checked; h5_url is this fake's H5 cashier page) are kept alike.

It checks OUR signature on every /v3 request (401 SIGN_ERROR otherwise), applies the field
rules WeChat documents, keeps orders and refunds (one refund per out_refund_no), signs every
answer with its own key (serial PUB_KEY_ID_… or a platform certificate's), and sends
AES-256-GCM-encrypted, signed notifications with WeChat's retry schedule. The HTTP routes are
in `cloud.fakes.http`; this module holds the state and rules and does no HTTP serving.

`faults` breaks the fake on purpose so tests can prove our client refuses what it must.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from cloud.fakes.notifier import Delivery, Notifier
from cloud.payments.errors import InvalidPaymentRequest
from cloud.payments.wechatpay import aead, signing, validate
from cloud.payments.wechatpay.verify import MAX_SKEW_S, PROBE_PREFIX

CHINA = timezone(timedelta(hours=8))


class FakeApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


@dataclass
class Faults:
    """Ways to misbehave, for tests of the client (all off by default)."""

    sign_with: RSAPrivateKey | None = None  # sign answers with another key ("wrong key")
    tamper_body: bool = False  # change one byte of the body after signing
    skew_s: int = 0  # move the answers' Wechatpay-Timestamp
    delay_s: float = 0.0  # answer this late (client timeouts)
    unsigned: bool = False  # omit the Wechatpay-* headers
    probe: bool = False  # a WECHATPAY/SIGNTEST/ signature, as WeChat's probes have
    serial: str | None = None  # claim another serial
    report_total_fen: int | None = None  # notifications and queries claim this amount
    fail_with: tuple[int, str] | None = None  # answer every /v3 call so, e.g. (500, "SYSTEM_ERROR")


@dataclass
class Order:
    appid: str
    out_trade_no: str
    description: str
    notify_url: str
    total: int
    openid: str
    prepay_id: str
    attach: str | None
    time_expire: datetime | None
    request: dict[str, Any]
    trade_state: str = "NOTPAY"
    trade_type: str = "JSAPI"  # or MWEB (an H5 payment: the payer is known once they pay)
    h5_package: str | None = None  # the `package` in an H5 order's h5_url
    payer_client_ip: str | None = None
    transaction_id: str | None = None
    success_time: datetime | None = None
    refunded: int = 0


@dataclass
class RefundRecord:
    out_refund_no: str
    refund_id: str
    order: Order
    amount: int
    reason: str | None
    notify_url: str
    request: dict[str, Any]
    create_time: datetime
    status: str = "PROCESSING"
    success_time: datetime | None = None


@dataclass
class TransferRecord:
    """A transfer bill (商家转账): money sent to `openid` once, whatever the retries."""

    out_bill_no: str
    transfer_bill_no: str
    openid: str
    amount: int
    request: dict[str, Any]
    create_time: datetime
    state: str
    fail_reason: str = ""
    # where the final state is reported (商家转账回调), if the request named one
    notify_url: str = ""
    update_time: datetime | None = None


TRANSFER_FINAL = ("SUCCESS", "FAIL", "CANCELLED")


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(CHINA).replace(microsecond=0).isoformat()


@dataclass
class FakeWechatPay:
    mchid: str
    appid: str
    merchant_serial_no: str
    merchant_public_key: RSAPublicKey  # checks our request signatures and paySign
    apiv3_key: bytes
    signing_key: RSAPrivateKey  # WeChat Pay's own key: signs answers and notifications
    signing_serial: str  # "PUB_KEY_ID_…" (public-key mode) or a platform certificate's serial
    clock: Callable[[], float] = time.time
    retry_scale: float = 1.0
    refund_delay_s: float = 0.0  # PROCESSING → final status after this long
    refund_outcome: str = "SUCCESS"  # what refunds end as (SUCCESS / ABNORMAL / CLOSED)
    notify_origin: str | None = None  # deliver to this scheme://host:port instead of notify_url's
    answer_within_s: float = (
        5.0  # WeChat's limit for the callback's answer; slower counts as failed
    )
    faults: Faults = field(default_factory=Faults)
    # what transfers end as: SUCCESS, FAIL (fail_reason), or WAIT_USER_CONFIRM (the payee
    # confirms with `confirm_transfer`); `transfer_pending` answers PROCESSING first, the
    # final state only to the next query
    transfer_outcome: str = "SUCCESS"
    transfer_pending: bool = False
    # the official account bound to this merchant (the H5 app pays under it); its JSAPI
    # orders must name an openid that account gave out, when `oa_openid_known` can tell
    oa_appid: str | None = None
    oa_openid_known: Callable[[str], bool] | None = None

    @property
    def appids(self) -> tuple[str, ...]:
        return (self.appid,) if not self.oa_appid else (self.appid, self.oa_appid)

    def __post_init__(self) -> None:
        self.orders: dict[str, Order] = {}
        self.transfers: dict[str, TransferRecord] = {}
        self.refunds: dict[str, RefundRecord] = {}
        self.requests_seen: list[tuple[str, str, int]] = []  # (method, path, status) per /v3 call
        self._nonces: dict[str, float] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self.notifier = Notifier(
            self.notification_headers,
            retry_scale=self.retry_scale,
            answer_within_s=self.answer_within_s,
        )

    @property
    def deliveries(self) -> list[Delivery]:
        return self.notifier.deliveries

    def start(self) -> FakeWechatPay:
        self.notifier.start()
        return self

    def stop(self) -> None:
        self.notifier.stop()

    # -- our signatures ----------------------------------------------------------------

    def check_request(
        self, method: str, path_query: str, body: bytes, authorization: str | None
    ) -> None:
        """401 SIGN_ERROR unless the request carries the merchant's valid signature."""
        if not authorization:
            raise FakeApiError(401, "SIGN_ERROR", "Authorization header is missing")
        try:
            auth = signing.parse_authorization(authorization)
        except ValueError as e:
            raise FakeApiError(401, "SIGN_ERROR", str(e)) from None
        if auth["mchid"] != self.mchid:
            raise FakeApiError(401, "SIGN_ERROR", f"unknown mchid {auth['mchid']!r}")
        if auth["serial_no"] != self.merchant_serial_no:
            raise FakeApiError(
                401,
                "SIGN_ERROR",
                f"serial_no {auth['serial_no']!r} is not the merchant certificate's serial",
            )
        try:
            ts = int(auth["timestamp"])
        except ValueError:
            raise FakeApiError(401, "SIGN_ERROR", "timestamp is not an integer") from None
        now = self.clock()
        if abs(now - ts) > MAX_SKEW_S:
            raise FakeApiError(401, "SIGN_ERROR", f"timestamp {ts} is more than 5 minutes off")
        msg = signing.request_message(method, path_query, ts, auth["nonce_str"], body)
        if not signing.verify(self.merchant_public_key, msg, auth["signature"]):
            raise FakeApiError(401, "SIGN_ERROR", "signature does not verify")
        with self._lock:
            for n in [n for n, exp in self._nonces.items() if exp < now]:
                del self._nonces[n]
            if auth["nonce_str"] in self._nonces:
                raise FakeApiError(401, "SIGN_ERROR", "nonce_str was used before")
            self._nonces[auth["nonce_str"]] = now + 2 * MAX_SKEW_S

    # -- our answers, signed ----------------------------------------------------------

    def sign_answer(self, body: bytes) -> tuple[bytes, dict[str, str]]:
        """The (possibly faulted) body and the Wechatpay-* headers for one answer."""
        f = self.faults
        ts = str(int(self.clock()) + f.skew_s)
        nonce = signing.new_nonce()
        key = f.sign_with or self.signing_key
        sig = signing.sign(key, signing.response_message(ts, nonce, body))
        if f.probe:
            sig = PROBE_PREFIX + sig
        if f.tamper_body:
            body = _flip_one_byte(body)
        headers = {"Request-ID": uuid.uuid4().hex}
        if not f.unsigned:
            headers.update(
                {
                    "Wechatpay-Timestamp": ts,
                    "Wechatpay-Nonce": nonce,
                    "Wechatpay-Signature": sig,
                    "Wechatpay-Serial": f.serial or self.signing_serial,
                    "Wechatpay-Signature-Type": signing.SCHEMA,
                }
            )
        return body, headers

    def notification_headers(self, body: bytes) -> dict[str, str]:
        # notifications carry no faulted body: the notifier signs each attempt afresh
        ts = str(int(self.clock()))
        nonce = signing.new_nonce()
        return {
            "Wechatpay-Timestamp": ts,
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": signing.sign(
                self.signing_key, signing.response_message(ts, nonce, body)
            ),
            "Wechatpay-Serial": self.signing_serial,
            "Wechatpay-Signature-Type": signing.SCHEMA,
        }

    # -- payments ---------------------------------------------------------------------

    def _checked_order(self, req: Mapping[str, Any], trade_type: str) -> Order:
        """The fields JSAPI and H5 orders share, checked as WeChat documents them."""
        if req.get("mchid") != self.mchid:
            raise FakeApiError(400, "PARAM_ERROR", "mchid in the body differs from the merchant's")
        if req.get("appid") not in self.appids:
            raise FakeApiError(400, "APPID_MCHID_NOT_MATCH", "appid is not bound to this mchid")
        amount = req.get("amount") if isinstance(req.get("amount"), dict) else {}
        with _param_errors():
            no = validate.out_trade_no(req.get("out_trade_no"))
            description = validate.text(req.get("description"), "description", 127)
            notify = validate.notify_url(req.get("notify_url"))
            total = validate.fen(amount.get("total"), "amount.total")
            attach = validate.text(req.get("attach"), "attach", 128, required=False)
            if amount.get("currency", "CNY") != "CNY":
                raise InvalidPaymentRequest("amount.currency", "only CNY")
            expire = None
            if req.get("time_expire") is not None:
                expire = validate.parse_rfc3339(req.get("time_expire"))
                if expire is None:
                    raise InvalidPaymentRequest("time_expire", "is not RFC 3339 with an offset")
        assert description is not None
        return Order(
            appid=str(req["appid"]),
            out_trade_no=no,
            description=description,
            notify_url=notify,
            total=total,
            openid="",
            prepay_id="wx" + secrets.token_hex(16),
            attach=attach,
            time_expire=expire,
            request=dict(req),
            trade_type=trade_type,
        )

    def _open(self, order: Order) -> Order:
        """Keep a new order, or answer the same one again (same out_trade_no and parameters)."""
        with self._lock:
            known = self.orders.get(order.out_trade_no)
            if known is not None:
                if known.trade_state in ("SUCCESS", "REFUND"):
                    raise FakeApiError(400, "ORDERPAID", "该订单已支付 (order already paid)")
                if known.trade_state == "CLOSED":
                    raise FakeApiError(400, "ORDER_CLOSED", "该订单已关闭 (order closed)")
                if known.request != order.request:
                    raise FakeApiError(
                        403,
                        "OUT_TRADE_NO_USED",
                        "商户订单号重复 (out_trade_no used with other parameters)",
                    )
                return known
            self.orders[order.out_trade_no] = order
            return order

    def create_jsapi(self, req: Mapping[str, Any]) -> dict[str, Any]:
        order = self._checked_order(req, "JSAPI")
        payer = req.get("payer") if isinstance(req.get("payer"), dict) else {}
        with _param_errors():
            order.openid = str(validate.text(payer.get("openid"), "payer.openid", 128))
        if (
            order.appid == self.oa_appid
            and self.oa_openid_known is not None
            and not self.oa_openid_known(order.openid)
        ):
            # an openid is per app: the mini-program's openid under the account's appid is refused
            raise FakeApiError(
                400,
                "PARAM_ERROR",
                "payer.openid is not an openid of this appid (openid和appid不匹配)",
            )
        return {"prepay_id": self._open(order).prepay_id}

    def create_h5(self, req: Mapping[str, Any], cashier_base: str) -> dict[str, Any]:
        """POST /v3/pay/transactions/h5: scene_info with the payer's IP and h5_info.type
        checked; the answer's h5_url is this fake's H5 cashier page (`cashier_base`)."""
        order = self._checked_order(req, "MWEB")
        if "payer" in req:
            raise FakeApiError(400, "PARAM_ERROR", "an H5 order has no payer")
        scene = req.get("scene_info") if isinstance(req.get("scene_info"), dict) else {}
        h5 = scene.get("h5_info") if isinstance(scene.get("h5_info"), dict) else {}
        with _param_errors():
            order.payer_client_ip = validate.client_ip(
                scene.get("payer_client_ip"), "scene_info.payer_client_ip"
            )
            if h5.get("type") not in validate.H5_TYPES:
                raise InvalidPaymentRequest(
                    "scene_info.h5_info.type", f"one of {', '.join(validate.H5_TYPES)}"
                )
        order.h5_package = str(next(self._ids) * 7919 % 10**10)
        order = self._open(order)
        query = urlencode({"prepay_id": order.prepay_id, "package": order.h5_package})
        return {"h5_url": f"{cashier_base.rstrip('/')}/fake/h5pay/checkmweb?{query}"}

    def check_h5_params(self, params: Mapping[str, str]) -> Order:
        """What WeChat's H5 cashier checks of its address: an H5 order's prepay_id and package."""
        order = self.order_by_prepay_id(params.get("prepay_id") or "")
        if order.trade_type != "MWEB" or params.get("package") != order.h5_package:
            raise FakeApiError(
                400, "PARAM_ERROR", "not this H5 payment's address (prepay_id, package)"
            )
        return order

    def _order(self, no: str) -> Order:
        order = self.orders.get(no)
        if order is None:
            raise FakeApiError(404, "ORDER_NOT_EXIST", "订单不存在 (no such order)")
        if (
            order.trade_state == "NOTPAY"
            and order.time_expire is not None
            and order.time_expire.timestamp() <= self.clock()
        ):
            order.trade_state = "CLOSED"
        return order

    def transaction(self, order: Order) -> dict[str, Any]:
        total = (
            self.faults.report_total_fen
            if self.faults.report_total_fen is not None
            else order.total
        )
        tx: dict[str, Any] = {
            "appid": order.appid,
            "mchid": self.mchid,
            "out_trade_no": order.out_trade_no,
            "trade_type": order.trade_type,
            "trade_state": order.trade_state,
            "trade_state_desc": {
                "SUCCESS": "支付成功",
                "REFUND": "转入退款",
                "NOTPAY": "未支付",
                "CLOSED": "已关闭",
            }.get(order.trade_state, order.trade_state),
            "payer": {"openid": order.openid} if order.openid else {},
            "amount": {"total": total, "currency": "CNY", "payer_currency": "CNY"},
        }
        if order.attach is not None:
            tx["attach"] = order.attach
        if order.transaction_id:
            tx.update(
                {
                    "transaction_id": order.transaction_id,
                    "bank_type": "OTHERS",
                    "success_time": rfc3339(order.success_time or datetime.now(UTC)),
                }
            )
            tx["amount"]["payer_total"] = total
        return tx

    def transactions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self.transaction(o) for o in self.orders.values()]

    def query(self, no: str, mchid: str | None) -> dict[str, Any]:
        if mchid != self.mchid:
            raise FakeApiError(
                400, "PARAM_ERROR", "query parameter mchid is missing or not the merchant's"
            )
        with self._lock:
            return self.transaction(self._order(no))

    def close(self, no: str, req: Mapping[str, Any]) -> None:
        if req.get("mchid") != self.mchid:
            raise FakeApiError(400, "PARAM_ERROR", "mchid in the body differs from the merchant's")
        with self._lock:
            order = self._order(no)
            if order.trade_state in ("SUCCESS", "REFUND"):
                raise FakeApiError(400, "ORDERPAID", "该订单已支付 (order already paid)")
            order.trade_state = "CLOSED"

    def order_by_prepay_id(self, prepay_id: str) -> Order:
        with self._lock:
            for order in self.orders.values():
                if order.prepay_id == prepay_id:
                    return self._order(order.out_trade_no)
        raise FakeApiError(404, "ORDER_NOT_EXIST", "no order with this prepay_id")

    def check_pay_params(self, params: Mapping[str, str]) -> Order:
        """What WeChat checks when the mini-program calls wx.requestPayment with our paySign."""
        need = ("timeStamp", "nonceStr", "package", "signType", "paySign")
        missing = [k for k in need if not params.get(k)]
        if missing:
            raise FakeApiError(400, "PARAM_ERROR", f"wx.requestPayment lacks {', '.join(missing)}")
        # wx.requestPayment takes no appId (the mini-program's); getBrandWCPayRequest in the
        # official account's pages must name the appid the order was made with
        app_id = params.get("appId") or self.appid
        if app_id not in self.appids:
            raise FakeApiError(400, "PARAM_ERROR", "appId is not bound to this merchant")
        if params["signType"] != "RSA":
            raise FakeApiError(400, "PARAM_ERROR", "signType must be RSA")
        msg = signing.pay_sign_message(
            app_id, params["timeStamp"], params["nonceStr"], params["package"]
        )
        if not signing.verify(self.merchant_public_key, msg, params["paySign"]):
            raise FakeApiError(401, "SIGN_ERROR", "paySign does not verify with the merchant's key")
        if not params["package"].startswith("prepay_id="):
            raise FakeApiError(400, "PARAM_ERROR", "package must be prepay_id=…")
        order = self.order_by_prepay_id(params["package"].removeprefix("prepay_id="))
        if order.trade_type != "JSAPI":
            raise FakeApiError(400, "PARAM_ERROR", "not a JSAPI order")
        if order.appid != app_id:
            raise FakeApiError(
                400, "PARAM_ERROR", f"appId {app_id} is not the order's appid {order.appid}"
            )
        return order

    def pay(self, out_trade_no: str) -> Order:
        """The payer confirms: the order is paid and its notification goes out."""
        with self._lock:
            order = self._order(out_trade_no)
            if order.trade_state != "NOTPAY":
                raise FakeApiError(400, "ORDER_NOT_PAYABLE", f"order is {order.trade_state}")
            order.trade_state = "SUCCESS"
            if not order.openid:  # an H5 payment: whoever paid, under the order's appid
                order.openid = "o" + secrets.token_urlsafe(20)
            order.transaction_id = (
                datetime.fromtimestamp(self.clock(), CHINA).strftime("4200%Y%m%d")
                + f"{next(self._ids):014d}"
            )
            order.success_time = datetime.fromtimestamp(self.clock(), UTC)
            content = self.transaction(order)
        self.notify(order.notify_url, "TRANSACTION.SUCCESS", "支付成功", "transaction", content)
        return order

    # -- refunds ----------------------------------------------------------------------

    def refund(self, req: Mapping[str, Any]) -> dict[str, Any]:
        amount = req.get("amount") if isinstance(req.get("amount"), dict) else {}
        with _param_errors():
            no = validate.out_trade_no(req.get("out_trade_no"))
            refund_no = validate.out_refund_no(req.get("out_refund_no"))
            value = validate.fen(amount.get("refund"), "amount.refund")
            total = validate.fen(amount.get("total"), "amount.total")
            notify = validate.notify_url(req.get("notify_url")) if req.get("notify_url") else ""
            reason = validate.text(req.get("reason"), "reason", 80, required=False)
            if amount.get("currency", "CNY") != "CNY":
                raise InvalidPaymentRequest("amount.currency", "only CNY")
        with self._lock:
            existing = self.refunds.get(refund_no)
            if existing is not None:
                if existing.request != dict(req):
                    raise FakeApiError(
                        400,
                        "INVALID_REQUEST",
                        "out_refund_no was used with other parameters (退款单号重复)",
                    )
                return self.refund_view(existing)
            if no not in self.orders:
                raise FakeApiError(404, "RESOURCE_NOT_EXISTS", "订单不存在 (no such order)")
            order = self._order(no)
            if order.trade_state not in ("SUCCESS", "REFUND"):
                raise FakeApiError(400, "INVALID_REQUEST", "order is not paid")
            if total != order.total:
                raise FakeApiError(400, "PARAM_ERROR", "amount.total is not the order's total")
            if order.refunded + value > order.total:
                raise FakeApiError(
                    400,
                    "INVALID_REQUEST",
                    "申请退款金额超过订单可退金额 (refund exceeds what is left of the order)",
                )
            order.refunded += value
            order.trade_state = "REFUND"
            rec = RefundRecord(
                out_refund_no=refund_no,
                refund_id="50" + f"{next(self._ids):030d}",
                order=order,
                amount=value,
                reason=reason,
                notify_url=notify,
                request=dict(req),
                create_time=datetime.fromtimestamp(self.clock(), UTC),
            )
            self.refunds[refund_no] = rec
            view = self.refund_view(rec)
        timer = threading.Timer(self.refund_delay_s, self.finish_refund, args=(refund_no,))
        timer.daemon = True
        timer.start()
        return view

    def finish_refund(self, out_refund_no: str) -> None:
        with self._lock:
            rec = self.refunds[out_refund_no]
            if rec.status != "PROCESSING":
                return
            rec.status = self.refund_outcome
            if rec.status == "SUCCESS":
                rec.success_time = datetime.fromtimestamp(self.clock(), UTC)
            else:
                rec.order.refunded -= rec.amount
            view = self.refund_view(rec, for_notification=True)
        if rec.notify_url:
            summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[
                rec.status
            ]
            self.notify(rec.notify_url, f"REFUND.{rec.status}", summary, "refund", view)

    def refund_view(self, rec: RefundRecord, *, for_notification: bool = False) -> dict[str, Any]:
        view: dict[str, Any] = {
            "mchid": self.mchid,
            "out_trade_no": rec.order.out_trade_no,
            "transaction_id": rec.order.transaction_id,
            "out_refund_no": rec.out_refund_no,
            "refund_id": rec.refund_id,
            "user_received_account": "支付用户零钱",
            "amount": {
                "total": rec.order.total,
                "refund": rec.amount,
                "payer_total": rec.order.total,
                "payer_refund": rec.amount,
            },
        }
        if rec.success_time:
            view["success_time"] = rfc3339(rec.success_time)
        if for_notification:
            view["refund_status"] = rec.status
        else:
            del view["mchid"]
            view.update(
                {
                    "channel": "ORIGINAL",
                    "status": rec.status,
                    "create_time": rfc3339(rec.create_time),
                    "funds_account": "AVAILABLE",
                }
            )
            view["amount"].update(
                {
                    "currency": "CNY",
                    "settlement_total": rec.order.total,
                    "settlement_refund": rec.amount,
                    "discount_refund": 0,
                }
            )
        return view

    def query_refund(self, out_refund_no: str) -> dict[str, Any]:
        with self._lock:
            rec = self.refunds.get(out_refund_no)
            if rec is None:
                raise FakeApiError(404, "RESOURCE_NOT_EXISTS", "退款单不存在 (no such refund)")
            return self.refund_view(rec)

    # -- notifications ----------------------------------------------------------------

    # -- transfers to a user (商家转账) -----------------------------------------------------

    def transfer(self, req: Mapping[str, Any]) -> dict[str, Any]:
        """POST /v3/fund-app/mch-transfer/transfer-bills: the documented field rules; the same
        out_bill_no again answers its bill (other parameters: refused), so money leaves once."""
        if req.get("appid") != self.appid:
            raise FakeApiError(400, "APPID_MCHID_NOT_MATCH", "appid is not bound to this mchid")
        infos = req.get("transfer_scene_report_infos")
        with _param_errors():
            no = validate.out_bill_no(req.get("out_bill_no"))
            validate.text(req.get("transfer_scene_id"), "transfer_scene_id", 36)
            openid = validate.text(req.get("openid"), "openid", 64)
            amount = validate.fen(req.get("transfer_amount"), "transfer_amount")
            validate.text(req.get("transfer_remark"), "transfer_remark", 32)
            notify = validate.notify_url(req.get("notify_url")) if "notify_url" in req else ""
            if (
                not isinstance(infos, list)
                or not infos
                or not all(
                    isinstance(i, dict) and set(i) == {"info_type", "info_content"} for i in infos
                )
            ):
                raise InvalidPaymentRequest(
                    "transfer_scene_report_infos", "a non-empty list of {info_type, info_content}"
                )
        with self._lock:
            rec = self.transfers.get(no)
            if rec is not None:
                if rec.request != dict(req):
                    raise FakeApiError(
                        400,
                        "PARAM_ERROR",
                        "out_bill_no was used with other parameters (商户单号重复)",
                    )
                return self.transfer_view(rec, query=False)
            final = self.transfer_outcome
            rec = TransferRecord(
                out_bill_no=no,
                transfer_bill_no="1330" + f"{next(self._ids):028d}",
                openid=str(openid),
                amount=amount,
                request=dict(req),
                create_time=datetime.fromtimestamp(self.clock(), UTC),
                state="PROCESSING" if self.transfer_pending else final,
                fail_reason="PAYEE_ACCOUNT_ABNORMAL" if final == "FAIL" else "",
                notify_url=notify,
            )
            self.transfers[no] = rec
            view = self.transfer_view(rec, query=False)
            if self.transfer_pending:
                rec.state = final  # the next query sees the outcome
        self._finished(rec)  # a final state is reported at once, the answer's or the next query's
        return view

    def confirm_transfer(self, out_bill_no: str) -> None:
        """The payee confirmed the transfer in WeChat."""
        with self._lock:
            rec = self.transfers[out_bill_no]
            if rec.state != "WAIT_USER_CONFIRM":
                return
            rec.state = "SUCCESS"
        self._finished(rec)

    def waiting_transfers(self) -> list[TransferRecord]:
        """The bills waiting for their payee's confirmation, oldest first."""
        with self._lock:
            return [r for r in self.transfers.values() if r.state == "WAIT_USER_CONFIRM"]

    def confirm_waiting(self, out_bill_no: str, openids: set[str]) -> TransferRecord:
        """The payee confirmed this bill (the demo's page): it must be waiting for them, and
        they must be its payee (one of `openids`: the person's openids under the fake's apps)."""
        with self._lock:
            rec = self.transfers.get(out_bill_no)
            if rec is None:
                raise FakeApiError(404, "NOT_FOUND", "商户单号不存在 (no such bill)")
            if rec.openid not in openids:
                raise FakeApiError(403, "NO_AUTH", "你的微信号与商家指定的微信号不一致 (not the payee)")
            if rec.state != "WAIT_USER_CONFIRM":
                raise FakeApiError(
                    400, "INVALID_REQUEST", f"the bill is {rec.state}, not waiting for its payee"
                )
        self.confirm_transfer(out_bill_no)
        return rec

    def confirm_by_package(
        self, params: Mapping[str, Any], payee_openid: str | None
    ) -> TransferRecord:
        """What WeChat does when the payee's wx.requestMerchantTransfer is called with `params`
        (mchId, appId, package): the merchant, the appid the transfer was made under and a bill
        still waiting for its payee, who must be the one whose WeChat asks (`payee_openid`, as
        the phone's logged-in user; openId, when sent, must name them too). The bill is then
        SUCCESS, which the bill query reports."""
        if params.get("mchId") != self.mchid:
            raise FakeApiError(
                400, "PARAM_ERROR", "mchId is not the merchant that made the transfer"
            )
        package = params.get("package")
        with self._lock:
            rec = next(
                (
                    r
                    for r in self.transfers.values()
                    if package and package == "fake-package-" + r.transfer_bill_no
                ),
                None,
            )
            if rec is None:
                raise FakeApiError(400, "PARAM_ERROR", "package names no transfer bill")
            if params.get("appId") != rec.request.get("appid"):
                raise FakeApiError(
                    400, "PARAM_ERROR", "appId is not the one the transfer was made under"
                )
            for who in (params.get("openId"), payee_openid):
                if who is not None and who != rec.openid:
                    raise FakeApiError(
                        403, "NO_AUTH", "你的微信号与商家指定的微信号不一致 (not the payee)"
                    )
            if rec.state != "WAIT_USER_CONFIRM":
                raise FakeApiError(
                    400, "INVALID_REQUEST", f"the bill is {rec.state}, not waiting for its payee"
                )
            rec.state = "SUCCESS"
        self._finished(rec)
        return rec

    def cancel_transfer(self, out_bill_no: str, reason: str = "MERCHANT_REVOCATION") -> None:
        """The transfer is not completed: WeChat cancels a bill the payee did not confirm in
        time (24 hours), or the merchant revoked it. A final bill stays as it is."""
        with self._lock:
            rec = self.transfers[out_bill_no]
            if rec.state in TRANSFER_FINAL:
                return
            rec.state, rec.fail_reason = "CANCELLED", reason
        self._finished(rec)

    def transfer_notification(self, rec: TransferRecord) -> dict[str, Any]:
        """The decrypted content of the bill's MCHTRANSFER.BILL.FINISHED notification."""
        content: dict[str, Any] = {
            "mchid": self.mchid,
            "out_bill_no": rec.out_bill_no,
            "transfer_bill_no": rec.transfer_bill_no,
            "state": rec.state,
            "transfer_amount": rec.amount,
            "openid": rec.openid,
            "create_time": rfc3339(rec.create_time),
            "update_time": rfc3339(rec.update_time or rec.create_time),
        }
        if rec.fail_reason:
            content["fail_reason"] = rec.fail_reason
        return content

    def _finished(self, rec: TransferRecord) -> None:
        """A bill that reached its final state: signed, encrypted notification to its
        notify_url (商家转账回调通知), retried on WeChat's schedule; once per bill."""
        with self._lock:
            if rec.state not in TRANSFER_FINAL or rec.update_time is not None:
                return
            rec.update_time = datetime.fromtimestamp(self.clock(), UTC)
            content = self.transfer_notification(rec)
        if rec.notify_url:
            self.notify(
                rec.notify_url,
                "MCHTRANSFER.BILL.FINISHED",
                "商家转账单据终态通知",
                "mch_payment",
                content,
            )

    def transfer_view(self, rec: TransferRecord, *, query: bool) -> dict[str, Any]:
        view: dict[str, Any] = {
            "out_bill_no": rec.out_bill_no,
            "transfer_bill_no": rec.transfer_bill_no,
            "create_time": rfc3339(rec.create_time),
            "state": rec.state,
        }
        if rec.state == "WAIT_USER_CONFIRM":
            view["package_info"] = "fake-package-" + rec.transfer_bill_no
        if query:
            view |= {
                "mch_id": self.mchid,
                "appid": self.appid,
                "openid": rec.openid,
                "transfer_amount": rec.amount,
                "transfer_remark": rec.request["transfer_remark"],
            }
            if rec.fail_reason:
                view["fail_reason"] = rec.fail_reason
        return view

    def query_transfer(self, out_bill_no: str) -> dict[str, Any]:
        with self._lock:
            rec = self.transfers.get(out_bill_no)
            if rec is None:
                raise FakeApiError(404, "NOT_FOUND", "商户单号不存在 (no such bill)")
            return self.transfer_view(rec, query=True)

    def transferred(self, openid: str) -> int:
        """The money that reached `openid` (successful transfers)."""
        with self._lock:
            return sum(
                r.amount
                for r in self.transfers.values()
                if r.openid == openid and r.state == "SUCCESS"
            )

    def notification_body(
        self, event_type: str, summary: str, original_type: str, content: Mapping[str, Any]
    ) -> tuple[str, bytes]:
        nonce = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
        ciphertext = aead.encrypt(
            self.apiv3_key,
            nonce=nonce,
            associated_data=original_type,
            plaintext=json.dumps(content, ensure_ascii=False).encode(),
        )
        nid = str(uuid.uuid4())
        body = {
            "id": nid,
            "create_time": rfc3339(datetime.fromtimestamp(self.clock(), UTC)),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": summary,
            "resource": {
                "original_type": original_type,
                "algorithm": aead.ALGORITHM,
                "ciphertext": ciphertext,
                "associated_data": original_type,
                "nonce": nonce,
            },
        }
        return nid, json.dumps(body, ensure_ascii=False).encode()

    def delivery_url(self, notify_url: str) -> str:
        if not self.notify_origin:
            return notify_url
        origin, target = urlsplit(self.notify_origin), urlsplit(notify_url)
        return urlunsplit((origin.scheme, origin.netloc, target.path, "", ""))

    def notify(
        self,
        notify_url: str,
        event_type: str,
        summary: str,
        original_type: str,
        content: Mapping[str, Any],
    ) -> str:
        nid, body = self.notification_body(event_type, summary, original_type, content)
        self.notifier.send(nid, event_type, self.delivery_url(notify_url), body)
        return nid

    def send_probe(self, notify_url: str) -> str:
        """A notification whose signature is WeChat's probe: the merchant must refuse it."""
        content = {
            "mchid": self.mchid,
            "appid": self.appid,
            "out_trade_no": "SIGNTEST0000",
            "transaction_id": "4200000000000000000000000000",
            "trade_state": "SUCCESS",
            "amount": {"total": 1, "payer_total": 1, "currency": "CNY"},
            "payer": {"openid": "oSIGNTEST"},
        }
        nid, body = self.notification_body(
            "TRANSACTION.SUCCESS", "支付成功", "transaction", content
        )
        self.notifier.send(nid, "PROBE", self.delivery_url(notify_url), body, probe=True)
        return nid


class _param_errors:
    """InvalidPaymentRequest from the shared field rules → WeChat's 400 PARAM_ERROR."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, InvalidPaymentRequest):
            raise FakeApiError(400, "PARAM_ERROR", exc.message) from None
        return False


def _flip_one_byte(body: bytes) -> bytes:
    if not body:
        return b" "
    i = len(body) // 2
    return body[:i] + bytes([body[i] ^ 0x01]) + body[i + 1 :]
