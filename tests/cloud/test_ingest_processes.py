"""`jc-cloud ingest` as real processes: SIGKILL mid-batch, two sharing the load, broker restarts."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.models import RawRecord, StationSeq
from tests.cloud.support import FakeStation, IngestProcess, filler_records, wait_for
from tests.support.broker import Broker

pytestmark = pytest.mark.slow

STATIONS = 6
PER_STATION = 400


def _stations(broker: Broker) -> list[FakeStation]:
    stations = [FakeStation(broker, f"S{i}").connect() for i in range(STATIONS)]
    for st in stations:
        st.outbox.update({r["seq"]: r for r in filler_records(1, PER_STATION)})
    return stations


def _stored(engine: Engine) -> int:
    with Session(engine) as s:
        return s.scalar(select(func.count()).select_from(RawRecord)) or 0


def _kill_once_storing(proc: IngestProcess, engine: Engine) -> None:
    wait_for(lambda: _stored(engine) > 0, timeout=30, what="ingest under way", interval=0.005)
    proc.kill()  # SIGKILL while batches are in flight


def _assert_exactly_once(engine: Engine) -> None:
    with Session(engine) as s:
        per_station = dict(
            s.execute(select(RawRecord.sid, func.count()).group_by(RawRecord.sid)).all()
        )
        bounds = dict(
            s.execute(select(RawRecord.sid, func.max(RawRecord.seq)).group_by(RawRecord.sid)).all()
        )
        acked = dict(s.execute(select(StationSeq.sid, StationSeq.acked_seq)).all())
    assert per_station == {
        f"S{i}": PER_STATION for i in range(STATIONS)
    }  # (sid, seq) is the key: no copies
    assert bounds == per_station and all(acked[f"S{i}"] == PER_STATION for i in range(STATIONS))


def _drain_all(stations: list[FakeStation], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    for st in stations:
        st.drain(timeout=max(1.0, deadline - time.monotonic()))


def test_sigkill_mid_batch_then_restart_stores_everything_once(
    broker: Broker, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    proc = IngestProcess(broker, db_url, tmp_path, batch_max=50).start()
    try:
        stations = _stations(broker)
        # The first station publishes and the kill lands as soon as the ingest has stored
        # some of it, while its batches are in flight; the others publish while the ingest is
        # dead, so the kill always comes before everything is stored, however busy the machine.
        stations[0].resend_unacked(batch=10)
        _kill_once_storing(proc, engine)
        stored_at_kill = _stored(engine)
        assert 0 < stored_at_kill < STATIONS * PER_STATION
        for st in stations[1:]:
            st.resend_unacked(batch=10)
        proc.start()
        _drain_all(stations)  # the gateways resend whatever is not acknowledged
        _assert_exactly_once(engine)
    finally:
        proc.stop()


def test_two_processes_share_the_subscription(
    broker: Broker, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    a = IngestProcess(broker, db_url, tmp_path, "ingest-a", batch_max=50).start()
    b = IngestProcess(broker, db_url, tmp_path, "ingest-b", batch_max=50).start()
    try:
        stations = _stations(broker)
        for st in stations:
            st.resend_unacked(batch=10)
        _drain_all(stations)
        _assert_exactly_once(engine)
    finally:
        a.stop()
        b.stop()
    shares = [int(re.findall(r"stored=(\d+)", p.log())[-1]) for p in (a, b)]
    assert sum(shares) == STATIONS * PER_STATION and min(shares) > 0, shares


def test_broker_killed_and_restarted_mid_drain(
    broker: Broker, engine: Engine, db_url: str, tmp_path: Path
) -> None:
    proc = IngestProcess(broker, db_url, tmp_path, batch_max=50).start()
    try:
        stations = _stations(broker)
        for st in stations:
            st.resend_unacked(batch=10)
        wait_for(lambda: _stored(engine) > 0, what="ingest under way", interval=0.005)
        broker.kill()
        broker.start()
        assert "ready: subscriptions granted" in wait_for(
            lambda: proc.log().count("ready: subscriptions granted") >= 2 and proc.log(),
            timeout=20,
            what="ingest reconnected",
        )
        for st in stations:  # a gateway reconnects and resends on its own; here the test does it
            st.close()
            st.connect()
        _drain_all(stations)
        _assert_exactly_once(engine)
    finally:
        proc.stop()
