"""Our WeChat Pay API v3 client (JSAPI and H5 payments, query, close, refunds, notifications).

Every request is signed (WECHATPAY2-SHA256-RSA2048); every 2xx answer must carry a valid
WeChat Pay signature or it is refused (`SignatureInvalid`), so nothing unverified ever reaches
the ledger. Notifications are verified, checked for age and replay, then decrypted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import requests

from cloud.payments.errors import (
    BadResponse,
    InvalidPaymentRequest,
    NotificationInvalid,
    PaymentError,
    ProviderError,
    ProviderUnavailable,
    SignatureInvalid,
)
from cloud.payments.provider import (
    H5Payment,
    NewOrder,
    NotificationReply,
    PaymentNotice,
    PayParams,
    Refund,
    RefundNotice,
    RefundRequest,
    RefundStatus,
    TradeState,
    Transaction,
    Transfer,
    TransferNotice,
    TransferRequest,
    TransferState,
)
from cloud.payments.wechatpay import aead, signing, validate
from cloud.payments.wechatpay.config import WechatPayConfig
from cloud.payments.wechatpay.verify import MemoryReplayGuard, ReplayGuard, header, verify_signed

_N = TypeVar("_N")  # a parsed notification
log = logging.getLogger(__name__)
USER_AGENT = "juchong-wechatpay/1 (+requests)"
PAYMENT_EVENTS = ("TRANSACTION.SUCCESS",)
REFUND_EVENTS = ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED")
TRANSFER_EVENTS = ("MCHTRANSFER.BILL.FINISHED",)  # 商家转账回调: the bill reached a final state


class WechatPayClient:
    """Implements `cloud.payments.provider.PaymentProvider` for WeChat Pay API v3 (JSAPI, H5)."""

    name = "wechatpay"

    def __init__(
        self,
        config: WechatPayConfig,
        *,
        clock: Callable[[], float] = time.time,
        replay_guard: ReplayGuard | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        # a replayed notification within the 5-minute window is refused here; the ledger's
        # credit-once rule is what makes any replay harmless across processes
        self.replay_guard: ReplayGuard = replay_guard or MemoryReplayGuard()
        self._local = threading.local()

    # -- HTTP -------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        # requests.Session is not documented thread-safe: one per thread
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
        return s

    def _call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        path_query = path + ("?" + urlencode(query) if query else "")
        raw = (
            b""
            if body is None
            else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        )
        ts = int(self.clock())
        headers = {
            "Authorization": signing.authorization(
                mchid=self.config.mchid,
                serial_no=self.config.merchant_serial_no,
                private_key=self.config.merchant_private_key,
                method=method,
                path_query=path_query,
                body=raw,
                timestamp=ts,
                nonce=signing.new_nonce(),
            ),
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            resp = self._session().request(
                method,
                self.config.base_url.rstrip("/") + path_query,
                data=raw or None,
                headers=headers,
                allow_redirects=False,
                timeout=(self.config.connect_timeout_s, self.config.read_timeout_s),
            )
        except requests.Timeout:
            raise ProviderUnavailable(
                f"{method} {path}: no answer within {self.config.read_timeout_s} s"
            ) from None
        except requests.RequestException as e:
            raise ProviderUnavailable(f"{method} {path}: {type(e).__name__}: {e}") from None
        content = resp.content
        try:
            verify_signed(self.config.keys, resp.headers, content, now=self.clock())
            verified, why = True, None
        except SignatureInvalid as e:
            verified, why = False, e
        if 200 <= resp.status_code < 300:
            if why is not None:
                raise why
            if not content:
                return None
            return _json_object(content, f"{method} {path}")
        err = _error_fields(content)
        if resp.status_code >= 500 or resp.status_code == 429:
            # the code stays ours (worth a retry); WeChat's own (e.g. SYSTEM_ERROR) is in the message
            raise ProviderUnavailable(
                f"{method} {path}: HTTP {resp.status_code} "
                f"{err.get('code', '')} {err.get('message', '')}".strip()
            )
        raise ProviderError(
            resp.status_code,
            str(err.get("code") or ""),
            str(err.get("message") or f"HTTP {resp.status_code}"),
            verified=verified,
            detail=err.get("detail"),
        )

    # -- payments ---------------------------------------------------------------------

    def _appid(self, order: NewOrder) -> str:
        appid = order.appid or self.config.appid
        if appid not in self.config.appids:
            raise InvalidPaymentRequest(
                "appid",
                f"{appid!r} is not an appid of this merchant (WECHATPAY_APPID, WECHATPAY_OA_APPID)",
            )
        return appid

    def _order_body(self, order: NewOrder, appid: str) -> dict[str, Any]:
        """The fields JSAPI and H5 orders share, checked."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        body: dict[str, Any] = {
            "appid": appid,
            "mchid": self.config.mchid,
            "description": validate.text(order.description, "description", 127),
            "out_trade_no": validate.out_trade_no(order.out_trade_no),
            "notify_url": validate.notify_url(order.notify_url or self.config.notify_url),
            "amount": {"total": validate.fen(order.total_fen, "total_fen"), "currency": "CNY"},
        }
        expire = validate.time_expire(order.time_expire, now)
        if expire:
            body["time_expire"] = expire
        if order.attach is not None:
            body["attach"] = validate.text(order.attach, "attach", 128)
        return body

    def create_jsapi_order(self, order: NewOrder) -> PayParams:
        appid = self._appid(order)
        body = self._order_body(order, appid)
        body["payer"] = {"openid": validate.text(order.payer_openid, "payer_openid", 128)}
        data = self._call("POST", "/v3/pay/transactions/jsapi", body=body) or {}
        prepay_id = data.get("prepay_id")
        if not isinstance(prepay_id, str) or not prepay_id:
            raise BadResponse(f"JSAPI order {order.out_trade_no}: answer has no prepay_id")
        return self.pay_params(prepay_id, appid)

    def create_h5_order(self, order: NewOrder, payer_client_ip: str) -> H5Payment:
        """POST /v3/pay/transactions/h5: the payer's IP and "Wap" (a mobile web site) in
        scene_info, under the official account's appid when one is set."""
        order = replace(order, appid=order.appid or self.config.h5_appid)
        body = self._order_body(order, self._appid(order))
        body["scene_info"] = {
            "payer_client_ip": validate.client_ip(payer_client_ip),
            "h5_info": {"type": "Wap"},
        }
        data = self._call("POST", "/v3/pay/transactions/h5", body=body) or {}
        url = data.get("h5_url")
        parts = urlsplit(url) if isinstance(url, str) else None
        # the browser is sent there: https only (plain http only to this machine's fake)
        if (
            parts is None
            or not parts.hostname
            or not (
                parts.scheme == "https"
                or parts.scheme == "http"
                and parts.hostname in ("127.0.0.1", "localhost")
            )
        ):
            raise BadResponse(f"H5 order {order.out_trade_no}: answer has no usable h5_url")
        return H5Payment(h5_url=str(url))

    def pay_params(self, prepay_id: str, appid: str | None = None) -> PayParams:
        """The signed wx.requestPayment / getBrandWCPayRequest parameters for a prepay_id (fresh
        timestamp and nonce), under the appid the order was made with."""
        app_id = appid or self.config.appid
        ts, nonce, package = str(int(self.clock())), signing.new_nonce(), f"prepay_id={prepay_id}"
        sig = signing.sign(
            self.config.merchant_private_key, signing.pay_sign_message(app_id, ts, nonce, package)
        )
        return PayParams(
            app_id=app_id,
            time_stamp=ts,
            nonce_str=nonce,
            package=package,
            sign_type="RSA",
            pay_sign=sig,
        )

    def query_order(self, out_trade_no: str) -> Transaction:
        no = validate.out_trade_no(out_trade_no)
        data = self._call(
            "GET",
            f"/v3/pay/transactions/out-trade-no/{quote(no, safe='')}",
            query={"mchid": self.config.mchid},
        )
        if data is None:
            raise BadResponse(f"order query {no}: empty answer")
        tx = self._transaction(data, f"order query {no}")
        if tx.out_trade_no != no:
            raise BadResponse(f"order query {no}: answer is about {tx.out_trade_no}")
        return tx

    def close_order(self, out_trade_no: str) -> None:
        no = validate.out_trade_no(out_trade_no)
        self._call(
            "POST",
            f"/v3/pay/transactions/out-trade-no/{quote(no, safe='')}/close",
            body={"mchid": self.config.mchid},
        )

    # -- refunds ----------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> Refund:
        total = validate.fen(request.total_fen, "total_fen")
        amount = validate.fen(request.refund_fen, "refund_fen")
        if amount > total:
            raise InvalidPaymentRequest(
                "refund_fen", f"{amount} fen is more than the order's {total}"
            )
        body: dict[str, Any] = {
            "out_trade_no": validate.out_trade_no(request.out_trade_no),
            "out_refund_no": validate.out_refund_no(request.out_refund_no),
            "notify_url": validate.notify_url(request.notify_url or self.config.refund_notify_url),
            "amount": {"refund": amount, "total": total, "currency": "CNY"},
        }
        if request.reason is not None:
            body["reason"] = validate.text(request.reason, "reason", 80)
        data = self._call("POST", "/v3/refund/domestic/refunds", body=body)
        if data is None:
            raise BadResponse(f"refund {request.out_refund_no}: empty answer")
        refund = _refund(data, "status", f"refund {request.out_refund_no}")
        if (refund.out_refund_no, refund.out_trade_no) != (
            request.out_refund_no,
            request.out_trade_no,
        ):
            raise BadResponse(
                f"refund {request.out_refund_no}: answer is about "
                f"{refund.out_refund_no} of {refund.out_trade_no}"
            )
        # the same out_refund_no sent earlier with other amounts: WeChat answers the earlier one
        refund.expect_amounts(amount, total)
        return refund

    def query_refund(self, out_refund_no: str) -> Refund:
        no = validate.out_refund_no(out_refund_no)
        data = self._call("GET", f"/v3/refund/domestic/refunds/{quote(no, safe='')}")
        if data is None:
            raise BadResponse(f"refund query {no}: empty answer")
        refund = _refund(data, "status", f"refund query {no}")
        if refund.out_refund_no != no:
            raise BadResponse(f"refund query {no}: answer is about {refund.out_refund_no}")
        return refund

    # -- transfers to a user (商家转账, POST /v3/fund-app/mch-transfer/transfer-bills) --------

    def transfer(self, request: TransferRequest) -> Transfer:
        """Implements `TransferProvider.transfer`. WeChat answers the same out_bill_no with the
        bill already made; it asks not to retry with a new number before the old one is known."""
        body: dict[str, Any] = {
            "appid": self.config.appid,
            "out_bill_no": validate.out_bill_no(request.out_bill_no),
            "transfer_scene_id": validate.text(request.scene_id, "transfer_scene_id", 36),
            "openid": validate.text(request.openid, "openid", 64),
            "transfer_amount": validate.fen(request.amount_fen, "transfer_amount"),
            "transfer_remark": validate.text(request.remark, "transfer_remark", 32),
            "transfer_scene_report_infos": [
                {
                    "info_type": validate.text(k, "info_type", 15),
                    "info_content": validate.text(v, "info_content", 32),
                }
                for k, v in request.scene_report
            ],
        }
        notify_url = request.notify_url or self.config.transfer_notify_url
        if notify_url:
            body["notify_url"] = validate.notify_url(notify_url)
        if not request.scene_report:
            raise InvalidPaymentRequest(
                "transfer_scene_report_infos", "the scene's report items are required"
            )
        data = self._call("POST", "/v3/fund-app/mch-transfer/transfer-bills", body=body)
        if data is None:
            raise BadResponse(f"transfer {request.out_bill_no}: empty answer")
        t = _transfer(data, f"transfer {request.out_bill_no}")
        if t.out_bill_no != request.out_bill_no:
            raise BadResponse(f"transfer {request.out_bill_no}: answer is about {t.out_bill_no}")
        return t

    def query_transfer(self, out_bill_no: str) -> Transfer:
        no = validate.out_bill_no(out_bill_no)
        data = self._call("GET", f"/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no}")
        if data is None:
            raise BadResponse(f"transfer query {no}: empty answer")
        t = _transfer(data, f"transfer query {no}")
        if t.out_bill_no != no:
            raise BadResponse(f"transfer query {no}: answer is about {t.out_bill_no}")
        return t

    def confirm_params(self, package_info: str) -> dict[str, str]:
        """Implements `TransferProvider.confirm_params`: transfers are made under `appid` (the
        mini-program's), so only the mini-program can confirm them."""
        return {"mchId": self.config.mchid, "appId": self.config.appid, "package": package_info}

    # -- notifications ----------------------------------------------------------------

    def _open_notification(
        self, headers: Mapping[str, str], body: bytes, original_type: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        verify_signed(
            self.config.keys, headers, body, now=self.clock(), replay_guard=self.replay_guard
        )
        try:
            envelope = _json_object(body, "notification")
        except BadResponse as e:
            raise NotificationInvalid(e.message) from None
        resource = envelope.get("resource")
        if envelope.get("resource_type") != "encrypt-resource" or not isinstance(resource, dict):
            raise NotificationInvalid("notification carries no encrypt-resource")
        if resource.get("algorithm") != aead.ALGORITHM:
            raise NotificationInvalid(
                f"resource algorithm {resource.get('algorithm')!r} is not {aead.ALGORITHM}"
            )
        if resource.get("original_type") != original_type:
            raise NotificationInvalid(
                f"resource original_type {resource.get('original_type')!r}, "
                f"expected {original_type!r}"
            )
        nonce, ciphertext = resource.get("nonce"), resource.get("ciphertext")
        associated_data = resource.get("associated_data") or ""
        if not (
            isinstance(nonce, str)
            and isinstance(ciphertext, str)
            and isinstance(associated_data, str)
        ):
            raise NotificationInvalid("resource lacks nonce or ciphertext")
        plain = aead.decrypt(
            self.config.apiv3_key,
            nonce=nonce,
            associated_data=associated_data,
            ciphertext=ciphertext,
        )
        try:
            content = _json_object(plain, "notification resource")
        except BadResponse as e:
            raise NotificationInvalid(e.message) from None
        if not isinstance(envelope.get("id"), str) or not isinstance(
            envelope.get("event_type"), str
        ):
            raise NotificationInvalid("notification lacks id or event_type")
        return envelope, content

    def parse_payment_notification(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        return self._refused_logged("payment", self._payment_notice, headers, body)

    def _refused_logged(self, kind: str, parse: Callable[[Mapping[str, str], bytes], _N],
                        headers: Mapping[str, str], body: bytes) -> _N:
        try:
            return parse(headers, body)
        except PaymentError as e:
            # a refused notification moves no money; the log says why (never the body: it
            # may be a forgery crafted for the log)
            log.warning(
                "%s notification refused: %s (serial %r, %d bytes)",
                kind,
                e,
                header(headers, "Wechatpay-Serial"),
                len(body),
            )
            raise

    def parse_refund_notification(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        return self._refused_logged("refund", self._refund_notice, headers, body)

    def _payment_notice(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        envelope, content = self._open_notification(headers, body, "transaction")
        event = envelope["event_type"]
        if event not in PAYMENT_EVENTS:
            raise NotificationInvalid(f"event_type {event!r} is not a payment event")
        try:
            tx = self._transaction(content, "payment notification")
        except BadResponse as e:
            raise NotificationInvalid(e.message) from None
        if tx.trade_state != TradeState.SUCCESS or tx.total_fen is None or not tx.transaction_id:
            raise NotificationInvalid(
                f"{event} for {tx.out_trade_no} with trade_state "
                f"{tx.trade_state}, total {tx.total_fen}"
            )
        return PaymentNotice(
            id=envelope["id"],
            event_type=event,
            create_time=validate.parse_rfc3339(envelope.get("create_time")),
            transaction=tx,
        )

    def parse_transfer_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> TransferNotice:
        """Implements `TransferProvider.parse_transfer_notification` (商家转账回调通知)."""
        return self._refused_logged("transfer", self._transfer_notice, headers, body)

    def _transfer_notice(self, headers: Mapping[str, str], body: bytes) -> TransferNotice:
        envelope, content = self._open_notification(headers, body, "mch_payment")
        event = envelope["event_type"]
        if event not in TRANSFER_EVENTS:
            raise NotificationInvalid(f"event_type {event!r} is not a transfer event")
        if content.get("mchid") != self.config.mchid:
            raise NotificationInvalid(
                f"transfer notification for merchant {content.get('mchid')!r}"
            )
        try:
            t = _transfer(content, "transfer notification")
        except BadResponse as e:
            raise NotificationInvalid(e.message) from None
        # WeChat sends it only for SUCCESS, FAIL and CANCELLED, always with the amount
        if not t.state.final or t.amount_fen is None:
            raise NotificationInvalid(
                f"{event} for {t.out_bill_no} with state {t.state}, amount {t.amount_fen}"
            )
        return TransferNotice(
            id=envelope["id"],
            event_type=event,
            create_time=validate.parse_rfc3339(envelope.get("create_time")),
            transfer=t,
        )

    def _refund_notice(self, headers: Mapping[str, str], body: bytes) -> RefundNotice:
        envelope, content = self._open_notification(headers, body, "refund")
        event = envelope["event_type"]
        if event not in REFUND_EVENTS:
            raise NotificationInvalid(f"event_type {event!r} is not a refund event")
        if content.get("mchid") != self.config.mchid:
            raise NotificationInvalid(f"refund notification for merchant {content.get('mchid')!r}")
        try:
            refund = _refund(content, "refund_status", "refund notification")
        except BadResponse as e:
            raise NotificationInvalid(e.message) from None
        if event.split(".", 1)[1] != refund.status.value:
            raise NotificationInvalid(f"{event} carries refund_status {refund.status}")
        return RefundNotice(
            id=envelope["id"],
            event_type=event,
            create_time=validate.parse_rfc3339(envelope.get("create_time")),
            refund=refund,
        )

    def notification_reply(self, ok: bool, message: str = "") -> NotificationReply:
        if ok:
            return NotificationReply(204, b"")
        body = json.dumps({"code": "FAIL", "message": message or "failed"}, ensure_ascii=False)
        return NotificationReply(500, body.encode("utf-8"))

    # -- parsing ----------------------------------------------------------------------

    def _transaction(self, data: dict[str, Any], what: str) -> Transaction:
        if data.get("mchid") != self.config.mchid:
            raise BadResponse(f"{what}: merchant {data.get('mchid')!r} is not ours")
        if data.get("appid") is not None and data.get("appid") not in self.config.appids:
            raise BadResponse(f"{what}: appid {data.get('appid')!r} is not ours")
        try:
            state = TradeState(data.get("trade_state"))
        except ValueError:
            raise BadResponse(f"{what}: unknown trade_state {data.get('trade_state')!r}") from None
        amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
        payer = data.get("payer") if isinstance(data.get("payer"), dict) else {}
        no = data.get("out_trade_no")
        if not isinstance(no, str):
            raise BadResponse(f"{what}: no out_trade_no")
        total = _int(amount, "total", what)
        if state in (TradeState.SUCCESS, TradeState.REFUND) and total is None:
            raise BadResponse(f"{what}: a paid order without amount.total")
        return Transaction(
            out_trade_no=no,
            trade_state=state,
            total_fen=total,
            payer_total_fen=_int(amount, "payer_total", what),
            currency=str(amount.get("currency") or "CNY"),
            transaction_id=_str(data, "transaction_id", what),
            payer_openid=_str(payer, "openid", what),
            success_time=validate.parse_rfc3339(data.get("success_time")),
            trade_state_desc=str(data.get("trade_state_desc") or ""),
            attach=_str(data, "attach", what),
        )


def _refund(data: dict[str, Any], status_key: str, what: str) -> Refund:
    try:
        status = RefundStatus(data.get(status_key))
    except ValueError:
        raise BadResponse(f"{what}: unknown {status_key} {data.get(status_key)!r}") from None
    amount = data.get("amount") if isinstance(data.get("amount"), dict) else {}
    refund_fen, total_fen = _int(amount, "refund", what), _int(amount, "total", what)
    ids = [data.get(k) for k in ("out_refund_no", "out_trade_no", "refund_id")]
    if refund_fen is None or total_fen is None or not all(isinstance(v, str) and v for v in ids):
        raise BadResponse(f"{what}: lacks out_refund_no, out_trade_no, refund_id or amounts")
    return Refund(
        out_refund_no=data["out_refund_no"],
        out_trade_no=data["out_trade_no"],
        refund_id=data["refund_id"],
        status=status,
        refund_fen=refund_fen,
        total_fen=total_fen,
        payer_refund_fen=_int(amount, "payer_refund", what),
        currency=str(amount.get("currency") or "CNY"),
        transaction_id=_str(data, "transaction_id", what),
        success_time=validate.parse_rfc3339(data.get("success_time")),
        user_received_account=str(data.get("user_received_account") or ""),
    )


def _transfer(data: dict[str, Any], what: str) -> Transfer:
    try:
        state = TransferState(data.get("state"))
    except ValueError:
        raise BadResponse(f"{what}: unknown state {data.get('state')!r}") from None
    ids = [data.get(k) for k in ("out_bill_no", "transfer_bill_no")]
    if not all(isinstance(v, str) and v for v in ids):
        raise BadResponse(f"{what}: lacks out_bill_no or transfer_bill_no")
    amount = data.get("transfer_amount")
    if amount is not None and (
        not isinstance(amount, int) or isinstance(amount, bool) or amount < 0
    ):
        raise BadResponse(f"{what}: transfer_amount {amount!r} is not a whole number of fen")
    return Transfer(
        out_bill_no=data["out_bill_no"],
        transfer_bill_no=data["transfer_bill_no"],
        state=state,
        amount_fen=amount,
        fail_reason=str(data.get("fail_reason") or ""),
        package_info=_str(data, "package_info", what),
        openid=_str(data, "openid", what),
    )


def _int(d: Mapping[str, Any], key: str, what: str) -> int | None:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < 0:
        raise BadResponse(f"{what}: amount.{key} {v!r} is not a whole number of fen")
    return v


def _str(d: Mapping[str, Any], key: str, what: str) -> str | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise BadResponse(f"{what}: {key} {v!r} is not a string")
    return v


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadResponse(f"{what}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise BadResponse(f"{what}: answer is not a JSON object")
    return data


def _error_fields(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}
