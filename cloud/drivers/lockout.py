"""When a payment password may be tried (pure; times in epoch ms).

Rule: a wrong attempt counts for `window_ms`; the `max_failures`-th that counts locks the
password for `lock_ms` and starts the count afresh; while locked every attempt is refused
unchecked, the right password too; a right password clears the count. Because `lock_ms` is
at least `window_ms` (the settings insist), no span of `window_ms` ever sees more than
`max_failures` wrong passwords checked.

An attempt is booked before the password is checked (`begin`), as if it were wrong, and a
right one then clears the count (`succeed`). So attempts racing on one driver each see the
others' bookings, and a process that dies while checking has spent an attempt, not saved one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    max_failures: int = 5
    window_ms: int = 3600_000
    lock_ms: int = 3 * 3600_000

    def __post_init__(self) -> None:
        if not 1 <= self.max_failures <= 10:
            raise ValueError("max_failures must be 1..10")
        if self.window_ms < 1 or self.lock_ms < self.window_ms:
            raise ValueError("the lock must last at least as long as the window failures count in")


@dataclass(frozen=True)
class State:
    failures: tuple[int, ...] = ()  # times of the wrong attempts that may still count
    locked_until: int | None = None

    def locked(self, now: int) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class Begin:
    allowed: bool  # False: locked, do not check the password
    state: State  # to store before checking
    retry_at: int | None  # when refused: when the lock ends
    attempts_left: int  # wrong attempts left after this one, if this one is wrong


def counting(state: State, now: int, policy: Policy) -> tuple[int, ...]:
    # a failure booked by a worker whose clock runs ahead still counts
    return tuple(t for t in state.failures if t > now - policy.window_ms)


def begin(state: State, now: int, policy: Policy) -> Begin:
    if state.locked(now):
        return Begin(False, state, state.locked_until, 0)
    failures = counting(state, now, policy) + (now,)
    if len(failures) >= policy.max_failures:
        return Begin(True, State((), now + policy.lock_ms), None, 0)
    return Begin(True, State(failures, None), None, policy.max_failures - len(failures))


def succeed() -> State:
    """The password checked right: the count and the lock its own booking may have set go."""
    return State()


def encode(failures: tuple[int, ...]) -> str:
    return ",".join(str(t) for t in failures)


def decode(text: str | None) -> tuple[int, ...]:
    return tuple(int(t) for t in (text or "").split(",") if t.strip().lstrip("-").isdigit())
