"""The outbox drain on a fake clock and a fake publisher: window, acks in any order, resend."""

from __future__ import annotations

import json

import pytest

from edge.cache import Store
from edge.clock import FakeClock
from edge.sync.drain import Drain, DrainSettings


@pytest.fixture
def store(tmp_path):
    s = Store.open(tmp_path / "s.db")
    for i in range(25):
        s.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {"i": i}}, 1_767_225_600_000 + i)
    yield s
    s.close()


def make(store, **kw):
    sent: list[list[int]] = []
    ok = {"up": True}

    def publish(payload: str) -> bool:
        if not ok["up"]:
            return False
        body = json.loads(payload)
        assert body["v"] == 1 and body["sid"] == "S1"
        sent.append([r["seq"] for r in body["records"]])
        return True

    clock = FakeClock()
    d = Drain(store, clock, publish, "S1", DrainSettings(batch_records=4, window_records=10, ack_timeout_s=5, **kw))
    return d, sent, clock, ok


def test_sends_in_order_within_the_window_and_prunes_on_ack(store):
    d, sent, _, _ = make(store)
    assert d.pump() == 10
    assert sent == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10]]
    assert d.pump() == 0  # the window is full
    d.on_ack(6)
    assert store.outbox.depth() == 19 and store.outbox.acked_seq() == 6
    assert d.pump() == 6 and sent[-1] == [15, 16]
    d.on_ack(3)  # an older ack from another ingest process: ignored
    assert d.acked == 6
    d.on_ack(99)  # beyond anything sent: refused
    assert d.acked == 6


def test_no_ack_in_time_means_resend_from_the_last_ack(store):
    d, sent, clock, _ = make(store)
    d.pump()
    d.on_ack(4)
    d.pump()
    n = len(sent)
    clock.advance(6)
    assert d.pump() > 0
    assert sent[n][0] == 5 and d.resends == 1  # again from 5, not from 15


def test_a_reconnect_resends_everything_unacknowledged_and_nothing_is_lost_while_down(store):
    d, sent, _, ok = make(store)
    ok["up"] = False
    assert d.pump() == 0 and d.sent_high == 0  # nothing counts as sent while the link is down
    ok["up"] = True
    d.pump()
    d.on_ack(2)
    d.rewind("connected")
    sent.clear()
    d.pump()
    assert sent[0][0] == 3
    for seq in range(4, 26, 4):
        d.on_ack(min(seq, 25))
        d.pump()
    d.on_ack(25)
    assert store.outbox.depth() == 0 and d.pending() == 0


def test_an_ack_with_conflicts_renumbers_resigns_and_resends_after_the_cloud_high(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ec

    from edge.records import KeySigner, append_signed_end
    from jcproto import SessionEnded, verify_record

    key = ec.generate_private_key(ec.SECP256R1())
    s = Store.open(tmp_path / "c.db")
    for i in range(5):
        s.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {"i": i}}, 1_767_225_600_000 + i)
    end = SessionEnded(seq=0, ts=1_767_225_700_000, session_id="6f1c1a52-0d37-4a4e-9a43-6a3e1c1f0b11",
                       energy_start_wh=0, energy_stop_wh=10, started_at=1_767_225_600_000,
                       ended_at=1_767_225_700_000, stop_reason="local", cost_fen=1, signature="")
    with s.transaction(durable=True):
        end_seq = append_signed_end(s, end, KeySigner(key))  # seq 6
    sent: list[dict] = []

    def publish(payload: str) -> bool:
        sent.extend(json.loads(payload)["records"])
        return True

    d = Drain(s, FakeClock(), publish, "S1", DrainSettings(batch_records=10, window_records=10), signer=KeySigner(key))
    d.pump()
    assert [r["seq"] for r in sent] == [1, 2, 3, 4, 5, 6]
    sent.clear()
    # The cloud held 4..6 with other content and holds up to 100.
    d.on_ack(6, [4, 5, 6], 100)
    assert d.acked == 100 and d.conflicts == 3
    d.pump()
    assert [r["seq"] for r in sent] == [101, 102, 103, 104]
    assert [r.get("kind") for r in sent] == ["gun_state", "gun_state", None, "seq_conflict"]
    moved_end = sent[2]
    assert moved_end["type"] == "session_ended" and verify_record(moved_end, key.public_key())
    assert not verify_record({**moved_end, "seq": end_seq}, key.public_key())  # signed anew
    assert sent[3]["detail"]["conflicts"] == [4, 5, 6] and sent[3]["detail"]["high"] == 100
    # Records 1..3 were held by the cloud: gone. A late copy of the same answer: nothing.
    assert s.outbox.get(1) is None and s.outbox.depth() == 4
    d.on_ack(6, [4, 5, 6], 100)
    assert s.outbox.last_seq() == 104
    d.on_ack(104)
    assert s.outbox.depth() == 0
    s.close()


def test_refused_pairing_codes_are_stored_before_the_ack_and_a_renumbering_applies(tmp_path):
    """An ack's `refused` marks the code of the record at that seq (before any renumbering the
    same ack asks for); entries naming no code of this store, another kind or a code already
    answered change nothing, and the ack itself is applied."""
    from edge.pairing import code_state, make_code
    from jcproto import RefusedRecord

    s = Store.open(tmp_path / "p.db")
    try:
        now = 1_767_225_600_000
        s.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {}}, now)
        a = make_code(s, "P1-1", now)
        b = make_code(s, "P1-2", now)
        d, _, _, _ = make(s)
        d.pump()
        d.on_ack(a.seq, refused=[RefusedRecord(seq=a.seq, kind="pairing_code", reason="unknown_gun"),
                                 RefusedRecord(seq=1, kind="pairing_code", reason="expired"),  # not a code
                                 RefusedRecord(seq=99, kind="pairing_code", reason="expired"),  # no such seq
                                 RefusedRecord(seq=b.seq, kind="another_kind", reason="x")])
        assert d.acked == a.seq and (d.refused, d.refused_ignored) == (1, 3)
        got = code_state(s, "P1-1", a.expires_at)
        assert (got["state"], got["in_cloud"], got["refused"]["reason"]) == ("refused", True, "unknown_gun")
        assert code_state(s, "P1-2", b.expires_at)["state"] == "waiting"
        d.on_ack(a.seq, refused=[RefusedRecord(seq=a.seq, kind="pairing_code", reason="expired")])
        assert code_state(s, "P1-1", a.expires_at)["refused"]["reason"] == "unknown_gun"  # the first answer stays
        # a conflict in the same ack (a record after b): b's refusal names its seq before the
        # renumbering moves it past the cloud's high
        later = s.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {}}, now)
        d.on_ack(a.seq, conflicts=[later], high=b.seq + 5,
                 refused=[RefusedRecord(seq=b.seq, kind="pairing_code", reason="expired")])
        row = s.pairing.find("P1-2", b.expires_at)
        assert row.refused_reason == "expired" and row.seq > b.seq + 5
    finally:
        s.close()
