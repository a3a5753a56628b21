"""The wallet's settings (`WALLET_*`, checked by cloud.config at start) and where its payment
provider comes from: one per app, built at first use from the `WECHATPAY_*` settings."""

from __future__ import annotations

import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from cloud.payments import provider_from_settings
from cloud.payments.provider import PaymentProvider
from cloud.wallet.errors import PaymentNotConfigured

_BUILD = threading.Lock()
EXTENSION = "jc_payment_provider"


@dataclass(frozen=True)
class WalletSettings:
    recharge_min_fen: int = 1
    recharge_max_fen: int = 500_000
    payment_expire_ms: int = 1800_000
    poll_after_ms: int = 10_000
    reconcile_after_ms: int = 300_000
    refund_retry_after_ms: int = 600_000
    # the official account the H5 app pays under (WECHATPAY_OA_APPID, else WECHAT_OA_APPID)
    oa_appid: str = ""

    @classmethod
    def from_settings(cls, s: Mapping[str, Any]) -> WalletSettings:
        d = cls()
        return cls(
            recharge_min_fen=int(s.get("WALLET_RECHARGE_MIN_FEN", d.recharge_min_fen)),
            recharge_max_fen=int(s.get("WALLET_RECHARGE_MAX_FEN", d.recharge_max_fen)),
            payment_expire_ms=int(s.get("WALLET_PAYMENT_EXPIRE_S", d.payment_expire_ms // 1000)) * 1000,
            poll_after_ms=int(s.get("WALLET_POLL_AFTER_S", d.poll_after_ms // 1000)) * 1000,
            reconcile_after_ms=int(s.get("WALLET_RECONCILE_AFTER_S", d.reconcile_after_ms // 1000)) * 1000,
            refund_retry_after_ms=int(s.get("WALLET_REFUND_RETRY_AFTER_S",
                                            d.refund_retry_after_ms // 1000)) * 1000,
            oa_appid=str(s.get("WECHATPAY_OA_APPID") or "").strip() or str(s.get("WECHAT_OA_APPID") or "").strip(),
        )


def configured(settings: Mapping[str, Any]) -> bool:
    return bool(str(settings.get("WECHATPAY_MCHID") or "").strip())


def provider_for(settings: Mapping[str, Any], extensions: MutableMapping[str, Any]) -> PaymentProvider:
    """The provider kept in `extensions` (a Flask app's), built on first use; raises
    PaymentNotConfigured when no merchant is set. One per app: its HTTP sessions and the
    notification replay memory are shared by the app's threads."""
    provider = extensions.get(EXTENSION)
    if provider is not None:
        return provider  # type: ignore[no-any-return]
    if not configured(settings):
        raise PaymentNotConfigured("WECHATPAY_MCHID is not set")
    with _BUILD:
        provider = extensions.get(EXTENSION)
        if provider is None:
            provider = extensions[EXTENSION] = provider_from_settings(settings)
    return provider  # type: ignore[no-any-return]


def app_provider() -> PaymentProvider:
    """The current Flask app's provider (for callers holding only a Session, e.g. the
    charging service calling create_prepay inside a request or a job with an app context)."""
    from flask import current_app

    return provider_for(current_app.config, current_app.extensions)
