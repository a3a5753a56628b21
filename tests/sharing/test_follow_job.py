"""The `sharing_withdrawals` job (cloud/jobs/sharing.py) against the fake WeChat Pay through our
signed client: a `sending` withdrawal's transfer bill is queried and SUCCESS pays it, FAIL or
CANCELLED (the payee never confirmed) releases it back to the earnings — exactly once, also
when several job rounds run at once (PostgreSQL) — and a `held` one that got no answer is
sent again with its own number. A hypothesis property over any mix of outcomes: earnings +
being withdrawn + paid out always equal what was earned, and the ledger verifies."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.fakes.keys import FakeKeys
from cloud.fakes.server import FakeServer
from cloud.jobs import sharing as sharing_job
from cloud.jobs.context import JobContext
from cloud.jobs.registry import JOBS
from cloud.ledger import service as ledger
from cloud.ledger.accounts import Kind
from cloud.sharing import withdrawals
from cloud.sharing.models import Withdrawal
from tests.cloud.support import migrated_engine

OWNER, OPENID = "7", "o-owner-openid-7"
EARNED = 10_000


@pytest.fixture(scope="module")
def keys() -> FakeKeys:
    return FakeKeys()


@pytest.fixture
def fake(keys: FakeKeys) -> Iterator[FakeServer]:
    with FakeServer.for_keys(keys) as server:
        yield server


@pytest.fixture
def config(keys: FakeKeys, fake: FakeServer, tmp_path: Path) -> dict[str, Any]:
    return keys.settings(keys.write(tmp_path / "keys"), fake.url)


def _ctx(engine: Engine, config: dict[str, Any], now: int | None = None) -> JobContext:
    ctx = JobContext(engine=engine, holder="test", config=config, extensions={})
    if now is not None:
        ctx.clock = lambda: now
    return ctx


def _earn(engine: Engine, fen: int = EARNED) -> None:
    with Session(engine) as s, s.begin():
        ledger.post_owner(
            s,
            f"test-earned-{fen}",
            "owner_share",
            OWNER,
            {Kind.REVENUE_SERVICE: -fen, Kind.OWNER_EARNINGS: fen},
        )


def _sent(engine: Engine, ctx: JobContext, fen: int) -> tuple[int, str]:
    """A withdrawal held and sent once through the job's provider (its state as WeChat answers)."""
    with Session(engine) as s, s.begin():
        w = withdrawals.request(s, OWNER, fen, OPENID)
        wid, no = w.id, w.out_bill_no
    from cloud.wallet.settings import provider_for

    withdrawals.send(
        sessionmaker(engine).begin, provider_for(ctx.config, ctx.extensions), wid, scene_id="1005"
    )
    return wid, no


def _state(engine: Engine, wid: int) -> str:
    with Session(engine) as s:
        return s.get_one(Withdrawal, wid).state


