"""What the ledger refuses, as exceptions with stable codes for the API to map."""

from __future__ import annotations


class LedgerError(Exception):
    code = "ledger_error"


class InvalidInput(LedgerError, ValueError):
    """An id, key or fee line the ledger cannot take."""

    code = "invalid_input"


class InvalidAmount(InvalidInput):
    """Not an integer number of fen in the allowed range."""

    code = "invalid_amount"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(f"needs {needed} fen, {available} fen available")
        self.needed, self.available = needed, available


class IdempotencyConflict(LedgerError):
    """The key was already used for a different request (other kind, account or amount)."""

    code = "idempotency_conflict"


class UnknownHold(LedgerError):
    code = "unknown_hold"


class UnknownPosting(LedgerError):
    code = "unknown_posting"
