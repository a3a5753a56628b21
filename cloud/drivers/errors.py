"""What the driver domain refuses, each with a stable `code` (the API's error code) and the
facts a message needs. The words for people (zh-CN and English) are the API's business."""

from __future__ import annotations

from typing import Any


class DriverError(Exception):
    code = "driver_error"

    def __init__(self, detail: str = "", **facts: Any) -> None:
        super().__init__(detail or self.code)
        self.detail = detail  # English, for logs and tests
        self.facts = facts  # e.g. field=…, retry_at=…, attempts_left=…


class InvalidField(DriverError):
    """A field has the wrong type, length or form; `facts["field"]` names it."""

    code = "invalid_request"


class InvalidPhone(InvalidField):
    code = "phone_invalid"


class DriverBlocked(DriverError):
    code = "driver_blocked"


class TokenInvalid(DriverError):
    code = "unauthorized"


class TokenExpired(TokenInvalid):
    code = "token_expired"


class UnknownDriver(DriverError):
    code = "driver_not_found"


class PaymentPasswordFormat(DriverError):
    code = "payment_password_format"  # not exactly six digits


class PaymentPasswordTooSimple(DriverError):
    code = "payment_password_too_simple"  # 111111, 123456, 654321 …


class PaymentPasswordExists(DriverError):
    code = "payment_password_exists"


class PaymentPasswordNotSet(DriverError):
    code = "payment_password_not_set"


class PaymentPasswordWrong(DriverError):
    code = "payment_password_wrong"  # facts: attempts_left


class PaymentPasswordLocked(DriverError):
    code = "payment_password_locked"  # facts: retry_at (epoch ms)
