"""Session ends that fail validation or their signature, and online/offline from liveness,
against the real broker on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.models import ChargingSession, StationState
from cloud.pki.registry import record_issued
from jcproto import State, topic, with_signature
from tests.cloud.support import NOW, FakeStation, ThreadedIngest, wait_for
from tests.support.broker import Broker


def _end(seq: int, session_id: str, stop: int, cost: int = 100) -> dict[str, Any]:
    return {"seq": seq, "type": "session_ended", "ts": NOW + seq, "session_id": session_id, "gun": "P1-1",
            "energy_start_wh": 1000, "energy_stop_wh": stop, "started_at": NOW, "ended_at": NOW + seq,
            "stop_reason": "ev_full", "cost_fen": cost, "signature": "AAAAAAAAAAAA"}  # fmt: skip


def _session(engine: Engine, session_id: str) -> ChargingSession:
    with Session(engine) as s:
        got = s.get(ChargingSession, session_id)
        assert got is not None
        return got


def test_bad_ends_leave_the_session_abnormal_with_the_reason_never_over_a_good_end(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    ident = broker.station("E1")
    with Session(engine) as s, s.begin():
        record_issued(s, ident.identity.cert, "station")
    key = serialization.load_pem_private_key(ident.identity.key_pem, password=None)

    def signed(rec: dict[str, Any]) -> dict[str, Any]:
        return with_signature(rec, key)  # type: ignore[arg-type]

    st = FakeStation(broker, "E1").connect()
    x = str(uuid.uuid4())
    # 1. An end out of its bounds: abnormal, with the reason; never `running` silently.
    st.send([_end(1, x, 2**40 + 1)])  # energy past the 2^40 Wh bound
    assert st.wait_acked(1) == 1
    got = _session(engine, x)
    assert got.status == "abnormal" and got.signature_ok is False
    assert "invalid session_ended (seq 1)" in got.end_problem and "maximum" in got.end_problem
    # 2. An end whose signature does not verify: still abnormal, the reason says so.
    tampered = {**signed(_end(2, x, 1800)), "cost_fen": 1}
    st.send([tampered])
    assert st.wait_acked(2) == 2
    got = _session(engine, x)
    assert (got.status, got.end_problem, got.signature_ok) == ("abnormal", "bad_signature (seq 2)", False)
    # 3. A good end: ended, with its figures.
    st.send([signed(_end(3, x, 2000, cost=150))])
    assert st.wait_acked(3) == 3
    got = _session(engine, x)
    assert (got.status, got.end_problem, got.signature_ok, got.energy_stop_wh, got.cost_fen) == (
        "ended", None, True, 2000, 150)
    # 4. Later bad ends (invalid, bad signature, a second good one) never overwrite it.
    st.send([_end(4, x, -5), {**signed(_end(5, x, 9999)), "cost_fen": 2}, signed(_end(6, x, 2500, cost=999))])
    assert st.wait_acked(6) == 6
    got = _session(engine, x)
    assert (got.status, got.energy_stop_wh, got.cost_fen, got.ended_seq) == ("ended", 2000, 150, 3)
    # 5. Order does not matter: a good end stored after a subsequent bad one still wins.
    y = str(uuid.uuid4())
    st.send([{**signed(_end(8, y, 3000)), "cost_fen": 3}, _end(9, y, "lots")])
    st.send([signed(_end(7, y, 1200, cost=20))])
    assert st.wait_acked(9) == 9
    got = _session(engine, y)
    assert (got.status, got.energy_stop_wh, got.cost_fen, got.signature_ok) == ("ended", 1200, 20, True)
    # 6. An end that is hardly a record at all still shows its session abnormal.
    z = str(uuid.uuid4())
    st.send([{"seq": 10, "type": "session_ended", "ts": NOW, "session_id": z}])
    assert st.wait_acked(10) == 10
    got = _session(engine, z)
    assert got.status == "abnormal" and "energy_stop_wh" in got.end_problem


@pytest.fixture
def quick_ingest(broker: Broker, engine: Engine) -> Iterator[ThreadedIngest]:
    """Ingest with a 2 s liveness timeout, swept every 0.2 s."""
    worker = ThreadedIngest(broker, engine, offline_after_s=2.0, sweep_every_s=0.2).start()
    yield worker
    worker.stop()


def _state(engine: Engine, sid: str) -> tuple[bool, str | None]:
    with Session(engine) as s:
        st = s.get(StationState, sid)
        return (bool(st.online), st.offline_reason) if st else (False, "none")


def _last_seen(engine: Engine, sid: str) -> int:
    with Session(engine) as s:
        st = s.get(StationState, sid)
        assert st is not None and st.last_seen is not None
        return st.last_seen


def test_online_follows_liveness_not_only_the_will(
    broker: Broker, engine: Engine, quick_ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "L1").connect()
    wait_for(lambda: _state(engine, "L1") == (True, None), 5, "online")
    # A clean DISCONNECT publishes no will: the retained state still says online.
    st.close()
    time.sleep(1.0)
    # within the 2 s timeout it stays online; a machine too busy to look within it may find
    # it offline, but only by timeout and only a timeout after it was last heard from
    state, heard = _state(engine, "L1"), _last_seen(engine, "L1")
    assert state == (True, None) or (
        state == (False, "timeout") and int(time.time() * 1000) - heard >= 2000), (state, heard)
    wait_for(lambda: _state(engine, "L1") == (False, "timeout"), 6, "offline by timeout")
    # A restart of ingest gets the retained `online` again: not a sign of life.
    quick_ingest.stop()
    again = ThreadedIngest(broker, engine, offline_after_s=2.0, sweep_every_s=0.2).start()
    try:
        time.sleep(0.8)
        assert _state(engine, "L1") == (False, "timeout")
        # It comes back: its first message shows it online again.
        st.connect()
        wait_for(lambda: _state(engine, "L1") == (True, None), 5, "online again")
        # Alive but silent on `state`: telemetry keeps it online past the timeout.
        for _ in range(6):
            st.publish_raw("telemetry", json.dumps({"v": 1, "ts": int(time.time() * 1000),
                                                    "transformer": None, "guns": []}), qos=0)
            time.sleep(0.5)
        assert _state(engine, "L1") == (True, None)
        # The will still works at once.
        st.crash()
        wait_for(lambda: _state(engine, "L1") == (False, "will"), 5, "offline by the will")
    finally:
        again.stop()


def test_state_ts_of_the_retained_message_is_applied_without_reviving(
    broker: Broker, engine: Engine, quick_ingest: ThreadedIngest
) -> None:
    c = broker.connect(broker.station("L2"), "gw-L2")
    c.publish(topic("L2", "state"), State(online=True, ts=int(time.time() * 1000), fw="9.9").to_json(),
              qos=1, retain=True).wait_for_publish(5)
    wait_for(lambda: _state(engine, "L2") == (True, None), 5, "online")
    c.disconnect()
    c.loop_stop()
    wait_for(lambda: _state(engine, "L2") == (False, "timeout"), 6, "offline by timeout")
    with Session(engine) as s:
        assert s.get(StationState, "L2").fw == "9.9"


def test_a_retained_online_of_a_station_never_heard_from_shows_it_offline(
    broker: Broker, engine: Engine
) -> None:
    """Ingest starting while the broker holds an `online` state of a station it never saw
    alive (its gateway disconnected cleanly long ago): offline, and no database error."""
    c = broker.connect(broker.station("L3"), "gw-L3")
    c.publish(topic("L3", "state"), State(online=True, ts=int(time.time() * 1000)).to_json(),
              qos=1, retain=True).wait_for_publish(5)
    c.disconnect()
    c.loop_stop()
    worker = ThreadedIngest(broker, engine, offline_after_s=2.0, sweep_every_s=0.2).start()
    try:
        wait_for(lambda: _state(engine, "L3") == (False, "timeout"), 5, "known, offline")
        time.sleep(0.5)
        assert _state(engine, "L3") == (False, "timeout")
        assert worker.worker.stats.store_errors == 0
    finally:
        worker.stop()
