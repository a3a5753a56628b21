"""The judge against jcproto's arithmetic and the gateway's records (property tests): random
tariffs (four-decimal prices, periods, idle fees) and random sessions built as the gateway
builds them (tests/billing/edgesim.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.billing.judge import (
    BAD_SIGNATURE,
    COST_MISMATCH,
    DUPLICATE_END,
    ENERGY_BACKWARDS,
    ENERGY_IMPLAUSIBLE,
    IDLE_MISMATCH,
    NO_TARIFF,
    Bill,
    Ended,
    Rejection,
    Released,
    Started,
    judge,
)
from jcproto.tariff import Tariff, cost_lines, fen_e4, split_energy
from tests.billing.edgesim import SimSession, simulate
from tests.billing.strategies import sessions, tariffs

SETTINGS = settings(max_examples=100, deadline=None)
FEWER = settings(max_examples=50, deadline=None)


def facts(sim: SimSession) -> tuple[Started, Ended, Released | None]:
    readings = tuple((r["ts"], r["energy_wh"]) for r in sim.by_type("session_progress"))
    ended = Ended.from_record(sim.by_type("session_ended")[0])
    rel = sim.by_type("gun_released")
    released = Released(rel[0]["released_at"], rel[0]["idle_fen"]) if rel else None
    return Started(sim.started_at, sim.energy_start_wh, readings), ended, released


def run(tariff: Tariff, session: dict[str, Any]) -> SimSession:
    return simulate(tariff, **session)


RATED = 120_000  # no poll draws more (strategies.sessions)


@SETTINGS
@given(tariffs(), sessions())
def test_bill_equals_jcproto_and_the_gateway(tariff: Tariff, session: dict[str, Any]) -> None:
    sim = run(tariff, session)
    started, ended, released = facts(sim)
    bill = judge(started, ended, released, tariff, RATED)
    assert isinstance(bill, Bill), bill
    # the cloud's cost is the gateway's, to the fen; the idle fee too
    assert bill.energy_fen == sim.cost_fen == ended.cost_fen
    assert bill.idle_fen == sim.idle_fen
    assert bill.total_fen == sim.cost_fen + sim.idle_fen == sum(ln.fen for ln in bill.lines)
    # the lines are jcproto's: energy split reading by reading, each fee rounded once per name
    wh_by_name: dict[str, int] = {}
    points = [(sim.started_at, sim.energy_start_wh), *sim.points, (sim.ended_at, sim.energy_stop_wh)]
    for (t0, w0), (t1, w1) in zip(points, points[1:], strict=False):
        for name, wh in split_energy(tariff, t0, t1, w1 - w0).items():
            wh_by_name[name] = wh_by_name.get(name, 0) + wh
    expected = cost_lines(tariff, wh_by_name)
    assert list(bill.cost_lines) == expected
    assert sum(wh_by_name.values()) == bill.energy_wh == sim.energy_stop_wh - sim.energy_start_wh
    by_kind = {(ln.kind, ln.period): ln for ln in bill.lines}
    for line in expected:
        p = tariff.prices(line.name)
        assert by_kind[("electricity", line.name)].fen == fen_e4(line.wh, p.energy_price_e4)
        assert by_kind[("service", line.name)].fen == fen_e4(line.wh, p.service_price_e4)
        assert by_kind[("electricity", line.name)].energy_wh == line.wh
    assert (("idle", None) in by_kind) == (sim.idle_fen > 0)


@FEWER
@given(tariffs(), sessions(max_polls=60), st.integers(1, 10**6), st.sampled_from([-1, 1]))
def test_any_other_cost_is_rejected(tariff: Tariff, session: dict[str, Any], delta: int,
                                    sign: int) -> None:
    sim = run(tariff, session)
    started, ended, released = facts(sim)
    wrong = max(0, ended.cost_fen + sign * delta)
    if wrong == ended.cost_fen:
        return
    got = judge(started, replace(ended, cost_fen=wrong), released, tariff, RATED)
    assert isinstance(got, Rejection) and got.code == COST_MISMATCH
    assert str(wrong) in got.text and got.reason.startswith("cost_mismatch: ")


@FEWER
@given(tariffs(idle=True), sessions(max_polls=30), st.integers(1, 10**4))
def test_any_other_idle_fee_is_rejected(tariff: Tariff, session: dict[str, Any], delta: int) -> None:
    sim = run(tariff, {**session, "release_after_ms": session["release_after_ms"] or 3_600_000})
    started, ended, released = facts(sim)
    assert released is not None
    got = judge(started, ended, replace(released, idle_fen=released.idle_fen + delta), tariff, RATED)
    assert isinstance(got, Rejection) and got.code == IDLE_MISMATCH


@FEWER
@given(tariffs(), sessions(max_polls=30))
def test_untrusted_or_impossible_sessions_are_rejected(tariff: Tariff, session: dict[str, Any]) -> None:
    sim = run(tariff, session)
    started, ended, released = facts(sim)
    unsigned = replace(ended, signature_ok=False, problem="bad_signature (seq 9)")
    assert judge(started, unsigned, released, tariff, RATED).code == BAD_SIGNATURE  # type: ignore[union-attr]
    backwards = replace(ended, energy_stop_wh=ended.energy_start_wh - 1)
    assert judge(started, backwards, released, tariff, RATED).code == ENERGY_BACKWARDS  # type: ignore[union-attr]
    assert judge(started, ended, released, None, RATED).code == NO_TARIFF  # type: ignore[union-attr]
    other = replace(ended, energy_stop_wh=ended.energy_stop_wh + 1)
    got = judge(started, ended, released, tariff, RATED, other_ends=[other])
    assert isinstance(got, Rejection) and got.code == DUPLICATE_END
    # the same end again (a renumbered copy) is no dispute
    assert isinstance(judge(started, ended, released, tariff, RATED, other_ends=[ended]), Bill)


@FEWER
@given(tariffs(idle=False), st.integers(60_000, 10 * 3_600_000), st.integers(1_000, 350_000))
def test_energy_beyond_the_guns_rating_is_rejected(tariff: Tariff, duration: int, rated: int) -> None:
    # the most a gun can give in the time: rated × duration, +5 % and 20 Wh of slack
    most = (rated * duration * 105 // 100 + 20 * 3_600_000) // 3_600_000
    for wh, ok in ((most, True), (most + 1, False)):
        cost = sum(ln.fen for ln in cost_lines(tariff, split_energy(tariff, 0, duration, wh)))
        ended = Ended(started_at=0, ended_at=duration, energy_start_wh=0, energy_stop_wh=wh, cost_fen=cost)
        got = judge(None, ended, None, tariff, rated)
        assert isinstance(got, Bill) if ok else got.code == ENERGY_IMPLAUSIBLE, (wh, got)  # type: ignore[union-attr]
    # an unknown rating checks nothing
    assert isinstance(judge(None, replace(ended, cost_fen=cost), None, tariff, None), Bill)
