"""What the wallet refuses, each with a stable `code` (the driver API's error code). They are
driver-domain errors, so the driver API words them (zh-CN / English) like its own."""

from __future__ import annotations

from cloud.drivers.errors import DriverError


class WalletError(DriverError):
    code = "wallet_error"


class NotFound(WalletError):
    """No such recharge or refund of this driver (another driver's answers the same)."""

    code = "not_found"


class PaymentNotConfigured(WalletError):
    code = "payment_not_configured"


class RechargeAmountInvalid(WalletError):
    code = "recharge_amount_invalid"  # facts: min_fen, max_fen


class NothingToRefund(WalletError):
    code = "nothing_to_refund"


class RefundTooLarge(WalletError):
    code = "refund_amount_too_large"  # facts: refundable_fen


class PaymentPasswordRequired(WalletError):
    code = "payment_password_required"


class PaymentUnavailable(WalletError):
    """The provider could not be reached; nothing was charged. Try again."""

    code = "payment_unavailable"


class PaymentFailed(WalletError):
    """The provider refused to create the payment (its code is in the log)."""

    code = "payment_failed"


class ChannelUnavailable(WalletError):
    """This way of paying is not open to this driver here (no official account configured,
    the driver never logged in through it, the payer's IP unknown); facts: channel."""

    code = "payment_channel_unavailable"


class UnknownPayment(WalletError):
    """A notification or query about an out_trade_no / out_refund_no we never made."""

    code = "unknown_payment"
