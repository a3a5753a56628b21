"""The payment provider's callbacks (`POST /api/v1/pay/wechat/notify`, `…/refund-notify` and
`…/transfer-notify`, a pile owner's withdrawal, cloud.sharing.withdrawals):
open endpoints (in OPEN_ENDPOINTS) whose credential is the provider's signature, checked by
the provider client before anything is read. They answer as WeChat Pay documents: 204 when
handled (a duplicate too), 4xx/5xx with {"code": "FAIL", "message"} otherwise, so WeChat
retries; nothing refused is ever credited."""

from __future__ import annotations

import json

from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from cloud.api import bp
from cloud.db import db
from cloud.payments.provider import NotificationReply, TransferProvider
from cloud.sharing import withdrawals
from cloud.wallet import service
from cloud.wallet.errors import PaymentNotConfigured
from cloud.wallet.settings import provider_for

MAX_NOTIFICATION = 64 * 1024  # WeChat's notifications are about 1 KiB


def _fail(status: int, message: str) -> Response:
    body = json.dumps({"code": "FAIL", "message": message}, ensure_ascii=False)
    return Response(body, status=status, content_type="application/json")


def _answer(reply: NotificationReply) -> Response:
    if not reply.body:
        return Response(status=reply.status)
    return Response(reply.body, status=reply.status, content_type=reply.content_type)


def _receive(kind: str) -> Response:
    request.max_content_length = MAX_NOTIFICATION
    try:
        provider = provider_for(current_app.config, current_app.extensions)
    except PaymentNotConfigured:
        return _fail(503, "payments are not configured")
    try:
        body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _fail(413, "notification too large")
    if kind == "transfer":
        if not isinstance(provider, TransferProvider):
            return _fail(503, "transfers are not configured")
        return _answer(withdrawals.handle_transfer_notification(db.transaction, provider, request.headers, body))
    handle = service.handle_payment_notification if kind == "payment" else service.handle_refund_notification
    return _answer(handle(db.transaction, provider, request.headers, body))


@bp.post("/pay/wechat/notify")
def wechat_pay_notify() -> Response:
    return _receive("payment")


@bp.post("/pay/wechat/refund-notify")
def wechat_refund_notify() -> Response:
    return _receive("refund")


@bp.post("/pay/wechat/transfer-notify")
def wechat_transfer_notify() -> Response:
    return _receive("transfer")
