"""Ingest against the real broker, on SQLite and PostgreSQL: storage, acks, refusals, state."""

from __future__ import annotations

import json
import time

from sqlalchemy import Engine, select

from cloud.ingest.store import table_counts
from cloud.models import (
    ChargingSession,
    MeterMinuteRow,
    RawRecord,
    StationEvent,
    StationSeq,
    StationState,
)
from cloud.pki.registry import record_issued
from tests.cloud.support import (
    NOW,
    FakeStation,
    ThreadedIngest,
    filler_records,
    session_records,
    wait_for,
)
from tests.support.broker import Broker


def _rows(engine: Engine, model, **where):
    from sqlalchemy.orm import Session

    with Session(engine) as s:
        q = select(model)
        for k, v in where.items():
            q = q.where(getattr(model, k) == v)
        return list(s.scalars(q))


def _seqs(engine: Engine, sid: str) -> list[int]:
    return sorted(r.seq for r in _rows(engine, RawRecord, sid=sid))


def test_records_are_stored_acked_and_materialised(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1").connect()
    recs = session_records(1) + filler_records(5, 6)
    st.send(recs, batch=4)
    assert st.wait_acked(10) == 10
    assert _seqs(engine, "S1") == list(range(1, 11))
    [sess] = _rows(engine, ChargingSession, sid="S1")
    # Signed with no key the cloud knows: flagged, shown abnormal with the reason.
    assert (sess.status, sess.gun, sess.energy_start_wh, sess.energy_stop_wh, sess.cost_fen) == (
        "abnormal",
        "P1-1",
        1000,
        2000,
        150,
    )
    assert sess.started_at == NOW and sess.stop_reason == "ev_full" and sess.progress_seq == 3
    assert sess.signature_ok is False and sess.end_problem == "no_certificate (seq 4)"
    assert len(_rows(engine, MeterMinuteRow, sid="S1")) == 3
    assert len(_rows(engine, StationEvent, sid="S1")) == 3
    assert _rows(engine, StationSeq, sid="S1")[0].acked_seq == 10


def test_duplicates_and_reordering_store_once(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1").connect()
    recs = filler_records(1, 8)
    st.send([recs[5], recs[7], recs[6]], remember=False)  # 6, 8, 7: out of order, gap 1..5
    time.sleep(0.3)
    assert st.acked == 0
    st.send(recs[:5] + recs[2:4] + [recs[0]], batch=2)  # the rest, with duplicates across batches
    st.send(recs, batch=3)  # a full resend
    assert st.wait_acked(8) == 8
    assert _seqs(engine, "S1") == list(range(1, 9))
    assert table_counts(engine)["meter_minutes"] == 4
    assert ingest.worker.stats.duplicates > 0


def test_gap_holds_the_ack_until_filled(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1").connect()
    recs = filler_records(1, 6)
    st.send(recs[:2] + recs[3:])  # 1, 2, 4, 5, 6
    wait_for(lambda: len(_seqs(engine, "S1")) == 5, what="5 records stored")
    assert st.wait_acked(2) == 2  # the ack comes after the store, when a busy machine lets it
    time.sleep(0.2)  # and no ack after it goes past the gap
    assert st.acked == 2
    st.send(recs[3:4])  # a resend of 4 is acked with 2 again: "send from 3"
    time.sleep(0.2)
    assert st.acked == 2
    st.send([recs[2]])
    assert st.wait_acked(6) == 6


def test_session_records_in_any_order_give_the_same_session(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    recs = session_records(1)
    st = FakeStation(broker, "S1").connect()
    st.send([recs[3]])  # ended first
    st.send([recs[2], recs[1]])
    st.send([recs[0]])
    assert st.wait_acked(4) == 4
    [sess] = _rows(engine, ChargingSession, sid="S1")
    assert (sess.status, sess.energy_wh, sess.cost_fen, sess.started_at, sess.order_id) == (
        "abnormal",  # unsigned: shown abnormal
        2000,
        150,
        NOW,
        "o-1",
    )


def test_bad_payloads_are_dropped_and_counted_never_fatal(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1").connect()
    good = filler_records(1, 4)
    st.publish_raw("up", b"\x00not json")
    st.publish_raw("up", b"[1,2,3]")
    st.publish_raw("up", json.dumps({"v": 2, "records": good}))
    st.publish_raw("up", json.dumps({"records": good}))
    st.publish_raw("up", json.dumps({"v": 1, "records": "nope"}))
    st.publish_raw("up", json.dumps({"v": 1, "sid": "S2", "records": good}))  # claims another sid
    st.publish_raw("state", b'{"v":1,"online":"maybe","ts":1}')
    st.publish_raw("telemetry", b'{"v":1}', qos=0)
    st.publish_raw("reply", b'{"v":1,"id":"x"}')
    time.sleep(0.3)
    assert _seqs(engine, "S1") == []
    dropped = ingest.worker.stats.dropped
    assert (
        dropped["json"] == 2
        and dropped["version"] == 2
        and dropped["sid"] == 1
        and dropped["schema"] >= 3
    )
    # A bad record inside a valid batch is kept flagged, so that the sequence goes on.
    bad = dict(good[1], detail={})  # load_level without its details
    unknown = {"seq": 3, "type": "tyre_pressure", "ts": NOW, "kpa": 230}
    st.send([good[0], bad, unknown, good[3]])
    assert st.wait_acked(4) == 4
    flags = {r.seq: r.flag_reason for r in _rows(engine, RawRecord, sid="S1")}
    assert flags == {1: None, 2: "invalid", 3: "unknown_type", 4: None}
    assert [e.seq for e in _rows(engine, StationEvent, sid="S1")] == [4]  # not the invalid one (2)


def test_station_cannot_publish_for_another(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    a = FakeStation(broker, "A").connect()
    info = a.client.publish(
        "jc/v1/st/B/up", json.dumps({"v": 1, "records": filler_records(1, 2)}), qos=1
    )
    info.wait_for_publish(5)
    a.send(filler_records(1, 1))
    assert a.wait_acked(1) == 1
    assert _seqs(engine, "B") == []  # the broker refused it (PUBACK: not authorized)


def test_online_offline_from_state_and_will(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1", fw="2.1.0").connect()
    state = lambda: _rows(engine, StationState, sid="S1")  # noqa: E731
    wait_for(lambda: state() and state()[0].online, what="online")
    assert state()[0].fw == "2.1.0" and state()[0].cfg_rev == "1"
    st.crash()
    wait_for(lambda: not state()[0].online, timeout=10, what="offline from the will")
    st.connect()
    wait_for(lambda: state()[0].online, what="online again")
    # A late copy of the old will (same connection ts as an older online) does not win.
    st.publish_raw("state", json.dumps({"v": 1, "online": False, "ts": st.conn_ts - 1}))
    time.sleep(0.3)
    assert state()[0].online


def test_latest_telemetry_is_kept(broker: Broker, engine: Engine, ingest: ThreadedIngest) -> None:
    st = FakeStation(broker, "S1").connect()
    for ts, load in ((NOW + 2000, 50.0), (NOW + 1000, 10.0)):  # the older one arrives last
        st.publish_raw("telemetry", json.dumps({
            "v": 1, "ts": ts,
            "transformer": {"load_pct": load, "s_total_va": 1000, "p_total_w": 900, "level": "normal"},
            "guns": [{"id": "P1-1", "state": "charging", "power_w": 7000, "limit_w": None, "energy_wh": 5,
                      "session_id": None, "soc": None}],
        }), qos=0)  # fmt: skip
    wait_for(
        lambda: [r.telemetry_ts for r in _rows(engine, StationState, sid="S1")] == [NOW + 2000],
        what="telemetry",
    )
    time.sleep(0.2)
    row = _rows(engine, StationState, sid="S1")[0]
    assert row.telemetry["transformer"]["load_pct"] == 50.0 and row.last_seen


def test_signature_good_is_accepted_tampered_is_flagged(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    from sqlalchemy.orm import Session

    ident = broker.station("S1")
    with Session(engine) as s, s.begin():
        record_issued(s, ident.identity.cert, "station")
    good = session_records(1, key_pem=ident.identity.key_pem)
    tampered = session_records(5, key_pem=ident.identity.key_pem)
    tampered[3]["cost_fen"] = 1  # changed after signing
    st = FakeStation(broker, "S1").connect()
    st.send(good + tampered)
    assert st.wait_acked(8) == 8
    by_seq = {r.seq: r for r in _rows(engine, RawRecord, sid="S1")}
    assert not by_seq[4].flagged and (by_seq[8].flagged, by_seq[8].flag_reason) == (
        True,
        "bad_signature",
    )
    sessions = {s.ended_seq: s for s in _rows(engine, ChargingSession, sid="S1")}
    assert sessions[4].signature_ok is True and sessions[8].signature_ok is False
    assert sessions[8].cost_fen == 1  # stored as claimed, flagged
