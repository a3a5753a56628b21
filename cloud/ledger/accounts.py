"""The chart of accounts: which kinds exist, whose they are, and the sign each must keep.

Sign convention: an entry's amount is signed and a transaction's entries sum to zero, so the
sum of every balance is always zero. A driver's cash, bonus and held balances are what the
platform owes the driver (>= 0). The driver's debt account runs the other way: its balance
is <= 0 and minus it is what the driver owes. Platform accounts take any sign: payment
clearing goes negative as money comes in from the payment provider, revenue goes positive.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    CASH = "cash"  # the driver's paid-in balance (refundable)
    BONUS = "bonus"  # credit granted by the platform (spent first, never refunded)
    HELD = "held"  # set aside for running orders
    DEBT = "debt"  # minus what the driver owes (an order that cost more than its hold)
    # Minus what the driver owes for money paid out to them beyond what they had (a refund
    # WeChat paid after it was booked failed; a pile owner's share clawed back after it was
    # withdrawn). Only the driver's own money pays it, never bonus: bonus standing in for money
    # already paid out would be bonus turned into cash.
    DEBT_CASH = "debt_cash"
    REVENUE_ELECTRICITY = "revenue_electricity"
    REVENUE_SERVICE = "revenue_service"
    REVENUE_IDLE = "revenue_idle"
    CLEARING = "clearing"  # money in transit with the payment provider
    REFUNDS_PAYABLE = "refunds_payable"  # refunds accepted, not yet paid out
    PROMOTION = "promotion"  # where bonus credit comes from (a platform expense)
    OWNER_PAYABLE = "owner_payable"  # station owners' shares of closed periods, not yet paid out
    BANK = "bank"  # the platform's bank account: money paid out by bank transfer (owner payouts)
    # A shared pile's owner (a driver, docs/sharing.md): earned shares, and those being withdrawn.
    OWNER_EARNINGS = "owner_earnings"
    OWNER_WITHDRAWING = "owner_withdrawing"


DRIVER_KINDS = (Kind.CASH, Kind.BONUS, Kind.HELD, Kind.DEBT, Kind.DEBT_CASH)
PLATFORM_KINDS = (
    Kind.REVENUE_ELECTRICITY, Kind.REVENUE_SERVICE, Kind.REVENUE_IDLE,
    Kind.CLEARING, Kind.REFUNDS_PAYABLE, Kind.PROMOTION, Kind.OWNER_PAYABLE, Kind.BANK,
)  # fmt: skip
# A driver's accounts as a pile owner: opened on the first share, never below zero.
OWNER_KINDS = (Kind.OWNER_EARNINGS, Kind.OWNER_WITHDRAWING)
NON_NEGATIVE = (Kind.CASH, Kind.BONUS, Kind.HELD, *OWNER_KINDS)
NON_POSITIVE = (Kind.DEBT, Kind.DEBT_CASH)

# The fee lines of an order (jcproto.tariff's split) and the revenue account each books to.
FEE_LINES = {
    "electricity": Kind.REVENUE_ELECTRICITY,
    "service": Kind.REVENUE_SERVICE,
    "idle": Kind.REVENUE_IDLE,
}


def driver_code(driver_id: str, kind: Kind) -> str:
    return f"driver:{driver_id}:{kind.value}"


def platform_code(kind: Kind) -> str:
    return f"platform:{kind.value}"


def _in(kinds: tuple[Kind, ...]) -> str:
    return ", ".join(f"'{k.value}'" for k in kinds)


# CHECK constraints of ledger_accounts (the migration spells the same text).
CHECK_KIND = f"kind IN ({_in(DRIVER_KINDS + PLATFORM_KINDS + OWNER_KINDS)})"
CHECK_SIGN = (
    f"(kind NOT IN ({_in(NON_NEGATIVE)}) OR balance >= 0) "
    f"AND (kind NOT IN ({_in(NON_POSITIVE)}) OR balance <= 0)"
)
# A driver account has an owner and a cached balance; a platform account neither (its balance
# is summed on demand, so that no posting queues on one hot row).
CHECK_OWNER = (
    f"(kind IN ({_in(DRIVER_KINDS + OWNER_KINDS)}) AND driver_id IS NOT NULL AND balance IS NOT NULL) "
    f"OR (kind IN ({_in(PLATFORM_KINDS)}) AND driver_id IS NULL AND balance IS NULL)"
)
