"""Ingest never dies on input: poison payloads over the real broker, on SQLite and PostgreSQL.

Every numeric field of every message type gets 2^70, 2^64, negatives and wrong types; then
NaN and infinities, invalid UTF-8, NUL and lone surrogates, nesting 10,000 deep, payloads
near the broker's size limit, duplicate keys, huge arrays, the same in a retained `state`
(which every restart of ingest receives again). After each poison a good record is sent;
at the end every record with a usable seq is stored (flagged `invalid` with the reason when
it breaks its schema or the Revision 1.1 bounds) and acknowledged, and the worker is alive.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from cloud.models import ChargingSession, RawRecord, StationState
from tests.cloud.support import (
    NOW,
    FakeStation,
    IngestProcess,
    ThreadedIngest,
    session_records,
    wait_for,
)
from tests.support.broker import Broker

HUGE = [2**70, 2**64, -(2**70), 2**63]
BAD = [*HUGE, -1, 1.5, "x", "", [], {}, None, True, "a\u0000b", "\ud800"]


def good(seq: int) -> dict[str, Any]:
    return {"seq": seq, "type": "event", "ts": NOW + seq, "kind": "load_level", "gun": None,
            "detail": {"level": "normal", "load_pct": 10.0}}  # fmt: skip


def base_records() -> list[dict[str, Any]]:
    """One valid record of every type (seqs are set when sent)."""
    s = session_records(1)
    return [*s, good(5),
            {"seq": 6, "type": "meter_minute", "ts": NOW, "p_avg_w": 1, "p_max_w": 2, "load_pct_max": 3.0,
             "energy_import_wh": 4},
            {"seq": 7, "type": "lost", "ts": NOW, "reason": "corrupt"},
            {"seq": 8, "type": "pruned", "ts": NOW, "of": "meter_minute"}]  # fmt: skip


def leaf_paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(obj, dict) and obj:
        for k, v in obj.items():
            yield from leaf_paths(v, (*prefix, k))
    else:
        yield prefix


def poisoned(obj: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


class Run:
    """Sends poison then a good record, numbering every record that has a usable seq."""

    def __init__(self, st: FakeStation) -> None:
        self.st = st
        self.seq = 0
        self.expect_flagged: dict[int, str] = {}  # seq -> what was poisoned
        self.goods: list[int] = []

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def raw(self, kind: str, payload: bytes | str, retain: bool = False) -> None:
        assert self.st.client is not None
        self.st.client.publish(f"jc/v1/st/{self.st.sid}/{kind}", payload, qos=1, retain=retain)

    def up(self, records: list[dict[str, Any]]) -> None:
        self.raw("up", json.dumps({"v": 1, "records": records}))

    def good_after(self) -> None:
        s = self.next_seq()
        self.goods.append(s)
        self.up([good(s)])

    def finish(self, engine: Engine, ingest_alive: Any, timeout: float = 60.0) -> dict[int, RawRecord]:
        acked = self.st.wait_acked(self.seq, timeout)
        assert ingest_alive(), "ingest died"
        assert acked == self.seq, f"acked {acked} of {self.seq}"
        with Session(engine) as s:
            rows = {r.seq: r for r in s.scalars(select(RawRecord).where(RawRecord.sid == self.st.sid))}
        assert sorted(rows) == list(range(1, self.seq + 1))
        for q in self.goods:
            assert not rows[q].flagged, (q, rows[q].flag_reason, rows[q].flag_detail)
        for q, what in self.expect_flagged.items():
            assert (rows[q].flagged, rows[q].flag_reason) == (True, "invalid"), (q, what)
            assert rows[q].flag_detail, (q, what)
        return rows


def test_every_field_of_every_record_type_poisoned(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "P1").connect()
    run = Run(st)
    dropped_before = sum(ingest.worker.stats.dropped.values())
    dropped = 0
    for base in base_records():
        for path in leaf_paths(base):
            for bad in BAD:
                if path == ("seq",):
                    run.up([{**base, "seq": bad}])  # no usable seq: dropped, counted
                    dropped += 1
                    run.good_after()
                    continue
                seq = run.next_seq()
                rec = poisoned({**base, "seq": seq}, path, bad)
                if bad in HUGE and not isinstance(bad, bool) or isinstance(bad, str) and "\x00" in bad:
                    run.expect_flagged[seq] = f"{base['type']}.{path}={bad!r}"
                run.up([rec])
                run.good_after()
    rows = run.finish(engine, ingest.thread.is_alive, timeout=120)
    assert sum(ingest.worker.stats.dropped.values()) - dropped_before >= dropped
    # The reason says what was wrong, e.g. the bound broken.
    some = next(r for r in rows.values() if r.flag_reason == "invalid" and "energy_wh" in (r.flag_detail or ""))
    assert "maximum" in some.flag_detail or "minimum" in some.flag_detail or "integer" in some.flag_detail
    # Strings the database cannot hold are kept escaped, as evidence.
    nul = next(q for q, w in run.expect_flagged.items() if "\\x00" in w)
    assert "\\u0000" in json.dumps(rows[nul].payload)


def test_every_field_of_state_telemetry_reply_poisoned(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "P2").connect()
    run = Run(st)
    bases = {
        "state": {"v": 1, "online": True, "ts": NOW, "fw": "1.0", "cfg_rev": 3},
        "telemetry": {"v": 1, "ts": NOW, "transformer": {"load_pct": 1.0, "s_total_va": 1, "p_total_w": 1,
                                                           "level": "normal"},
                      "guns": [{"id": "P1-1", "state": "available", "power_w": 0, "limit_w": None,
                                "energy_wh": 1, "session_id": None, "soc": None}]},
        "reply": {"v": 1, "id": str(uuid.uuid4()), "ok": True, "error": None, "detail": {"a": 1}},
    }  # fmt: skip
    for kind, base in bases.items():
        paths = list(leaf_paths(base))
        if kind == "telemetry":
            paths += [("guns", 0, k) for k in base["guns"][0]]
        for path in paths:
            for bad in BAD:
                run.raw(kind, json.dumps(poisoned(base, path, bad)))
                run.good_after()
    # Envelopes: v, sid, records of every wrong kind.
    for bad in BAD:
        run.raw("up", json.dumps({"v": bad, "records": [good(10**12)]}))
        run.raw("up", json.dumps({"v": 1, "sid": bad, "records": [good(10**12)]}))
        run.raw("up", json.dumps({"v": 1, "records": bad}))
        run.good_after()
    run.finish(engine, ingest.thread.is_alive)
    with Session(engine) as s:
        state = s.get(StationState, "P2")
        assert state is not None and state.fw in (None, "1.0", "1.0.0")


def test_hostile_payloads(broker: Broker, engine: Engine, ingest: ThreadedIngest) -> None:
    st = FakeStation(broker, "P3").connect()
    run = Run(st)
    never = 10**12  # a seq that must never be stored: the messages carrying it are dropped
    rec = json.dumps(good(never))
    deep = "[" * 10_000 + "]" * 10_000
    payloads: list[bytes | str] = [
        b"", b"null", b"[]", b'"x"', b"1" * 5000, b"{", b"\xff\xfe", "\ufeff{}".encode(),
        rec.replace('"load_pct": 10.0', '"load_pct": NaN'),
        rec.replace('"load_pct": 10.0', '"load_pct": Infinity'),
        rec.replace('"load_pct": 10.0', '"load_pct": -Infinity'),
        rec.replace('"load_pct": 10.0', '"load_pct": 1e999'),
        '{"v":1,"records":[' + rec.replace('"normal"', '"nor\u0000mal"') + "]}",  # raw NUL: not JSON
        b'{"v":1,"records":[' + rec.replace("load_level", "load_\xff").encode("latin-1") + b"]}",
        '{"v":1,"records":[' + rec.replace('{"level": "normal", "load_pct": 10.0}', deep) + "]}",
        '{"v":1,"records":[' + rec.replace('{"level": "normal", "load_pct": 10.0}', "[" * 40 + "]" * 40) + "]}",
        '{"v":1,"v":1,"records":[' + rec + "]}",  # duplicate key in the envelope
        json.dumps({"v": 1, "records": [good(never + i) for i in range(1001)]}),  # too many records
        json.dumps({"v": 1, "records": [{"seq": never}] * 100_000}),  # a huge array
    ]
    for p in payloads:
        run.raw("up", p)
        run.good_after()
    # Accepted, odd but valid: stored and acknowledged.
    s1 = run.next_seq()
    run.raw("up", json.dumps({"v": 1, "records": [good(s1)], "extra": [1] * 300_000}))
    s2 = run.next_seq()  # near the broker's 4 MiB packet limit
    big = good(s2)
    big["detail"]["pad"] = "x" * 4_000_000
    run.up([big])
    s3 = run.next_seq()
    big_list = good(s3)
    big_list["detail"]["many"] = list(range(400_000))
    run.up([big_list])
    # Per record: duplicate keys, escaped NUL and surrogates in values and keys.
    s4 = run.next_seq()
    run.raw("up", '{"v":1,"records":[' + json.dumps(good(s4))[:-1] + ', "kind": "gun_state"}]}')
    run.expect_flagged[s4] = "duplicate key"
    for bad_text in ("\\u0000", "\\ud800", "\\udfff\\ud800"):
        s5 = run.next_seq()
        r = json.dumps(good(s5)).replace('"normal"', f'"nor{bad_text}mal"')
        run.raw("up", '{"v":1,"records":[' + r + "]}")
        run.expect_flagged[s5] = bad_text
        s6 = run.next_seq()
        r = json.dumps(good(s6)).replace('"level"', f'"le{bad_text}vel"')
        run.raw("up", '{"v":1,"records":[' + r + "]}")
        run.expect_flagged[s6] = "key " + bad_text
    # Far past and far future times, in records and in state.
    for ts in (0, -1, NOW * 1000, 946_684_799_999, 4_102_444_800_001):
        s7 = run.next_seq()
        run.up([{**good(s7), "ts": ts}])
        run.expect_flagged[s7] = f"ts={ts}"
        run.raw("state", json.dumps({"v": 1, "online": True, "ts": ts}))
        run.good_after()
    # One batch: good, poison, good.
    a, b, c = run.next_seq(), run.next_seq(), run.next_seq()
    run.up([good(a), {**good(b), "detail": 2**70}, good(c)])
    run.goods += [a, c]
    run.expect_flagged[b] = "detail"
    rows = run.finish(engine, ingest.thread.is_alive, timeout=120)
    assert never not in rows and all(q < never for q in rows)
    assert len(rows[s2].payload["detail"]["pad"]) == 4_000_000


def test_a_retained_poison_state_does_not_stop_ingest_at_restart(
    broker: Broker, engine: Engine, db_url: str, tmp_path: Any
) -> None:
    """Every restart of ingest receives the retained `state` again: it must not crash-loop."""
    st = FakeStation(broker, "P4").connect()
    run = Run(st)
    poisons = [
        json.dumps({"v": 1, "online": True, "ts": 2**70}),
        json.dumps({"v": 1, "online": True, "ts": 2**64, "fw": "x"}),
        json.dumps({"v": 1, "online": True, "ts": NOW, "fw": "a\u0000b"}),
        json.dumps({"v": 1, "online": True, "ts": NOW, "fw": "\ud800"}),
        json.dumps({"v": 1, "online": True, "ts": NOW, "cfg_rev": "r" * 5000}),
        json.dumps({"v": 1, "online": True, "ts": NOW, "cfg_rev": 2**70}),
        '{"v":1,"online":true,"ts":NaN}',
        '{"v":1,"online":true,"ts":1e999}',
        json.dumps({"v": 1, "online": "yes", "ts": NOW}),
        '{"v":1,"online":true,"ts":' + "[" * 10_000 + "]" * 10_000 + "}",
        json.dumps({"v": 1, "online": True, "ts": NOW, "fw": "x" * 3_000_000}),
    ]
    for p in poisons:
        run.raw("state", p, retain=True)
        worker = ThreadedIngest(broker, engine).start()
        try:
            run.good_after()
            assert st.wait_acked(run.seq, 20) == run.seq, p[:80]
            assert worker.thread.is_alive()
        finally:
            worker.stop()
    # And the real process, restarted twice with a poison retained.
    run.raw("state", json.dumps({"v": 1, "online": True, "ts": 2**70}), retain=True)
    (tmp_path / "ingest").mkdir()
    proc = IngestProcess(broker, db_url, tmp_path / "ingest")
    for _ in range(2):
        proc.start()
        try:
            run.good_after()
            assert st.wait_acked(run.seq, 20) == run.seq
            assert proc.proc is not None and proc.proc.poll() is None
        finally:
            proc.stop()
    run.finish(engine, lambda: True)


def _boom_trigger(engine: Engine) -> None:
    """A database that refuses some rows by itself: a real error from the real server."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                "CREATE TRIGGER boom BEFORE INSERT ON raw_records "
                "WHEN json_extract(NEW.payload, '$.detail.boom') IS NOT NULL "
                "OR json_extract(NEW.payload, '$.boom') IS NOT NULL "
                "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"))
            conn.execute(text(
                "CREATE TRIGGER boom_state BEFORE UPDATE ON station_state "
                "WHEN NEW.fw = 'boom' BEGIN SELECT RAISE(ABORT, 'boom state'); END"))
        else:
            conn.execute(text(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.payload->'detail' ? 'boom' OR NEW.payload ? 'boom' THEN "
                "RAISE EXCEPTION 'boom refused'; END IF; "
                "RETURN NEW; END $$"))
            conn.execute(text(
                "CREATE FUNCTION boom_state() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.fw = 'boom' THEN RAISE EXCEPTION 'boom state'; END IF; RETURN NEW; END $$"))
            conn.execute(text("CREATE TRIGGER boom BEFORE INSERT ON raw_records "
                              "FOR EACH ROW EXECUTE FUNCTION boom()"))
            conn.execute(text("CREATE TRIGGER boom_state BEFORE UPDATE ON station_state "
                              "FOR EACH ROW EXECUTE FUNCTION boom_state()"))  # fmt: skip


