"""Orders moved and billed by the records ingest stores (cloud/ingest/store.py →
cloud.billing.service), on SQLite and PostgreSQL: settled with lines and the balance right to
the fen, every rejection abnormal with its reason and the hold kept, duplicates, late records,
a tariff change mid-session, local-card sessions left alone, billing errors contained."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.billing import service as billing
from cloud.models import RawRecord
from cloud.orders import service as orders
from jcproto import with_signature
from jcproto.tariff import Tariff
from tests.billing.edgesim import SimSession, simulate
from tests.billing.support import (
    GUN,
    IDLE,
    PEAK_VALLEY,
    SID,
    T0,
    balances,
    deliver,
    lines,
    order,
    state,
    station,
    station_key,
    tariff,
)

START = T0 - 20 * 60_000  # 07:40 in Shanghai: the session crosses valley → peak at 08:00
POLLS = [(5_000, 30_000)] * 480  # 40 minutes at 30 kW


def setup(engine: Engine, body: dict[str, Any] = PEAK_VALLEY, *, rated: int | None = 60_000,
          hold: int = 5_000, cash: int = 10_000, oid: str = "o1", sid: str = SID,
          driver: str = "1") -> tuple[Any, Tariff | None]:
    with Session(engine) as s, s.begin():
        station(s, sid, rated_power_w=rated)
        key = station_key(s, sid)
        t = tariff(s, body, sid=sid, code=f"std-{sid}") if body else None
        order(s, oid, hold=hold, cash=cash, sid=sid, driver=driver)
    return key, t


def session(key: Any, t: Tariff, oid: str | None = "o1", **kw: Any) -> SimSession:
    kw.setdefault("start_ts", START)
    kw.setdefault("start_wh", 5_000_000)
    kw.setdefault("polls", POLLS)
    return simulate(t, order_id=oid, key=key, gun=GUN, **kw)


def resign(key: Any, end: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return with_signature({**end, **changes}, key)


def test_session_settles_with_lines_and_the_balance_right_to_the_fen(engine: Engine) -> None:
    key, t = setup(engine)
    assert t is not None
    sim = session(key, t)
    ends = [i for i, r in enumerate(sim.records) if r["type"] == "session_ended"]
    deliver(engine, sim.records[:1])
    assert state(engine, "o1") == ("charging", None)
    deliver(engine, sim.records[1:ends[0]])
    assert state(engine, "o1") == ("charging", None)
    deliver(engine, sim.records[ends[0]:])
    assert state(engine, "o1") == ("settled", None)
    got = lines(engine, "o1")
    assert {p for _k, p, _w, _f in got} == {"valley", "peak"}
    assert sum(f for *_x, f in got) == sim.cost_fen > 0
    b = balances(engine)
    assert (b.cash, b.held, b.debt) == (10_000 - sim.cost_fen, 0, 0)
    with Session(engine) as s:
        o = orders.get(s, "o1")
        assert o is not None and (o.total_fen, o.debt_fen, o.session_id) == (sim.cost_fen, 0, sim.session_id)


def test_bill_beyond_the_hold_is_debt(engine: Engine) -> None:
    key, t = setup(engine, hold=300, cash=500)
    assert t is not None
    sim = session(key, t)
    deliver(engine, sim.records)
    assert state(engine, "o1") == ("settled", None)
    b = balances(engine)
    assert sim.cost_fen > 500 and b.held == 0
    assert b.cash + b.bonus - b.debt == 500 - sim.cost_fen
    with Session(engine) as s:
        o = orders.get(s, "o1")
        assert o is not None and o.debt_fen == b.debt > 0


def test_idle_fee_waits_for_the_car_to_leave(engine: Engine) -> None:
    key, t = setup(engine, {**PEAK_VALLEY, "idle": IDLE})
    assert t is not None
    sim = session(key, t, release_after_ms=47 * 60_000)  # 10 free, then 37 min: 3 steps
    deliver(engine, sim.records[:-1])
    assert state(engine, "o1") == ("ended", None)
    deliver(engine, sim.records[-1:])
    assert state(engine, "o1") == ("settled", None)
    assert sim.idle_fen == 300
    assert ("idle", None, None, 300) in lines(engine, "o1")
    assert balances(engine).cash == 10_000 - sim.cost_fen - 300


def _bad_signature(key: Any, sim: SimSession) -> list[dict[str, Any]]:
    return [*sim.records[:-1], {**sim.records[-1], "cost_fen": sim.cost_fen + 1}]  # changed after signing


def _cost(key: Any, sim: SimSession) -> list[dict[str, Any]]:
    return [*sim.records[:-1], resign(key, sim.records[-1], cost_fen=sim.cost_fen - 1)]


def _backwards(key: Any, sim: SimSession) -> list[dict[str, Any]]:
    end = sim.records[-1]
    return [sim.records[0], resign(key, end, energy_stop_wh=end["energy_start_wh"] - 5, cost_fen=0)]


def _duplicate(key: Any, sim: SimSession) -> list[dict[str, Any]]:
    end = sim.records[-1]
    return [*sim.records, resign(key, end, seq=end["seq"] + 1, stop_reason="remote")]


CASES = {
    "bad_signature": (_bad_signature, {}),
    "cost_mismatch": (_cost, {}),
    "energy_backwards": (_backwards, {}),
    "energy_implausible": (lambda k, sim: sim.records, {"rated": 7_000}),
    "no_tariff": (lambda k, sim: sim.records, {"no_tariff": True}),
    "duplicate_end": (_duplicate, {}),
}


def test_rejections_leave_the_order_abnormal_with_its_reason_and_the_hold(engine: Engine) -> None:
    for i, (case, (build, opts)) in enumerate(CASES.items()):  # a station and a driver each
        sid, oid, driver = f"R{i}", f"o-{case}", f"d{i}"
        key, t = setup(engine, {} if opts.get("no_tariff") else PEAK_VALLEY,
                       rated=opts.get("rated", 60_000), sid=sid, oid=oid, driver=driver)
        sim = session(key, t or Tariff.from_dict({"id": "x", **PEAK_VALLEY}), oid=oid)
        deliver(engine, build(key, sim), sid=sid)
        got, reason = state(engine, oid)
        assert got == "abnormal" and reason is not None and reason.startswith(case + ": "), (case, reason)
        assert lines(engine, oid) == []
        b = balances(engine, driver)
        assert (b.cash, b.held) == (5_000, 5_000), case


def test_idle_fee_other_than_the_tariffs_is_rejected(engine: Engine) -> None:
    key, t = setup(engine, {**PEAK_VALLEY, "idle": IDLE})
    assert t is not None
    sim = session(key, t, release_after_ms=47 * 60_000)
    sim.records[-1]["idle_fen"] += 100
    deliver(engine, sim.records)
    assert state(engine, "o1")[0] == "abnormal"
    assert (state(engine, "o1")[1] or "").startswith("idle_mismatch: ")
    assert balances(engine).held == 5_000


def test_a_second_end_while_waiting_for_the_car_is_rejected_at_once(engine: Engine) -> None:
    key, t = setup(engine, {**PEAK_VALLEY, "idle": IDLE})
    assert t is not None
    sim = session(key, t)
    deliver(engine, sim.records)
    assert state(engine, "o1") == ("ended", None)
    end = sim.records[-1]
    deliver(engine, [resign(key, end, seq=end["seq"] + 1, energy_stop_wh=end["energy_stop_wh"] + 10)])
    assert (state(engine, "o1")[1] or "").startswith("duplicate_end: ")


def test_the_same_end_again_under_a_new_seq_bills_once(engine: Engine) -> None:
    key, t = setup(engine)
    assert t is not None
    sim = session(key, t)
    end = sim.records[-1]
    deliver(engine, sim.records)
    deliver(engine, [resign(key, end, seq=end["seq"] + 1)])  # a renumbered copy
    assert state(engine, "o1") == ("settled", None)
    assert balances(engine).cash == 10_000 - sim.cost_fen


def test_session_across_a_tariff_change_is_billed_with_the_version_at_its_start(engine: Engine) -> None:
    key, t = setup(engine)
    assert t is not None
    dearer = {"periods": [{**p, "service_price_e4": p["service_price_e4"] * 2} for p in PEAK_VALLEY["periods"]]}
    with Session(engine) as s, s.begin():
        tariff(s, dearer, effective_from=START + 10 * 60_000)  # std-v2, mid-session
    sim = session(key, t)  # the gateway priced it all with std-v1
    deliver(engine, sim.records)
    assert state(engine, "o1") == ("settled", None)
    assert sum(f for *_x, f in lines(engine, "o1")) == sim.cost_fen


def _named(key: Any, sim: SimSession, tariff_id: str) -> list[dict[str, Any]]:
    """The records with the end naming the version the gateway priced with (signed)."""
    return [resign(key, r, tariff_id=tariff_id) if r["type"] == "session_ended" else r for r in sim.records]


@pytest.mark.parametrize("named", [True, False], ids=["named", "unnamed"])
def test_the_version_the_gateway_names_is_billed(engine: Engine, named: bool) -> None:
    # A change one minute before the session's start (by the cloud's schedule), but the
    # gateway priced it with the version before (the start command, sent just before the
    # change, carried it): the end names that version, and the cloud bills the same one.
    key, t = setup(engine)
    assert t is not None
    dearer = {"periods": [{**p, "service_price_e4": p["service_price_e4"] * 2} for p in PEAK_VALLEY["periods"]]}
    with Session(engine) as s, s.begin():
        tariff(s, dearer, code=f"std-{SID}", effective_from=START - 60_000)
    sim = session(key, t)
    deliver(engine, _named(key, sim, t.id) if named else sim.records)
    if named:
        assert state(engine, "o1") == ("settled", None)
        assert sum(f for *_x, f in lines(engine, "o1")) == sim.cost_fen
    else:  # the version in force at the start gives another cost: for a person to review
        assert state(engine, "o1")[0] == "abnormal" and "cost_mismatch" in (state(engine, "o1")[1] or "")


@pytest.mark.parametrize("which", ["never_assigned", "cancelled"])
def test_a_named_version_the_station_never_had_or_cancelled_is_not_taken(engine: Engine, which: str) -> None:
    from cloud.tariffs import service as tariffs

    key, t = setup(engine)
    assert t is not None
    cheaper = {"periods": [{**p, "service_price_e4": 0} for p in PEAK_VALLEY["periods"]]}
    with Session(engine) as s, s.begin():
        if which == "never_assigned":
            name = tariffs.create(s, cheaper, code="other").tariff_id
        else:
            name = tariffs.create(s, cheaper, code=f"std-{SID}").tariff_id
            a = tariffs.assign(s, SID, name, effective_from=tariffs.now_ms() + 3_600_000)
            tariffs.cancel(s, a.id, by="ops")
    sim = simulate(Tariff.from_dict({**t.to_dict(), **cheaper, "id": name}), start_ts=START,
                   start_wh=5_000_000, polls=POLLS, order_id="o1", key=key, gun=GUN)
    deliver(engine, _named(key, sim, name))
    # billed with the version in force at the start instead: the costs differ, for review
    assert state(engine, "o1")[0] == "abnormal" and "cost_mismatch" in (state(engine, "o1")[1] or "")


def test_records_days_late_still_settle(engine: Engine) -> None:
    key, t = setup(engine)
    assert t is not None
    sim = session(key, t)
    with Session(engine) as s, s.begin():  # the stale job gave up on it meanwhile
        assert orders.close_stale(s, older_than_ms=0, now=orders.now_ms() + 1) == ["o1"]
    assert state(engine, "o1")[0] == "abnormal" and balances(engine).held == 5_000
    deliver(engine, sim.records)
    assert state(engine, "o1")[0] == "settled"
    assert balances(engine).cash == 10_000 - sim.cost_fen


def test_sessions_without_an_order_are_left_alone(engine: Engine) -> None:
    key, t = setup(engine)
    assert t is not None
    deliver(engine, session(key, t, oid=None).records)
    assert state(engine, "o1") == ("starting", None)
    assert balances(engine).held == 5_000


def test_an_error_in_billing_marks_the_order_abnormal_and_ingest_goes_on(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, t = setup(engine)
    assert t is not None
    sim = session(key, t)

    def broken(*_a: Any) -> int:
        raise RuntimeError("rating unreadable")

    monkeypatch.setattr(billing, "default_rated_power", broken)
    deliver(engine, sim.records)
    got, reason = state(engine, "o1")
    assert got == "abnormal" and reason == "billing_error: RuntimeError: rating unreadable"
    with Session(engine) as s:  # every record stored all the same
        seqs = list(s.scalars(select(RawRecord.seq).where(RawRecord.sid == SID)))
    assert sorted(seqs) == [r["seq"] for r in sim.records]
    assert balances(engine).held == 5_000


def test_records_stored_before_their_order_was_seen_are_caught_up_by_the_job(engine: Engine) -> None:
    key, t = setup(engine, oid="o0")
    assert t is not None
    sim = session(key, t, oid="o2")
    deliver(engine, sim.records)  # order o2 not there yet: as if another process had not committed it
    with Session(engine) as s, s.begin():
        order(s, "o2", cash=0, hold=5_000)
    assert state(engine, "o2") == ("starting", None)
    with Session(engine) as s, s.begin():
        assert billing.catch_up(s, quiet_ms=0, now=orders.now_ms() + 1) == ["o2"]
    assert state(engine, "o2") == ("settled", None)
    with Session(engine) as s, s.begin():
        assert billing.catch_up(s, quiet_ms=0, now=orders.now_ms() + 1) == []
    b = balances(engine)
    assert (b.cash, b.held) == (5_000 - sim.cost_fen, 5_000)  # o0 still holds its 5,000


def test_a_session_of_an_order_not_yet_marked_sent_still_bills(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        station(s)
        key = station_key(s)
        t = tariff(s, PEAK_VALLEY)
        order(s, "o1", sent=False)
    sim = session(key, t)
    deliver(engine, sim.records)
    assert state(engine, "o1") == ("settled", None)


def test_one_batch_of_many_sessions_moves_only_the_orders_it_names(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Ingest looks a batch's sessions up at once (billing.sessions_with_orders): the order's
    session settles beside a card's session, one naming an order nobody created (logged) and
    one an order names by its session id."""
    key, t = setup(engine)
    assert t is not None
    with Session(engine) as s, s.begin():
        order(s, "o3", cash=0, hold=5_000)
    paid = session(key, t)
    card = session(key, t, oid=None, seq=paid.records[-1]["seq"] + 1)
    ghost = session(key, t, oid="o-nobody", seq=card.records[-1]["seq"] + 1)
    linked = session(key, t, oid=None, seq=ghost.records[-1]["seq"] + 1)
    with Session(engine) as s, s.begin():
        s.get(orders.Order, "o3").session_id = linked.session_id
    with caplog.at_level("WARNING", logger="jc.billing"):
        deliver(engine, paid.records + card.records + ghost.records + linked.records)
    assert state(engine, "o1") == ("settled", None)
    with Session(engine) as s:
        every = {paid.session_id, card.session_id, ghost.session_id, linked.session_id, "never-stored"}
        assert billing.sessions_with_orders(s, every) == {paid.session_id, linked.session_id}
    assert any("o-nobody" in r.getMessage() and "does not exist" in r.getMessage() for r in caplog.records)
    assert state(engine, "o3") == ("settled", None)  # found by its session id
