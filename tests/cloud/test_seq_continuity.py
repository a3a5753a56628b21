"""Sequence continuity across a replaced store (spec Revision 1.1), with the gateway's own
outbox, drain and signer against the real broker and ingest, on SQLite and PostgreSQL.

A station runs on store 1; its store is replaced mid-life (new key, new empty store, same
sid: provisioning's high_seq starts it above the cloud); then an old backup of store 1 is
restored, which numbers new records with seqs the cloud holds from stores 1 and 2. Every
record of all three reaches the cloud once; no session or energy is counted twice.
"""

from __future__ import annotations

import json
import queue
import shutil
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.models import ChargingSession, RawRecord, SeqConflict, StationEvent
from cloud.pki.registry import record_issued
from cloud.provisioning import high_seq
from edge.cache import Store
from edge.clock import SystemClock
from edge.records import KeySigner, append, append_signed_end
from edge.sync.drain import Drain, DrainSettings
from jcproto import Ack, Event, SessionEnded, SessionProgress, SessionStarted, topic
from tests.cloud.support import NOW, ThreadedIngest, wait_for
from tests.support.broker import Broker, ClientCert

SID = "S-REPL"


class Gateway:
    """The edge's outbox and drain on a real MQTT connection (acks handled on this thread)."""

    def __init__(self, broker: Broker, ident: ClientCert, path: Path) -> None:
        self.store = Store.open(path / "store.db")
        key = serialization.load_pem_private_key(ident.identity.key_pem, password=None)
        self.signer = KeySigner(key)
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.client = broker.connect(ident, f"gw-{uuid.uuid4().hex[:6]}")
        self.client.on_message = lambda _c, _u, m: self.acks.put(Ack.from_json(m.payload))
        self.client.subscribe(topic(SID, "ack"), qos=1)
        self.drain = Drain(
            self.store, SystemClock(), self._publish, SID,
            DrainSettings(batch_records=3, window_records=12, ack_timeout_s=2.0), signer=self.signer,
        )  # fmt: skip
        self.log: list[tuple[str, int, str]] = []  # (type, ts, body) of every record appended

    def _publish(self, payload: str) -> bool:
        return self.client.publish(topic(SID, "up"), payload, qos=1).rc == 0

    def _logged(self, seq: int) -> None:
        rec = self.store.outbox.get(seq)
        assert rec is not None
        body = {k: v for k, v in rec.body.items() if k != "signature"}
        self.log.append((rec.type, rec.ts, json.dumps(body, sort_keys=True)))

    def event(self, n: int, ts: int) -> None:
        self._logged(append(self.store, Event(seq=0, ts=ts, kind="load_level", gun=None,
                                              detail={"level": "normal", "load_pct": float(n)})))

    def start(self, session_id: str, t: int, e0: int) -> None:
        self._logged(append(self.store, SessionStarted(seq=0, ts=t, session_id=session_id, gun="P1-1",
                                                       order_id=None, auth="free", energy_start_wh=e0)))
        self._logged(append(self.store, SessionProgress(seq=0, ts=t + 60_000, session_id=session_id,
                                                        energy_wh=e0 + 100, power_w=7000)))

    def end(self, session_id: str, t: int, e0: int, e1: int, reason: str = "unplugged") -> None:
        rec = SessionEnded(seq=0, ts=t + 120_000, session_id=session_id, energy_start_wh=e0, energy_stop_wh=e1,
                           started_at=t, ended_at=t + 120_000, stop_reason=reason, cost_fen=(e1 - e0) // 10,
                           signature="", gun="P1-1")
        with self.store.transaction(durable=True):
            seq = append_signed_end(self.store, rec, self.signer)
        self._logged(seq)

    def sync(self, timeout: float = 60.0) -> None:
        """Send until the cloud acknowledged everything (handling acks as the gateway does)."""

        def step() -> bool:
            while True:
                try:
                    a = self.acks.get_nowait()
                except queue.Empty:
                    break
                self.drain.on_ack(a.seq, a.conflicts, a.high)
            self.drain.pump()
            return self.store.outbox.depth() == 0

        wait_for(step, timeout, "every record acknowledged", interval=0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.store.close()


def test_replaced_store_then_restored_backup_lose_nothing_and_count_once(
    broker: Broker, engine: Engine, ingest: ThreadedIngest, tmp_path: Path
) -> None:
    ident1 = broker.station(SID)
    second = broker.ca.new_client_identity(SID)  # the new machine's own key
    ident2 = ClientCert(SID, tmp_path / "s2.crt", tmp_path / "s2.key", second)
    second.write(ident2.cert_file, ident2.key_file)
    with Session(engine) as s, s.begin():
        record_issued(s, ident1.identity.cert, "station")
        record_issued(s, ident2.identity.cert, "station")
    sess = {k: str(uuid.uuid4()) for k in "ABCDE"}
    t = NOW

    # Store 1: session A and events, all acknowledged.
    (tmp_path / "gw1").mkdir()
    gw1 = Gateway(broker, ident1, tmp_path / "gw1")
    gw1.start(sess["A"], t, 1000)
    gw1.end(sess["A"], t, 1000, 1500)
    for i in range(4):
        gw1.event(i, t + i)
    gw1.sync()
    # Session B starts; the backup is taken while its records are not yet acknowledged.
    gw1.start(sess["B"], t + 1_000_000, 1500)
    for i in range(4, 7):
        gw1.event(i, t + i)
    gw1.store.close()
    shutil.copytree(tmp_path / "gw1", tmp_path / "backup")
    gw1.store = Store.open(tmp_path / "gw1" / "store.db")
    gw1.drain.store = gw1.store
    gw1.end(sess["B"], t + 1_000_000, 1500, 2300)  # the real end of B: 800 Wh
    gw1.start(sess["C"], t + 2_000_000, 2300)
    gw1.end(sess["C"], t + 2_000_000, 2300, 2600)
    for i in range(7, 12):
        gw1.event(i, t + i)
    gw1.sync()
    last1 = gw1.store.outbox.last_seq()
    gw1.close()

    # Store 2: a new machine, a new key, an empty store that starts above the cloud.
    with Session(engine) as s:
        high = high_seq(s, SID)
    assert high == last1
    (tmp_path / "gw2").mkdir()
    gw2 = Gateway(broker, ident2, tmp_path / "gw2")
    assert gw2.store.outbox.start_above(high)
    gw2.start(sess["D"], t + 3_000_000, 2600)
    gw2.end(sess["D"], t + 3_000_000, 2600, 3000)
    for i in range(12, 20):
        gw2.event(i, t + i)
    gw2.sync()
    assert min(r.seq for r in _raw(engine) if r.payload.get("session_id") == sess["D"]) == high + 1
    gw2.close()

    # Store 1's old backup restored on the new machine (its key): B ended again there (the
    # gateway found it over), a new session E, events: seqs the cloud holds already.
    shutil.copytree(tmp_path / "backup", tmp_path / "gw3")
    gw3 = Gateway(broker, ident2, tmp_path / "gw3")
    assert not gw3.store.outbox.start_above(high)  # not empty: the conflict answer handles it
    gw3.end(sess["B"], t + 1_000_000, 1500, 1900, reason="gateway_restart")
    gw3.start(sess["E"], t + 4_000_000, 3000)
    gw3.end(sess["E"], t + 4_000_000, 3000, 3600)
    for i in range(20, 40):
        gw3.event(i, t + i)
    gw3.sync()
    assert gw3.drain.conflicts > 0

    # Every record of all three stores is at the cloud, each content once.
    raw = _raw(engine)
    contents = Counter(
        (r.type, r.ts, json.dumps({k: v for k, v in r.payload.items() if k not in ("seq", "type", "ts", "signature")},
                                  sort_keys=True))
        for r in raw if not (r.type == "event" and r.payload.get("kind") == "seq_conflict")
    )  # fmt: skip
    logged = set(gw1.log) | set(gw2.log) | set(gw3.log)
    assert logged <= set(contents), sorted(logged - set(contents))[:3]
    # The restored store's unacknowledged records were the cloud's already: not stored twice.
    # Only the second end of B differs from what store 1 sent (it is a new record).
    assert max(contents.values()) == 1
    assert sorted(r.seq for r in raw) == list(range(1, len(raw) + 1))
    assert not any(r.flagged for r in raw), [(r.seq, r.flag_reason) for r in raw if r.flagged]
    with Session(engine) as s:
        assert s.scalar(select(SeqConflict.id).where(SeqConflict.sid == SID).limit(1)) is not None
        kinds = [e.kind for e in s.scalars(select(StationEvent).where(StationEvent.sid == SID))]
        sessions = {x.session_id: x for x in s.scalars(select(ChargingSession).where(ChargingSession.sid == SID))}
    assert kinds.count("seq_conflict") >= 1
    # One session per session_id, each ended with a verified signature, B with its first end.
    assert set(sessions) == set(sess.values())
    assert all(x.status == "ended" and x.signature_ok is True for x in sessions.values())
    b = sessions[sess["B"]]
    assert (b.energy_stop_wh, b.stop_reason) == (2300, "unplugged")
    energy = sum(x.energy_stop_wh - x.energy_start_wh for x in sessions.values())
    assert energy == 500 + 800 + 300 + 400 + 600
    gw3.close()


def _raw(engine: Engine) -> list[Any]:
    with Session(engine) as s:
        return list(s.scalars(select(RawRecord).where(RawRecord.sid == SID).order_by(RawRecord.seq)))


def test_the_ack_names_conflicts_and_high_only_for_other_content(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    from tests.cloud.support import FakeStation, filler_records, session_records

    acks: queue.Queue[Ack] = queue.Queue()
    st = FakeStation(broker, "S-ACK").connect()
    assert st.client is not None
    st.client.message_callback_add(topic("S-ACK", "ack"), lambda _c, _u, m: acks.put(Ack.from_json(m.payload)))

    def ack_after(records: list[dict[str, Any]]) -> Ack:
        while not acks.empty():
            acks.get_nowait()
        st.send(records, remember=False)
        return acks.get(timeout=10)

    first = filler_records(1, 10) + session_records(11)  # 1..14
    assert ack_after(first) == Ack(seq=14)
    # The same records again, a different signature on the end, placeholders: duplicates.
    again = [dict(r) for r in first[:5]] + [{**first[13], "signature": "BBBBBBBBBBBB"}]
    assert ack_after(again) == Ack(seq=14)
    assert ack_after([{"seq": 3, "type": "lost", "ts": NOW, "reason": "store_rewound"},
                      {"seq": 4, "type": "pruned", "ts": NOW, "of": "meter_minute"}]) == Ack(seq=4)
    # Other content under held seqs: conflicts, and the cloud's highest seq.
    other = filler_records(100, 3)
    for i, r in enumerate(other):
        r["seq"] = 6 + i
    got = ack_after(other)
    assert (got.seq, got.conflicts, got.high) == (8, [6, 7, 8], 14)
    with Session(engine) as s:
        kept = s.scalars(select(SeqConflict).where(SeqConflict.sid == "S-ACK").order_by(SeqConflict.seq)).all()
        assert [(c.seq, c.payload["ts"]) for c in kept] == [(r["seq"], r["ts"]) for r in other]
        held = s.get(RawRecord, ("S-ACK", 6))
        assert held is not None and held.payload == first[5]  # the first stays
    # A batch reaching past the cloud's high: new seqs stored, the ack tells both.
    mixed = [{**first[0], "seq": 13, "ts": NOW + 999}, *filler_records(15, 2)]
    got = ack_after(mixed)
    assert (got.seq, got.conflicts, got.high) == (16, [13], 16)
