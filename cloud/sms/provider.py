"""The SMS provider interface, its result, the log provider (the default) and the choice of
provider from the settings."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("jc.sms")

# Refusals that sending again cannot cure (Aliyun's codes): the notification is given up.
PERMANENT_CODES = frozenset({
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS", "isv.TEMPLATE_PARAMS_ILLEGAL", "isv.INVALID_PARAMETERS",
    "isv.PARAM_LENGTH_LIMIT", "isv.BLACK_KEY_CONTROL_LIMIT", "isv.DENY_IP_RANGE",
    "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId.Inactive", "SignatureDoesNotMatch",
})  # fmt: skip


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    code: str  # "OK", the provider's error code, or "network"
    message: str = ""
    request_id: str | None = None
    biz_id: str | None = None  # the provider's id of the message sent

    @property
    def permanent(self) -> bool:
        return not self.ok and self.code in PERMANENT_CODES


class SmsProvider(Protocol):
    name: str

    def send(self, phone: str, template_code: str, params: Mapping[str, str]) -> SmsResult: ...


class LogProvider:
    """Sends nothing: writes the message to the log (the notification log keeps it too)."""

    name = "log"

    def send(self, phone: str, template_code: str, params: Mapping[str, str]) -> SmsResult:
        ref = "log-" + uuid.uuid4().hex[:16]
        log.info("SMS (log provider) to %s, template %s, params %s, ref %s", phone, template_code, dict(params), ref)
        return SmsResult(True, "OK", "logged", None, ref)


def make_provider(config: Mapping[str, Any]) -> SmsProvider:
    """The provider SMS_PROVIDER names: `log` (default) or `aliyun` (its ALIYUN_SMS_* keys)."""
    name = str(config.get("SMS_PROVIDER") or "log")
    if name == "aliyun":
        from cloud.sms.aliyun import AliyunSms

        return AliyunSms.from_config(config)
    return LogProvider()
