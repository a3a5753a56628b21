"""A complete, throw-away set of WeChat keys for the fakes (tests and the demo).

Both sides' material in one place: the merchant's API key and serial (our client signs with
it; the fake checks with its public half), WeChat Pay's own key pair with its public key id
(the fake signs with it; our client verifies with the public half), the APIv3 key, and the
mini-program's appid/secret. `write(dir)` stores it as the files a real merchant downloads,
plus `fake.json` for `python -m cloud.fakes serve`, and `settings()` gives the cloud's keys.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

_ALNUM = string.ascii_letters + string.digits

MERCHANT_KEY_FILE = "apiclient_key.pem"
WECHATPAY_PUBLIC_KEY_FILE = "pub_key.pem"
FAKE_PRIVATE_KEY_FILE = "fake_wechatpay_key.pem"  # only the fake has this; never in the cloud's settings
FAKE_SETTINGS_FILE = "fake.json"


def new_rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@dataclass
class FakeKeys:
    mchid: str = "1900000109"
    appid: str = "wxd678efh567hg6787"
    app_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    # the official account whose web authorisation logs drivers in to the H5 app
    oa_appid: str = "wx5c8e1f0a2b3d4e6f"
    oa_secret: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    merchant_serial_no: str = field(default_factory=lambda: secrets.token_hex(20).upper())
    merchant_key: RSAPrivateKey = field(default_factory=new_rsa_key, repr=False)
    wechatpay_key: RSAPrivateKey = field(default_factory=new_rsa_key, repr=False)
    wechatpay_public_key_id: str = field(
        default_factory=lambda: "PUB_KEY_ID_" + "".join(secrets.choice(string.digits) for _ in range(32)))
    apiv3_key: bytes = field(
        default_factory=lambda: "".join(secrets.choice(_ALNUM) for _ in range(32)).encode(), repr=False)

    def write(self, directory: str | os.PathLike[str]) -> Path:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        for name, data in (
            (MERCHANT_KEY_FILE, _pem(self.merchant_key)),
            (FAKE_PRIVATE_KEY_FILE, _pem(self.wechatpay_key)),
            (WECHATPAY_PUBLIC_KEY_FILE, self.wechatpay_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)),
            (FAKE_SETTINGS_FILE, json.dumps({
                "mchid": self.mchid, "appid": self.appid, "app_secret": self.app_secret,
                "oa_appid": self.oa_appid, "oa_secret": self.oa_secret,
                "merchant_serial_no": self.merchant_serial_no,
                "wechatpay_public_key_id": self.wechatpay_public_key_id,
                "apiv3_key": self.apiv3_key.decode()}, indent=2).encode()),
        ):
            path = d / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        return d

    @classmethod
    def read(cls, directory: str | os.PathLike[str]) -> FakeKeys:
        d = Path(directory)
        meta = json.loads((d / FAKE_SETTINGS_FILE).read_text())

        def key(name: str) -> RSAPrivateKey:
            k = serialization.load_pem_private_key((d / name).read_bytes(), None)
            assert isinstance(k, RSAPrivateKey)
            return k

        # key sets written before the official account existed get a fresh one
        oa = {k: meta[k] for k in ("oa_appid", "oa_secret") if k in meta}
        return cls(mchid=meta["mchid"], appid=meta["appid"], app_secret=meta["app_secret"], **oa,
                   merchant_serial_no=meta["merchant_serial_no"],
                   merchant_key=key(MERCHANT_KEY_FILE), wechatpay_key=key(FAKE_PRIVATE_KEY_FILE),
                   wechatpay_public_key_id=meta["wechatpay_public_key_id"],
                   apiv3_key=meta["apiv3_key"].encode())

    def settings(self, directory: str | os.PathLike[str], base_url: str, *,
                 notify_url: str = "https://cloud.example.cn/api/v1/pay/wechat/notify",
                 refund_notify_url: str = "https://cloud.example.cn/api/v1/pay/wechat/refund-notify",
                 transfer_notify_url: str = "https://cloud.example.cn/api/v1/pay/wechat/transfer-notify",
                 ) -> dict[str, str]:
        """The cloud's settings for these keys (files as written by `write(directory)`)."""
        d = Path(directory)
        return {
            "WECHAT_APPID": self.appid,
            "WECHAT_SECRET": self.app_secret,
            "WECHAT_API_BASE_URL": base_url,
            "WECHAT_OA_APPID": self.oa_appid,
            "WECHAT_OA_SECRET": self.oa_secret,
            "WECHAT_OA_AUTHORIZE_URL": base_url.rstrip("/") + "/connect/oauth2/authorize",
            "WECHATPAY_MCHID": self.mchid,
            "WECHATPAY_APPID": self.appid,
            "WECHATPAY_MCH_SERIAL_NO": self.merchant_serial_no,
            "WECHATPAY_MCH_PRIVATE_KEY_FILE": str(d / MERCHANT_KEY_FILE),
            "WECHATPAY_APIV3_KEY": self.apiv3_key.decode(),
            "WECHATPAY_PUBLIC_KEY_ID": self.wechatpay_public_key_id,
            "WECHATPAY_PUBLIC_KEY_FILE": str(d / WECHATPAY_PUBLIC_KEY_FILE),
            "WECHATPAY_NOTIFY_URL": notify_url,
            "WECHATPAY_REFUND_NOTIFY_URL": refund_notify_url,
            "WECHATPAY_TRANSFER_NOTIFY_URL": transfer_notify_url,
            "WECHATPAY_BASE_URL": base_url,
        }
