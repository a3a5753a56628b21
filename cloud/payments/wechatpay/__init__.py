"""WeChat Pay API v3: our own client (`client.WechatPayClient`), its settings (`config`),
signatures (`signing`), verification (`verify`), notification decryption (`aead`) and the
documented field rules (`validate`). The local fake server is `cloud.fakes.wechatpay`."""

from cloud.payments.wechatpay.client import WechatPayClient
from cloud.payments.wechatpay.config import WechatPayConfig

__all__ = ["WechatPayClient", "WechatPayConfig"]
