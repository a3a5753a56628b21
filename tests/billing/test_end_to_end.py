"""Through the real broker and ingest: a driver's order goes created → starting → charging →
ended → settled from a station's records, and `jc-cloud jobs` run twice at once (two
processes' worth of job runners) does each thing once: orders closed, a waiting order billed,
a due tariff pushed with `set_tariff` to the station that acknowledges it."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandService, MqttPublisher
from cloud.jobs.context import JobContext, JobSettings
from cloud.jobs.runner import run_once
from cloud.models import CommandLog, StationState, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.pki.registry import record_issued
from cloud.tariffs import service as tariffs
from cloud.tariffs.models import StationTariff
from jcproto import Reply
from tests.billing.edgesim import simulate
from tests.billing.support import (
    GUN,
    IDLE,
    PEAK_VALLEY,
    T0,
    balances,
    deliver,
    lines,
    order,
    state,
    station,
    tariff,
)
from tests.cloud.support import FakeStation, ThreadedIngest, mqtt_settings, wait_for
from tests.support.broker import Broker


def test_order_created_to_settled_through_broker_and_ingest(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    ident = broker.station("S1")
    with Session(engine) as s, s.begin():
        station(s, "S1")
        record_issued(s, ident.identity.cert, "station")
        t = tariff(s, PEAK_VALLEY)
        order(s, "o1", sent=False)
    assert state(engine, "o1") == ("created", None)
    with Session(engine) as s, s.begin():
        orders.apply(s, "o1", Event.START_SENT)
    assert state(engine, "o1") == ("starting", None)
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(ident.identity.key_pem, password=None)
    sim = simulate(t, start_ts=T0 - 15 * 60_000, start_wh=42_000, polls=[(10_000, 22_000)] * 180,
                   order_id="o1", key=key, gun=GUN)  # type: ignore[arg-type]
    st = FakeStation(broker, "S1").connect()
    try:
        st.send(sim.records[:1])
        wait_for(lambda: state(engine, "o1")[0] == "charging", what="charging")
        st.send(sim.records[1:-1])
        st.send(sim.records[-1:])
        assert st.wait_acked(sim.records[-1]["seq"]) == sim.records[-1]["seq"]
        wait_for(lambda: state(engine, "o1")[0] == "settled", what="settled")
    finally:
        st.close()
    assert sum(f for *_x, f in lines(engine, "o1")) == sim.cost_fen > 0
    b = balances(engine)
    assert (b.cash, b.held, b.debt) == (10_000 - sim.cost_fen, 0, 0)


def test_jobs_run_twice_at_once_do_each_thing_once(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    now = now_ms()
    old = now - 3 * 3_600_000
    with Session(engine) as s, s.begin():
        station(s, "S1")
        station(s, "S2")  # offline: its tariff stays due
        s.get(StationState, "S2").online = False  # type: ignore[union-attr]
        from tests.billing.support import station_key

        key = station_key(s, "S1")
        t = tariff(s, {**PEAK_VALLEY, "idle": IDLE}, effective_from=T0 - 86_400_000)
        v2 = tariffs.create(s, PEAK_VALLEY, code="std").tariff_id
        tariffs.assign(s, "S1", v2, effective_from=now - 1000, backdate=True)
        tariffs.assign(s, "S2", v2, effective_from=now - 1000, backdate=True)
        for i in range(3):  # stale: never sent, starting, charging
            order(s, f"stale{i}", driver=f"d{i}", sent=i > 0, now=old)
        order(s, "waiting", driver="w")
    sim = simulate(t, start_ts=T0 - 600_000, start_wh=1000, polls=[(10_000, 11_000)] * 100,
                   order_id="waiting", key=key, gun=GUN)
    deliver(engine, sim.records, sid="S1")  # ended, the car never reported leaving
    assert state(engine, "waiting") == ("ended", None)

    st = FakeStation(broker, "S1").connect()
    st.answer = lambda cmd: Reply(id=cmd["id"], ok=True) if cmd["type"] == "set_tariff" else None
    publisher = MqttPublisher(mqtt_settings(broker), "jobs-test")
    service = CommandService(sessionmaker(engine), publisher.publish)
    settings = JobSettings(stale_ms=3_600_000, release_wait_ms=0, command_timeout_s=5)
    results: list[dict[str, Any]] = []
    gate = threading.Barrier(2)

    def runner(i: int) -> None:
        gate.wait()
        results.append(run_once(JobContext(engine, f"h{i}", settings, send=service.send)))

    try:
        threads = [threading.Thread(target=runner, args=(i,)) for i in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        again = run_once(JobContext(engine, "h3", settings, send=service.send))
    finally:
        publisher.close()
        st.close()
    done = {name: sum(r.get(name) or 0 for r in results) for name in results[0]}
    assert done["close_stale"] == 3 and done["bill_unreleased"] == 1 and done["push_tariffs"] == 1
    assert again["close_stale"] == again["bill_unreleased"] == again["push_tariffs"] == 0
    assert [state(engine, f"stale{i}")[0] for i in range(3)] == ["cancelled", "abnormal", "abnormal"]
    assert state(engine, "waiting") == ("settled", None)
    assert balances(engine, "w").cash == 10_000 - sim.cost_fen  # billed once, no idle fee
    with Session(engine) as s:
        sent = s.scalar(select(func.count()).select_from(CommandLog).where(CommandLog.type == "set_tariff"))
        due = {r.sid: r.pushed_at for r in s.scalars(select(StationTariff).where(StationTariff.tariff_id == v2))}
    assert sent == 1 and st.commands[0]["tariff"]["id"] == v2
    assert due["S1"] is not None and due["S2"] is None