def _money(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as s:
        assert ledger.verify(s) == []
        earnings, withdrawing = ledger.owner_balances(s, OWNER)
        return earnings, withdrawing, ledger.platform_balance(s, Kind.CLEARING)


def test_the_job_is_registered() -> None:
    assert ("sharing_withdrawals", sharing_job.run) in JOBS


def test_success_fail_and_cancelled_are_followed_once(
    engine: Engine, fake: FakeServer, config: dict[str, Any]
) -> None:
    ctx = _ctx(engine, config)
    _earn(engine)
    fake.pay.transfer_outcome, fake.pay.transfer_pending = "SUCCESS", True
    ok, _ = _sent(engine, ctx, 1_000)
    fake.pay.transfer_outcome = "FAIL"
    failed, _ = _sent(engine, ctx, 2_000)
    fake.pay.transfer_outcome, fake.pay.transfer_pending = "WAIT_USER_CONFIRM", False
    unconfirmed, no = _sent(engine, ctx, 3_000)
    assert {_state(engine, w) for w in (ok, failed, unconfirmed)} == {"sending"}
    assert _money(engine) == (EARNED - 6_000, 6_000, 0)

    assert sharing_job.run(ctx) == 2  # paid and released; the unconfirmed one still waits
    assert (_state(engine, ok), _state(engine, failed), _state(engine, unconfirmed)) == (
        "paid",
        "released",
        "sending",
    )
    assert _money(engine) == (EARNED - 4_000, 3_000, 1_000)
    fake.pay.cancel_transfer(no)  # the payee never confirmed: WeChat cancels the bill
    assert sharing_job.run(ctx) == 1 and _state(engine, unconfirmed) == "released"
    assert _money(engine) == (EARNED - 1_000, 0, 1_000)
    assert sharing_job.run(ctx) == 0  # nothing left: nothing moves again
    assert _money(engine) == (EARNED - 1_000, 0, 1_000) and fake.pay.transferred(OPENID) == 1_000
    with Session(engine) as s:
        w = s.get_one(Withdrawal, unconfirmed)
        assert w.failure == "MERCHANT_REVOCATION" and w.package_info is None


def test_a_held_withdrawal_without_an_answer_is_sent_again(
    engine: Engine, fake: FakeServer, config: dict[str, Any]
) -> None:
    _earn(engine)
    with Session(engine) as s, s.begin():
        w = withdrawals.request(s, OWNER, 500, OPENID)  # held: its send never got an answer
        wid, at = w.id, w.updated_at
    assert (
        sharing_job.run(_ctx(engine, config, now=at + 1_000)) == 0
    )  # too fresh: its first send may be running
    assert _state(engine, wid) == "held" and fake.pay.transfers == {}
    assert sharing_job.run(_ctx(engine, config, now=at + withdrawals.RESEND_AFTER_MS)) == 1
    assert _state(engine, wid) == "paid" and fake.pay.transferred(OPENID) == 500


def test_without_a_merchant_the_job_does_nothing(engine: Engine) -> None:
    _earn(engine)
    with Session(engine) as s, s.begin():
        wid = withdrawals.request(s, OWNER, 500, OPENID).id
    assert sharing_job.run(_ctx(engine, {}, now=2**62)) == 0 and _state(engine, wid) == "held"


@pytest.mark.postgres
def test_concurrent_rounds_release_and_pay_exactly_once(
    pg_url: str, fake: FakeServer, config: dict[str, Any]
) -> None:
    engine = migrated_engine(pg_url)
    try:
        ctx = _ctx(engine, config)
        _earn(engine)
        fake.pay.transfer_outcome = "WAIT_USER_CONFIRM"
        sent = [_sent(engine, ctx, fen) for fen in (1_000, 2_000, 3_000, 400)]
        fake.pay.cancel_transfer(sent[0][1])
        fake.pay.cancel_transfer(sent[1][1])
        fake.pay.confirm_transfer(sent[2][1])
        with ThreadPoolExecutor(6) as pool:
            done = list(pool.map(lambda _i: sharing_job.run(_ctx(engine, config)), range(6)))
        assert sum(done) >= 3  # each round reports what it saw final; at least the three ended once
        assert [_state(engine, w) for w, _ in sent] == ["released", "released", "paid", "sending"]
        assert _money(engine) == (EARNED - 3_400, 400, 3_000)
        with Session(engine) as s:
            kinds = [t for (t,) in s.execute(ledger_kinds()).all()]
        assert (
            kinds.count("owner_withdraw_released") == 2 and kinds.count("owner_withdraw_paid") == 1
        )
    finally:
        engine.dispose()


def ledger_kinds() -> Any:
    from sqlalchemy import select

    from cloud.ledger.models import LedgerTransaction

    return select(LedgerTransaction.kind).where(LedgerTransaction.driver_id == OWNER)


OUTCOMES = st.sampled_from(
    ["SUCCESS", "FAIL", "PENDING_SUCCESS", "PENDING_FAIL", "CONFIRM", "CANCEL", "WAIT"]
)


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    plan=st.lists(st.tuples(st.integers(1, 3_000), OUTCOMES), min_size=1, max_size=4),
    rounds=st.integers(1, 3),
)
def test_any_mix_of_outcomes_keeps_the_owners_money_whole(
    tmp_path_factory: pytest.TempPathFactory,
    fake: FakeServer,
    config: dict[str, Any],
    plan: list[tuple[int, str]],
    rounds: int,
) -> None:
    engine = migrated_engine(f"sqlite:///{tmp_path_factory.mktemp('job') / 'c.sqlite'}")
    try:
        ctx = _ctx(engine, config)
        _earn(engine, 12_000)
        fake.pay.transfers.clear()
        sent = []
        for fen, outcome in plan:
            fake.pay.transfer_pending = outcome.startswith("PENDING")
            fake.pay.transfer_outcome = {
                "PENDING_SUCCESS": "SUCCESS",
                "PENDING_FAIL": "FAIL",
                "SUCCESS": "SUCCESS",
                "FAIL": "FAIL",
            }.get(outcome, "WAIT_USER_CONFIRM")
            sent.append((*_sent(engine, ctx, fen), fen, outcome))
        for _w, no, _fen, outcome in sent:
            if outcome == "CONFIRM":
                fake.pay.confirm_transfer(no)
            elif outcome == "CANCEL":
                fake.pay.cancel_transfer(no)
        for _ in range(rounds):
            sharing_job.run(ctx)
        expect = {
            "SUCCESS": "paid",
            "PENDING_SUCCESS": "paid",
            "CONFIRM": "paid",
            "FAIL": "released",
            "PENDING_FAIL": "released",
            "CANCEL": "released",
            "WAIT": "sending",
        }
        assert [_state(engine, w) for w, *_ in sent] == [expect[o] for *_, o in sent]
        paid = sum(fen for _w, _n, fen, o in sent if expect[o] == "paid")
        waiting = sum(fen for _w, _n, fen, o in sent if expect[o] == "sending")
        earnings, withdrawing, clearing = _money(engine)
        assert (earnings, withdrawing, clearing) == (12_000 - paid - waiting, waiting, paid)
        assert earnings + withdrawing + clearing == 12_000 and earnings >= 0
        assert fake.pay.transferred(OPENID) == paid
    finally:
        engine.dispose()
