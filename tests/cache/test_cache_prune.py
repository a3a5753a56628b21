"""The size cap: what goes first, what never goes, and seqs that stay gapless."""

from __future__ import annotations

import uuid

from edge.cache import MinuteSample, SessionRow, Store

M = 60_000
T0 = 1_767_225_600_000
PROTECTED_EVENT_KINDS = ("fault_raised", "fault_cleared", "load_level")


def _populate(s: Store) -> dict[str, set[int]]:
    """History (acked sessions, events, samples) and an unsent outbox of every kind."""
    seqs: dict[str, set[int]] = {"meter_minute": set(), "minor": set(), "protected": set()}
    # Sent and acknowledged: 30 ended sessions.
    with s.transaction(durable=True):
        for i in range(30):
            sid = str(uuid.uuid4())
            s.sessions.upsert(SessionRow(sid, f"P{i}-1", "active", "free", started_at=T0 + i))
            seq = s.outbox.append("session_ended", {"session_id": sid}, T0 + i)
            s.sessions.update(sid, state="ended", ended_at=T0 + i * M, reported=True, ended_seq=seq)
        # Acknowledged too, but its car has not left the gun (no gun_released yet): stays.
        waiting = str(uuid.uuid4())
        s.sessions.upsert(SessionRow(waiting, "Q3-1", "active", "free", started_at=T0))
        seq = s.outbox.append("session_ended", {"session_id": waiting}, T0)
        s.sessions.update(waiting, state="ended", ended_at=T0, reported=True, ended_seq=seq,
                          release_pending=True)
    s.outbox.ack(s.outbox.last_seq())
    # One ended session not yet acknowledged, and one open: both must stay.
    s.sessions.upsert(SessionRow(str(uuid.uuid4()), "Q1-1", "active", "free", started_at=T0))
    unacked = str(uuid.uuid4())
    s.sessions.upsert(SessionRow(unacked, "Q2-1", "active", "free", started_at=T0))
    with s.transaction(durable=True):
        seq = s.outbox.append("session_ended", {"session_id": unacked}, T0)
        s.sessions.update(unacked, state="ended", ended_at=T0, reported=True, ended_seq=seq)
        seqs["protected"].add(seq)
    # Local history.
    with s.transaction():
        for i in range(1500):
            s.events.add("gun_state", "P1-1", {"i": i, "pad": "e" * 250}, T0 + i * 1000)
        for i in range(1500):
            s.samples.put(MinuteSample(T0 + i * M, 1000, 2000, 40.0, 10_000 + i))
    # Unsent records, interleaved.
    with s.transaction():
        for i in range(2000):
            seqs["meter_minute"].add(
                s.outbox.append("meter_minute", {"p_avg_w": i, "pad": "m" * 200}, T0 + i * M)
            )
            if i % 20 == 0:
                kind = PROTECTED_EVENT_KINDS[(i // 20) % 3]
                seqs["protected"].add(
                    s.outbox.append("event", {"kind": kind, "gun": "P1-1", "detail": {"pad": "f" * 200}}, T0)
                )
                seqs["protected"].add(
                    s.outbox.append("session_progress", {"session_id": unacked, "pad": "s" * 200}, T0)
                )
            if i % 10 == 0:
                seqs["minor"].add(
                    s.outbox.append("event", {"kind": "gun_state", "gun": "P1-1", "detail": {"pad": "g" * 200}}, T0)
                )
    return seqs


def _outbox(s: Store) -> dict[int, dict]:
    return {r.seq: r.to_wire() for r in s.outbox.batch(0, 100_000)}


def _check_gapless(s: Store) -> None:
    assert sorted(_outbox(s)) == list(range(s.outbox.acked_seq() + 1, s.outbox.last_seq() + 1))


def test_under_the_cap_nothing_goes(store: Store) -> None:
    _populate(store)
    before = _outbox(store)
    report = store.prune(cap_bytes=store.used_bytes() + 1)
    assert not report.changed and not report.over_cap
    assert _outbox(store) == before
    assert store.maybe_prune() is None  # no cap configured


def test_history_goes_first_oldest_first(store: Store) -> None:
    seqs = _populate(store)
    before = _outbox(store)
    used = store.used_bytes()
    report = store.prune(cap_bytes=int(used * 0.9))
    assert report.before_bytes == used
    assert report.after_bytes <= int(used * 0.9) * 0.9 + 4096 and not report.over_cap
    assert report.replaced == {"meter_minute": 0, "event": 0}
    assert report.removed["events"] > 0
    assert _outbox(store) == before  # no unsent record touched
    # Oldest first: what is left of each history table is its newest part.
    assert [e.detail["i"] for e in store.events.recent(1)] == [1499]
    left = store.events.count()
    assert min(e.detail["i"] for e in store.events.recent(10_000)) == 1500 - left
    assert store.sessions.for_gun("Q1-1") is not None
    assert len(seqs["protected"]) > 0


def test_then_unsent_telemetry_becomes_pruned_placeholders(store: Store) -> None:
    seqs = _populate(store)
    before = _outbox(store)
    report = store.prune(cap_bytes=int(store.used_bytes() * 0.45))
    assert not report.over_cap
    # all history went first (the acked sessions included), never the open/unacked sessions
    assert store.events.count() == 0 and store.samples.count() == 0
    assert report.removed["sessions"] == 30
    assert {s.gun for s in store.sessions.recent(100)} == {"Q1-1", "Q2-1", "Q3-1"}
    after = _outbox(store)
    pruned = sorted(seq for seq, r in after.items() if r["type"] == "pruned")
    assert pruned and report.replaced["meter_minute"] == len(pruned)
    # the oldest meter_minute records, and only those
    assert pruned == sorted(seqs["meter_minute"])[: len(pruned)]
    assert after[pruned[0]] == {"seq": pruned[0], "type": "pruned", "ts": before[pruned[0]]["ts"], "of": "meter_minute"}
    for seq in seqs["protected"] | seqs["minor"]:
        assert after[seq] == before[seq]
    _check_gapless(store)


def test_protected_records_are_never_pruned(store: Store, clock) -> None:
    seqs = _populate(store)
    before = _outbox(store)
    report = store.prune(cap_bytes=150_000)
    assert report.over_cap  # only protected data is left and it does not fit
    after = _outbox(store)
    for seq in seqs["meter_minute"]:
        assert after[seq]["type"] == "pruned" and after[seq]["of"] == "meter_minute"
    for seq in seqs["minor"]:
        assert after[seq] == {"seq": seq, "type": "pruned", "ts": before[seq]["ts"], "of": "event"}
    for seq in seqs["protected"]:
        assert after[seq] == before[seq]
    kinds = {r["kind"] for r in after.values() if r["type"] == "event"}
    assert kinds == set(PROTECTED_EVENT_KINDS)
    _check_gapless(store)
    assert [a.key for a in store.alarms.active()] == ["store_full"]
    # once the cloud acknowledges, the space comes back and the alarm clears
    store.outbox.ack(store.outbox.last_seq())
    report = store.prune(cap_bytes=150_000)
    assert not report.over_cap
    assert store.alarms.active() == []
    assert store.outbox.append("meter_minute", {}, T0) == store.outbox.last_seq()


def test_prune_gives_the_space_back_to_the_disk(store: Store) -> None:
    _populate(store)
    store.sync()
    store.vacuum()
    on_disk = store.size_bytes()
    store.prune(cap_bytes=int(store.used_bytes() * 0.5))
    assert store.size_bytes() < on_disk * 0.6


def test_expired_replies_go_on_every_prune(store: Store) -> None:
    store.settings.remember_reply("old", {"ok": True}, until_ms=T0)
    store.settings.remember_reply("new", {"ok": True}, until_ms=T0 + 10 * M)
    report = store.prune(cap_bytes=10**9, now_ms=T0 + M)
    assert report.removed["replies"] == 1
    assert store.settings.reply_for("old") is None and store.settings.reply_for("new") == {"ok": True}


def test_cap_is_enforced_while_appending(db_path, clock) -> None:
    cap = 600_000
    with Store.open(db_path, clock=clock, cap_bytes=cap, prune_check_every=50) as s:
        for i in range(3000):
            s.outbox.append("meter_minute", {"p_avg_w": i, "pad": "m" * 200}, T0 + i * M)
        assert s.used_bytes() <= cap + 60 * 300  # at most one check interval over
        assert s.last_prune is not None and s.last_prune.replaced["meter_minute"] > 0
        assert not s.last_prune.over_cap
        assert s.outbox.depth() == 3000  # every seq still there, as itself or a placeholder
        _check_gapless(s)
