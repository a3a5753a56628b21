"""The payment password lockout over whole attempt sequences (hypothesis), on a fake clock:
the rule in cloud/drivers/lockout.py, and the service that stores it (SQLite and PostgreSQL).

A plain model of the rule (a list of counting failures and a lock time) predicts every
answer; independently of it, no span of the window ever sees more than the limit of wrong
passwords checked between two right ones, and the right password is refused only while
locked."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count

import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.drivers import lockout, service
from cloud.drivers.errors import PaymentPasswordLocked, PaymentPasswordWrong
from cloud.drivers.models import Driver
from tests.cloud.support import migrated_engine

RIGHT, WRONG = "135790", "246801"
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # the rule, not argon2, is tested

policies = st.builds(
    lambda n, w, extra: lockout.Policy(max_failures=n, window_ms=w, lock_ms=w + extra),
    st.integers(1, 10), st.integers(1, 100_000), st.integers(0, 200_000))
steps = st.lists(st.tuples(st.integers(0, 150_000), st.booleans()), min_size=1, max_size=40)


@dataclass
class Model:
    """The rule as docs/cloud.md states it, written out plainly."""

    policy: lockout.Policy
    failures: list[int]
    locked_until: int | None = None

    def attempt(self, now: int, right: bool) -> tuple:
        if self.locked_until is not None and now < self.locked_until:
            return ("locked", self.locked_until)
        if right:
            self.failures, self.locked_until = [], None
            return ("ok",)
        self.failures = [t for t in self.failures if t > now - self.policy.window_ms] + [now]
        if len(self.failures) == self.policy.max_failures:
            self.failures, self.locked_until = [], now + self.policy.lock_ms
            return ("wrong", 0, self.locked_until)
        return ("wrong", self.policy.max_failures - len(self.failures), None)


def check_invariants(policy: lockout.Policy, log: list[tuple[int, bool, tuple]]) -> None:
    # wrong passwords checked, in runs between right ones (a right password clears the count,
    # and only the driver who knows it can do that)
    runs: list[list[int]] = [[]]
    for now, _right, out in log:
        if out[0] == "ok":
            runs.append([])
        elif out[0] == "wrong":
            runs[-1].append(now)
    for run in runs:
        for i, t in enumerate(run):
            in_span = [u for u in run[i:] if u < t + policy.window_ms]
            assert len(in_span) <= policy.max_failures, (policy, log)
    lock_until = None
    for now, right, out in log:
        if out[0] == "locked":
            assert lock_until is not None and now < lock_until == out[1], (policy, log)
        elif right:
            assert out == ("ok",), (policy, log)
        if out[0] == "wrong" and out[2] is not None:
            lock_until = out[2]
            assert out[1] == 0 and lock_until == now + policy.lock_ms
        if out[0] == "ok":
            lock_until = None


def pure_outcome(state: lockout.State, now: int, right: bool, policy: lockout.Policy) -> tuple[lockout.State, tuple]:
    step = lockout.begin(state, now, policy)
    if not step.allowed:
        return state, ("locked", step.retry_at)
    if right:
        return lockout.succeed(), ("ok",)
    return step.state, ("wrong", step.attempts_left, step.state.locked_until)


@settings(max_examples=400, deadline=None)
@given(policy=policies, seq=steps, start=st.integers(0, 2**40))
def test_the_rule_matches_the_model_and_keeps_the_invariants(policy, seq, start) -> None:
    model, state, now, log = Model(policy, []), lockout.State(), start, []
    for dt, right in seq:
        now += dt
        state, out = pure_outcome(state, now, right, policy)
        assert out == model.attempt(now, right)
        log.append((now, right, out))
        # what is stored round-trips through its column text
        assert lockout.decode(lockout.encode(state.failures)) == state.failures
    check_invariants(policy, log)


def test_policies_that_would_break_the_bound_are_refused() -> None:
    with pytest.raises(ValueError):
        lockout.Policy(max_failures=5, window_ms=10_000, lock_ms=9_999)
    for n in (0, 11):
        with pytest.raises(ValueError):
            lockout.Policy(max_failures=n)


def test_a_failure_booked_by_a_clock_ahead_still_counts() -> None:
    policy = lockout.Policy(max_failures=2, window_ms=1000, lock_ms=1000)
    state = lockout.begin(lockout.State(), 5_000, policy).state  # a worker whose clock is ahead
    assert lockout.begin(state, 4_000, policy).state.locked_until == 4_000 + 1000


# --- the same through the service and a real database ------------------------------------------
@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    e = migrated_engine(db_url)
    yield e
    e.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(policy=policies, seq=steps)
def test_the_service_answers_as_the_model(engine: Engine, policy: lockout.Policy, seq) -> None:
    transactions = sessionmaker(engine, expire_on_commit=False).begin
    with transactions() as s:
        driver = Driver(appid="wxtest", openid=f"o{next(_ids)}", created_at=0, updated_at=0, last_login_at=0)
        s.add(driver)
        s.flush()
        driver_id = driver.id
    service.set_payment_password(transactions, driver_id, RIGHT, 0, hasher=CHEAP)
    model, now, log = Model(policy, []), 1_000_000, []
    for dt, right in seq:
        now += dt
        out = _attempt(transactions, driver_id, right, policy, now)
        assert out == model.attempt(now, right), (out, log)
        log.append((now, right, out))
    check_invariants(policy, log)
    with Session(engine) as s:
        assert service.get_profile(s, driver_id, now).payment_password_locked_until == (
            model.locked_until if model.locked_until and model.locked_until > now else None)


_ids = count()


def _attempt(transactions, driver_id: int, right: bool, policy: lockout.Policy, now: int) -> tuple:
    try:
        service.verify_payment_password(transactions, driver_id, RIGHT if right else WRONG, policy, now,
                                        hasher=CHEAP)
        return ("ok",)
    except PaymentPasswordLocked as e:
        return ("locked", e.facts["retry_at"])
    except PaymentPasswordWrong as e:
        return ("wrong", e.facts["attempts_left"], e.facts["retry_at"])