def test_an_exception_on_one_record_flags_it_and_the_batch_goes_on(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    _boom_trigger(engine)
    st = FakeStation(broker, "P5").connect()
    recs = [good(1), {**good(2), "detail": {"boom": 1}}, good(3), *session_records(4)]
    st.publish_raw("state", json.dumps({"v": 1, "online": True, "ts": st.conn_ts + 1, "fw": "boom"}))
    st.send(recs, batch=10)  # one message: the database refuses its second record
    assert st.wait_acked(7, 20) == 7
    with Session(engine) as s:
        rows = {r.seq: r for r in s.scalars(select(RawRecord).where(RawRecord.sid == "P5"))}
        sessions = list(s.scalars(select(ChargingSession).where(ChargingSession.sid == "P5")))
    assert sorted(rows) == [1, 2, 3, 4, 5, 6, 7]
    assert (rows[2].flagged, rows[2].flag_reason) == (True, "store_error")
    assert "boom refused" in rows[2].flag_detail
    assert not rows[1].flagged and not rows[3].flagged
    assert len(sessions) == 1 and sessions[0].status == "abnormal"  # unsigned, still materialised
    assert ingest.worker.stats.store_errors >= 2  # the record and the state message
    # The gateway resends the same records: plain duplicates, nothing breaks.
    st.resend_unacked()
    st.send(recs, batch=10, remember=False)
    st.send([good(8)])
    assert st.wait_acked(8, 20) == 8
    assert wait_for(lambda: ingest.thread.is_alive(), 1)
    with Session(engine) as s:
        assert s.query(RawRecord).filter(RawRecord.sid == "P5").count() == 8


def test_an_exception_on_a_record_of_any_type_flags_only_that_record(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    _boom_trigger(engine)
    st = FakeStation(broker, "P8").connect()
    recs: list[dict[str, Any]] = []
    booms: list[int] = []
    for base in base_records():
        recs.append(good(len(recs) + 1))
        booms.append(len(recs) + 1)
        recs.append({**base, "seq": len(recs) + 1, "boom": 1})  # unknown fields are allowed
    recs.append(good(len(recs) + 1))
    st.send(recs, batch=len(recs))
    assert st.wait_acked(len(recs), 20) == len(recs)
    with Session(engine) as s:
        rows = {r.seq: r for r in s.scalars(select(RawRecord).where(RawRecord.sid == "P8"))}
    assert sorted(rows) == list(range(1, len(recs) + 1))
    assert sorted(q for q, r in rows.items() if r.flag_reason == "store_error") == booms
    assert all(not rows[q].flagged for q in rows if q not in booms)
    assert {rows[q].type for q in booms} == {b["type"] for b in base_records()}


@pytest.mark.parametrize("other", ["P7", "p6", "P6x"])
def test_a_station_cannot_inject_under_another_sid(
    broker: Broker, engine: Engine, ingest: ThreadedIngest, other: str
) -> None:
    st = FakeStation(broker, "P6").connect()
    assert st.client is not None
    st.client.publish(f"jc/v1/st/{other}/up", json.dumps({"v": 1, "records": [good(1)]}), qos=1)
    st.client.publish("jc/v1/st/P6/up", json.dumps({"v": 1, "sid": "P7", "records": [good(1)]}), qos=1)
    st.send([good(1)])
    assert st.wait_acked(1) == 1
    with Session(engine) as s:
        sids = set(s.scalars(select(RawRecord.sid)))
    assert sids == {"P6"}
