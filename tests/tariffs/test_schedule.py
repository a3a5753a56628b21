"""Scheduled tariff changes at the cloud (调价任务): cancelled ones kept and no longer in
force, pushes ahead of time, withdrawals; and the push job through the real broker, ingest
and command service to a station that answers, and to one that comes back online afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandService, MqttPublisher
from cloud.jobs import push_tariffs
from cloud.jobs.context import JobContext, JobSettings
from cloud.models import Station, StationState, now_ms
from cloud.tariffs import service
from cloud.tariffs.models import StationTariff
from cloud.tariffs.service import TariffServiceError
from jcproto import Reply
from tests.cloud.support import FakeStation, ThreadedIngest, mqtt_settings, wait_for
from tests.support.broker import Broker, broker  # noqa: F401  (fixture)

BODY = {"currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 4000}]}
DAY = 86_400_000


@pytest.fixture
def s(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        session.add(Station(sid="S1", name="一号站"))
        session.flush()
        yield session


def test_a_cancelled_change_is_kept_and_no_longer_counts(s: Session) -> None:
    v1 = service.create(s, BODY, code="std").tariff_id
    v2 = service.create(s, {**BODY, "periods": [{**BODY["periods"][0], "energy_price_e4": 9000}]}, code="std").tariff_id
    service.assign(s, "S1", v1, effective_from=1_000, backdate=True)
    a2 = service.assign(s, "S1", v2, effective_from=10_000, backdate=True)
    assert service.in_force(s, "S1", 10_000).id == v2
    with pytest.raises(TariffServiceError) as err:
        service.cancel(s, a2.id, by="ops", now=10_000)  # in force already: history
    assert err.value.code == "history"
    service.cancel(s, a2.id, by="ops", now=9_999)
    assert service.in_force(s, "S1", 20_000).id == v1 and service.next_change(s, "S1", 5_000) is None
    assert [a.tariff_id for a in service.schedule(s, "S1")] == [v1]
    kept = service.schedule(s, "S1", with_cancelled=True)
    assert [(a.tariff_id, a.cancelled_by) for a in kept] == [(v1, None), (v2, "ops")]
    with pytest.raises(TariffServiceError):
        service.cancel(s, a2.id, by="ops", now=9_999)
    assert service.named_version(s, "S1", v2) is None and service.named_version(s, "S1", v1).id == v1
    # the same instant assigned again takes the row up again, to be sent again
    again = service.assign(s, "S1", v2, effective_from=10_000, backdate=True)
    assert again.id == a2.id and not again.cancelled and again.pushed_at is None


def test_due_pushes_send_scheduled_changes_ahead_and_withdraw_cancelled_ones(s: Session) -> None:
    v1 = service.create(s, BODY, code="std").tariff_id
    a1 = service.assign(s, "S1", v1, effective_from=1_000, backdate=True)
    a2 = service.assign(s, "S1", v1, effective_from=5 * DAY, backdate=True)
    a3 = service.assign(s, "S1", v1, effective_from=9 * DAY, backdate=True)
    assert [r.id for r in service.due_pushes(s, 2_000)] == [a1.id]  # at their time only
    assert [r.id for r in service.due_pushes(s, 2_000, ahead_ms=6 * DAY)] == [a1.id, a2.id]
    assert [r.id for r in service.due_pushes(s, 2_000, ahead_ms=10 * DAY)] == [a1.id, a2.id, a3.id]
    service.mark_pushed(s, a2.id, 3_000)
    service.mark_pushed(s, a3.id, 3_000, tariff_id="other-v9")  # replaced on the way: stays due
    assert [r.id for r in service.due_pushes(s, 3_000, ahead_ms=10 * DAY)] == [a1.id, a3.id]
    service.cancel(s, a2.id, now=4_000)
    service.cancel(s, a3.id, now=4_000)  # never acknowledged: nothing to withdraw at the station
    assert service.due_cancels(s) == [a2]
    assert [r.id for r in service.due_pushes(s, 4_000, ahead_ms=10 * DAY)] == [a1.id]
    service.mark_cancel_pushed(s, a2.id, 5_000)
    assert service.due_cancels(s) == []


@pytest.fixture
def ingest(broker: Broker, engine: Engine) -> Iterator[ThreadedIngest]:  # noqa: F811
    worker = ThreadedIngest(broker, engine).start()
    yield worker
    worker.stop()


def test_the_job_pushes_ahead_withdraws_and_reaches_a_station_when_it_is_back(
        broker: Broker, engine: Engine, ingest: ThreadedIngest) -> None:  # noqa: F811
    now = now_ms()
    with Session(engine) as s, s.begin():
        for sid, online in (("S1", True), ("S2", False)):
            s.add(Station(sid=sid))
            s.flush()
            s.add(StationState(sid=sid, online=online, claimed_online=online))
        v1 = service.create(s, BODY, code="std").tariff_id
        v2 = service.create(s, BODY, code="std").tariff_id
        for sid in ("S1", "S2"):
            service.assign(s, sid, v1, effective_from=now - DAY, backdate=True)
            service.assign(s, sid, v2, effective_from=now + DAY)  # tomorrow: sent now
    def answer(cmd: dict) -> Reply:
        return Reply(id=cmd["id"], ok=True, detail={"effective_from": cmd.get("effective_from")})

    stations = {"S1": FakeStation(broker, "S1").connect(), "S2": FakeStation(broker, "S2")}
    stations["S1"].answer = stations["S2"].answer = answer
    publisher = MqttPublisher(mqtt_settings(broker), "jobs-test")
    ctx = JobContext(engine, "h1", JobSettings(command_timeout_s=5),
                     send=CommandService(sessionmaker(engine), publisher.publish).send)
    try:
        assert push_tariffs.run(ctx) == 2
        sent = [(c["type"], c["tariff"]["id"], c["effective_from"]) for c in stations["S1"].commands]
        assert sent == [("set_tariff", v1, now - DAY), ("set_tariff", v2, now + DAY)]
        assert stations["S2"].commands == []  # offline: stays due
        with Session(engine) as s:
            rows = {(r.sid, r.tariff_id): r for r in s.query(StationTariff)}
            assert rows[("S1", v2)].pushed_at is not None and rows[("S2", v2)].pushed_at is None
            scheduled = rows[("S1", v2)].id
        assert push_tariffs.run(ctx) == 0  # acknowledged: nothing again
        with Session(engine) as s, s.begin():
            service.cancel(s, scheduled, by="ops")
        assert push_tariffs.run(ctx) == 1
        assert stations["S1"].commands[-1] == {**stations["S1"].commands[-1], "type": "cancel_tariff",
                                               "effective_from": now + DAY, "tariff_id": v2}
        assert push_tariffs.run(ctx) == 0
        stations["S2"].connect()  # back: its retained state makes it online at the cloud

        def online() -> bool:
            with Session(engine) as s:
                return bool(s.get(StationState, "S2", populate_existing=True).online)  # type: ignore[union-attr]

        wait_for(online, what="S2 online")
        assert push_tariffs.run(ctx) == 2
        assert [(c["tariff"]["id"], c["effective_from"]) for c in stations["S2"].commands] == \
            [(v1, now - DAY), (v2, now + DAY)]
        # a station that sends nothing back keeps them due
        with Session(engine) as s, s.begin():
            v3 = service.create(s, BODY, code="std").tariff_id
            service.assign(s, "S2", v3, effective_from=now + 2 * DAY)
        stations["S2"].answer = None
        quick = JobContext(engine, "h1", JobSettings(command_timeout_s=0.5), send=ctx.send)
        assert push_tariffs.run(quick) == 0
        with Session(engine) as s:
            assert [r.tariff_id for r in service.due_pushes(s, now_ms(), ahead_ms=3 * DAY)] == [v3]
    finally:
        publisher.close()
        for st in stations.values():
            st.close()
