"""Errors every payment provider raises: one family, each with a stable `code`.

The service layer decides by type: `ProviderUnavailable` is safe to retry with the same
out_trade_no / out_refund_no; `SignatureInvalid`, `NotificationInvalid` and `AmountMismatch`
mean "credit nothing, log it"; `ProviderError` carries the provider's own code (for WeChat Pay
e.g. SIGN_ERROR, ORDER_NOT_EXIST, ORDERPAID).
"""

from __future__ import annotations


class PaymentError(Exception):
    """Base of all payment errors; `code` is stable and safe to show in logs and API errors."""

    code = "PAYMENT_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidPaymentRequest(PaymentError, ValueError):
    """We refused to send a request the provider documents as invalid; `field` names the input."""

    code = "INVALID_REQUEST"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class ProviderError(PaymentError):
    """The provider answered with an error (`code` is its own, e.g. SIGN_ERROR, ORDERPAID).

    `verified` says whether the error answer itself carried a valid signature; an unsigned
    error is still an error, but nothing in it may be trusted beyond "it failed".
    """

    def __init__(self, status: int, code: str, message: str, *, verified: bool = True,
                 detail: object = None) -> None:
        super().__init__(message, code=code or f"HTTP_{status}")
        self.status = status
        self.verified = verified
        self.detail = detail


class ProviderUnavailable(PaymentError):
    """No usable answer (connection refused, timeout, 5xx): retry later with the same ids."""

    code = "PROVIDER_UNAVAILABLE"


class SignatureInvalid(PaymentError):
    """A response or notification failed verification; `code` says why.

    BAD_SIGNATURE, SIGNATURE_MISSING, STALE_TIMESTAMP, SIGNATURE_PROBE, UNKNOWN_SERIAL,
    UNSUPPORTED_SIGNATURE_TYPE, REPLAYED.
    """

    code = "BAD_SIGNATURE"


class DecryptionFailed(PaymentError):
    """An encrypted notification resource did not decrypt with our APIv3 key (forged or tampered)."""

    code = "DECRYPT_FAILED"


class NotificationInvalid(PaymentError):
    """A verified notification whose content we cannot accept (wrong merchant, event, shape)."""

    code = "INVALID_NOTIFICATION"


class BadResponse(PaymentError):
    """A verified 2xx answer whose content contradicts what we asked (wrong order, shape)."""

    code = "BAD_RESPONSE"


class AmountMismatch(PaymentError):
    """The provider reports a different amount than the order we hold: credit nothing."""

    code = "AMOUNT_MISMATCH"

    def __init__(self, what: str, expected: int, got: int) -> None:
        super().__init__(f"{what}: expected {expected} fen, provider says {got} fen")
        self.expected = expected
        self.got = got
