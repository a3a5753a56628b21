"""The charging order's state machine, as pure data and one function (no I/O).

    created ─start_sent─► starting ─session_started─► charging ─session_ended─► ended ─billed─► settled
       │                     │  (start_accepted)                                 │ (gun_released)
       └─cancel─► cancelled  ├─start_refused / start_expired─► failed             └─bill_rejected─► abnormal
                             └─timeout─► abnormal ◄─timeout── charging / ended
    abnormal ─resolve_bill─► settled | ─resolve_void─► cancelled      (operator resolution)

Each legal (state, event) pair names the next state and what it does to the money: `release`
returns the hold, `settle` books the bill against it, `keep` leaves the hold where it is
(a session whose records are days late still has its hold until they arrive). Events that
repeat harmlessly (a second start_accepted, gun_released) are legal no-ops; anything else
raises IllegalTransition, so a caller can never move a closed order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    CREATED = "created"
    STARTING = "starting"
    CHARGING = "charging"
    ENDED = "ended"
    SETTLED = "settled"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ABNORMAL = "abnormal"


class Event(StrEnum):
    START_SENT = "start_sent"  # the start command was published
    START_ACCEPTED = "start_accepted"  # the gateway's reply: accepted
    START_REFUSED = "start_refused"  # the gateway's reply: refused (blocked_by_load, ...)
    START_EXPIRED = "start_expired"  # the command expired unanswered: the gateway never runs it
    SESSION_STARTED = "session_started"
    SESSION_ENDED = "session_ended"
    GUN_RELEASED = "gun_released"
    BILLED = "billed"  # the bill checked out: book it
    BILL_REJECTED = "bill_rejected"  # cost mismatch, bad signature, impossible energy, ...
    TIMEOUT = "timeout"  # the periodic job found the order open too long
    CANCEL = "cancel"  # the driver or the system gave up before anything was sent
    RESOLVE_BILL = "resolve_bill"  # an operator settled an abnormal order
    RESOLVE_VOID = "resolve_void"  # an operator voided it (the hold goes back)


class Money(StrEnum):
    KEEP = "keep"
    RELEASE = "release"
    SETTLE = "settle"


TERMINAL = frozenset({State.SETTLED, State.FAILED, State.CANCELLED})
# States in which the order's hold is still open.
HOLDING = frozenset(State) - TERMINAL

S, E, M = State, Event, Money
TRANSITIONS: dict[tuple[State, Event], tuple[State, Money]] = {
    (S.CREATED, E.START_SENT): (S.STARTING, M.KEEP),
    (S.CREATED, E.CANCEL): (S.CANCELLED, M.RELEASE),
    (S.STARTING, E.START_ACCEPTED): (S.STARTING, M.KEEP),
    (S.STARTING, E.START_REFUSED): (S.FAILED, M.RELEASE),
    (S.STARTING, E.START_EXPIRED): (S.FAILED, M.RELEASE),
    (S.STARTING, E.SESSION_STARTED): (S.CHARGING, M.KEEP),
    # Records of one station arrive in order, but ingest may see started and ended together.
    (S.STARTING, E.SESSION_ENDED): (S.ENDED, M.KEEP),
    (S.STARTING, E.TIMEOUT): (S.ABNORMAL, M.KEEP),
    (S.CHARGING, E.START_ACCEPTED): (S.CHARGING, M.KEEP),  # the reply overtaken by the record
    (S.CHARGING, E.SESSION_STARTED): (S.CHARGING, M.KEEP),
    (S.CHARGING, E.SESSION_ENDED): (S.ENDED, M.KEEP),
    (S.CHARGING, E.TIMEOUT): (S.ABNORMAL, M.KEEP),
    (S.ENDED, E.GUN_RELEASED): (S.ENDED, M.KEEP),
    (S.ENDED, E.SESSION_ENDED): (S.ABNORMAL, M.KEEP),  # a second end for one session
    (S.ENDED, E.BILLED): (S.SETTLED, M.SETTLE),
    (S.ENDED, E.BILL_REJECTED): (S.ABNORMAL, M.KEEP),
    (S.ENDED, E.TIMEOUT): (S.ABNORMAL, M.KEEP),
    (S.ABNORMAL, E.RESOLVE_BILL): (S.SETTLED, M.SETTLE),
    (S.ABNORMAL, E.RESOLVE_VOID): (S.CANCELLED, M.RELEASE),
}

# An abnormal order always says why. Some transitions carry their own reason; the others into
# `abnormal` (a rejected bill) need the caller's.
DEFAULT_REASONS: dict[tuple[State, Event], str] = {
    (S.ENDED, E.SESSION_ENDED): "duplicate_end: a second session_ended for one session",
    (S.STARTING, E.TIMEOUT): "timeout: no session after the start was sent",
    (S.CHARGING, E.TIMEOUT): "timeout: the session never ended",
    (S.ENDED, E.TIMEOUT): "timeout: the session ended but was never billed",
}
NEEDS_REASON = frozenset(
    k for k, (to, _m) in TRANSITIONS.items() if to is S.ABNORMAL and k not in DEFAULT_REASONS
)


class IllegalTransition(ValueError):
    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"order in state {state.value!r} cannot take event {event.value!r}")
        self.state, self.event = state, event


@dataclass(frozen=True)
class Transition:
    source: State
    event: Event
    target: State
    money: Money


def step(state: State | str, event: Event | str) -> Transition:
    """The transition `event` makes from `state`; IllegalTransition if there is none."""
    s, e = State(state), Event(event)
    try:
        target, money = TRANSITIONS[(s, e)]
    except KeyError:
        raise IllegalTransition(s, e) from None
    return Transition(s, e, target, money)


def legal_events(state: State | str) -> list[Event]:
    s = State(state)
    return [e for (src, e) in TRANSITIONS if src is s]
