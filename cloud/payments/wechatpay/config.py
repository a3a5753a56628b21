"""The merchant's WeChat Pay settings, read from the cloud's settings mapping.

Keys (all `WECHATPAY_*`, environment `JC_WECHATPAY_*`; docs/payments.md explains each):
MCHID, APPID, OA_APPID (else WECHAT_OA_APPID), MCH_SERIAL_NO, MCH_PRIVATE_KEY_FILE, APIV3_KEY, PUBLIC_KEY_ID, PUBLIC_KEY_FILE,
PLATFORM_CERT_FILES, NOTIFY_URL, REFUND_NOTIFY_URL, TRANSFER_NOTIFY_URL, BASE_URL, CONNECT_TIMEOUT_S,
READ_TIMEOUT_S.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from cloud.config import ConfigError
from cloud.payments.errors import InvalidPaymentRequest
from cloud.payments.wechatpay import validate
from cloud.payments.wechatpay.verify import KeyRing

PRODUCTION_BASE_URL = "https://api.mch.weixin.qq.com"
SETTING_KEYS = ("WECHATPAY_MCHID", "WECHATPAY_APPID", "WECHATPAY_MCH_SERIAL_NO",
                "WECHATPAY_MCH_PRIVATE_KEY_FILE", "WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY_ID",
                "WECHATPAY_PUBLIC_KEY_FILE", "WECHATPAY_PLATFORM_CERT_FILES", "WECHATPAY_NOTIFY_URL",
                "WECHATPAY_REFUND_NOTIFY_URL", "WECHATPAY_BASE_URL", "WECHATPAY_CONNECT_TIMEOUT_S",
                "WECHATPAY_READ_TIMEOUT_S", "WECHATPAY_OA_APPID", "WECHAT_OA_APPID",
                "WECHATPAY_TRANSFER_NOTIFY_URL")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}
_WHERE = "set it in instance/config.py or as the environment variable JC_{key} (docs/payments.md)"


@dataclass(frozen=True)
class WechatPayConfig:
    mchid: str
    appid: str
    merchant_serial_no: str  # serial of the merchant API certificate whose key signs our requests
    merchant_private_key: RSAPrivateKey
    apiv3_key: bytes  # 32 bytes: decrypts notifications
    keys: KeyRing  # WeChat Pay's public key and/or platform certificates: verify its answers
    notify_url: str
    refund_notify_url: str
    base_url: str = PRODUCTION_BASE_URL
    connect_timeout_s: float = 3.0
    read_timeout_s: float = 10.0
    # the official account bound to the merchant: the H5 app pays under it (JSAPI in WeChat's
    # browser with the account's openid, and H5 payments); None: the H5 app pays under `appid`
    oa_appid: str | None = None
    # where WeChat reports a transfer's final state (商家转账回调); None: transfers carry no
    # notify_url and their outcome is learnt only by querying the bill
    transfer_notify_url: str | None = None

    @property
    def appids(self) -> tuple[str, ...]:
        """Every appid this merchant pays under (answers naming another are refused)."""
        return (self.appid,) if not self.oa_appid else (self.appid, self.oa_appid)

    @property
    def h5_appid(self) -> str:
        return self.oa_appid or self.appid

    def __post_init__(self) -> None:
        check_base_url(self.base_url)
        if len(self.apiv3_key) != 32:
            raise ConfigError(f"WECHATPAY_APIV3_KEY: must be 32 bytes, is {len(self.apiv3_key)}")
        if self.merchant_private_key.key_size < 2048:
            raise ConfigError("WECHATPAY_MCH_PRIVATE_KEY_FILE: the key must be RSA of at least 2048 bits")
        if not self.keys.serials():
            raise ConfigError("WECHATPAY_PUBLIC_KEY_FILE / WECHATPAY_PLATFORM_CERT_FILES: at least one "
                              "WeChat Pay verification key is needed")
        urls = [("WECHATPAY_NOTIFY_URL", self.notify_url),
                ("WECHATPAY_REFUND_NOTIFY_URL", self.refund_notify_url)]
        if self.transfer_notify_url is not None:
            urls.append(("WECHATPAY_TRANSFER_NOTIFY_URL", self.transfer_notify_url))
        for key, url in urls:
            try:
                validate.notify_url(url, key)
            except InvalidPaymentRequest as e:
                raise ConfigError(f"{e.message}; {_WHERE.format(key=key)}") from None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> WechatPayConfig:
        def need(key: str) -> str:
            value = str(settings.get(key) or "").strip()
            if not value:
                raise ConfigError(f"{key}: not set; {_WHERE.format(key=key)}")
            return value

        keys = KeyRing()
        pub_file = str(settings.get("WECHATPAY_PUBLIC_KEY_FILE") or "").strip()
        if pub_file:
            key_id = need("WECHATPAY_PUBLIC_KEY_ID")
            try:
                keys.add_public_key(key_id, load_public_key(pub_file))
            except ValueError as e:
                raise ConfigError(f"WECHATPAY_PUBLIC_KEY_FILE/ID: {e}") from None
        for path in str(settings.get("WECHATPAY_PLATFORM_CERT_FILES") or "").split(os.pathsep):
            if path.strip():
                try:
                    keys.add_certificate(load_certificate(path.strip()))
                except ValueError as e:
                    raise ConfigError(f"WECHATPAY_PLATFORM_CERT_FILES: {path}: {e}") from None
        return cls(
            mchid=need("WECHATPAY_MCHID"),
            appid=need("WECHATPAY_APPID"),
            merchant_serial_no=need("WECHATPAY_MCH_SERIAL_NO"),
            merchant_private_key=load_private_key(need("WECHATPAY_MCH_PRIVATE_KEY_FILE")),
            apiv3_key=need("WECHATPAY_APIV3_KEY").encode(),
            keys=keys,
            notify_url=need("WECHATPAY_NOTIFY_URL"),
            refund_notify_url=need("WECHATPAY_REFUND_NOTIFY_URL"),
            base_url=str(settings.get("WECHATPAY_BASE_URL") or PRODUCTION_BASE_URL),
            connect_timeout_s=_seconds(settings, "WECHATPAY_CONNECT_TIMEOUT_S", 3.0),
            read_timeout_s=_seconds(settings, "WECHATPAY_READ_TIMEOUT_S", 10.0),
            oa_appid=(str(settings.get("WECHATPAY_OA_APPID") or "").strip()
                      or str(settings.get("WECHAT_OA_APPID") or "").strip() or None),
            transfer_notify_url=str(settings.get("WECHATPAY_TRANSFER_NOTIFY_URL") or "").strip() or None,
        )


def _seconds(settings: Mapping[str, Any], key: str, default: float) -> float:
    raw = settings.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{key}: expected seconds, got {raw!r}; {_WHERE.format(key=key)}") from None
    if not 0.1 <= value <= 60:
        raise ConfigError(f"{key}: {value} is outside 0.1..60 s; {_WHERE.format(key=key)}")
    return value


def check_base_url(url: str) -> str:
    """https, or plain http to this machine only (the local fake server)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise ConfigError(f"WECHATPAY_BASE_URL: {url!r} must be https:// (plain http only to "
                      f"localhost, for the fake server); {_WHERE.format(key='WECHATPAY_BASE_URL')}")


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise ConfigError(f"{key}: cannot read {path}: {e.strerror}") from None


def load_private_key(path: str) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "WECHATPAY_MCH_PRIVATE_KEY_FILE"), None)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"WECHATPAY_MCH_PRIVATE_KEY_FILE: {path} is not an unencrypted PEM "
                          f"private key (apiclient_key.pem): {e}") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"WECHATPAY_MCH_PRIVATE_KEY_FILE: {path} is not an RSA key")
    return key


def load_public_key(path: str) -> RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(_read(path, "WECHATPAY_PUBLIC_KEY_FILE"))
    except ValueError as e:
        raise ConfigError(f"WECHATPAY_PUBLIC_KEY_FILE: {path} is not a PEM public key "
                          f"(pub_key.pem from the merchant platform): {e}") from None
    if not isinstance(key, RSAPublicKey):
        raise ConfigError(f"WECHATPAY_PUBLIC_KEY_FILE: {path} is not an RSA key")
    return key


def load_certificate(path: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(_read(path, "WECHATPAY_PLATFORM_CERT_FILES"))
