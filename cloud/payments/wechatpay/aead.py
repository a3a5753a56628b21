"""AEAD_AES_256_GCM of notification resources with the merchant's 32-byte APIv3 key.

`ciphertext` is base64 of the encrypted bytes with the 16-byte tag appended; `nonce` is the
12-character string and `associated_data` the string given beside it (both UTF-8).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloud.payments.errors import DecryptionFailed

ALGORITHM = "AEAD_AES_256_GCM"


def check_key(apiv3_key: bytes) -> bytes:
    if len(apiv3_key) != 32:
        raise ValueError(f"the APIv3 key must be 32 bytes, this one is {len(apiv3_key)}")
    return apiv3_key


def decrypt(apiv3_key: bytes, *, nonce: str, associated_data: str, ciphertext: str) -> bytes:
    try:
        raw = base64.b64decode(ciphertext, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionFailed("ciphertext is not base64") from None
    if len(nonce.encode()) != 12:
        raise DecryptionFailed(f"nonce must be 12 bytes, got {len(nonce.encode())}")
    try:
        return AESGCM(check_key(apiv3_key)).decrypt(nonce.encode(), raw, associated_data.encode())
    except InvalidTag:
        raise DecryptionFailed("authentication tag mismatch: wrong APIv3 key or tampered resource") from None


def encrypt(apiv3_key: bytes, *, nonce: str, associated_data: str, plaintext: bytes) -> str:
    return base64.b64encode(
        AESGCM(check_key(apiv3_key)).encrypt(nonce.encode(), plaintext, associated_data.encode())
    ).decode()
