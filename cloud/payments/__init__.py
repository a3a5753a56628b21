"""Payments: the provider interface (`provider`), its errors (`errors`) and the providers.

A provider is chosen by name from `PROVIDERS`; adding one is one entry there plus its package.
Ledger, wallet and order code call only `PaymentProvider` methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from cloud.payments.provider import PaymentProvider


def _wechatpay(settings: Mapping[str, Any]) -> PaymentProvider:
    from cloud.payments.wechatpay import WechatPayClient, WechatPayConfig

    return WechatPayClient(WechatPayConfig.from_settings(settings))


PROVIDERS: dict[str, Callable[[Mapping[str, Any]], PaymentProvider]] = {"wechatpay": _wechatpay}


def provider_from_settings(settings: Mapping[str, Any], name: str = "wechatpay") -> PaymentProvider:
    try:
        factory = PROVIDERS[name]
    except KeyError:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(sorted(PROVIDERS))}") from None
    return factory(settings)
