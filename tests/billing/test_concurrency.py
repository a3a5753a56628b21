"""Two ingest processes storing one session's end at the same instant (the end and a
renumbered copy of it, each fresh to its process) bill the order once; the ledger balances."""

from __future__ import annotations

import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.ingest.store import Store
from cloud.ledger import service as ledger
from jcproto import with_signature
from tests.billing.edgesim import simulate
from tests.billing.support import (
    GUN,
    PEAK_VALLEY,
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


def test_one_end_stored_by_two_processes_at_once_bills_once(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        station(s)
        key = station_key(s)
        t = tariff(s, PEAK_VALLEY)
        order(s, "o1")
    sim = simulate(t, start_ts=T0 - 600_000, start_wh=0, polls=[(3_000, 40_000)] * 400,
                   order_id="o1", key=key, gun=GUN)
    deliver(engine, sim.records[:-1])
    end = sim.records[-1]
    copies = [[end], [with_signature({**end, "seq": end["seq"] + 1}, key)]]
    gate = threading.Barrier(2)
    errors: list[BaseException] = []

    def process(records: list[dict]) -> None:  # type: ignore[type-arg]
        store = Store(engine)  # a process of its own: its own caches
        gate.wait()
        try:
            deliver(engine, records, store=store)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=process, args=(c,)) for c in copies]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    assert state(engine, "o1") == ("settled", None)
    assert sum(f for *_x, f in lines(engine, "o1")) == sim.cost_fen
    assert balances(engine).cash == 10_000 - sim.cost_fen
    with Session(engine) as s:
        assert ledger.verify(s) == []
