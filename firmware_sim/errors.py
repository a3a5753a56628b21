"""The one error type the simulator's models and control API raise for bad requests."""

from __future__ import annotations


class SimError(Exception):
    """A request the simulator refuses; `status` is the HTTP status the control API answers.

    400: the request is malformed, 404: no such device/gun/field, 409: not possible in the
    present state (e.g. plugging an EV into an occupied gun).
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
