"""cloud.alarms.service on a migrated database (SQLite and PostgreSQL): events raise and clear
alarms idempotently and in any order, through the real ingest store too; the gateway's alarm
list and liveness sweep; lists filter, page and keep to the owner scope; acknowledgements."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from cloud.alarms import service
from cloud.alarms.models import Alarm, AlarmEvidence
from cloud.alarms.service import AlarmError, EventIn
from cloud.ingest.decode import Batch, RecordIn
from cloud.ingest.store import Store
from cloud.models import RawRecord, StationEvent, StationState

T0 = 1_780_000_000_000


def ev(seq: int, kind: str, gun: str | None = None, detail: dict | None = None, sid: str = "S1") -> EventIn:
    return EventIn(sid, seq, T0 + seq * 1000, kind, gun, detail or {})


def alarms(s: Session, **kw) -> list[dict]:
    return service.list_alarms(s, per_page=200, **kw).items


def test_fault_raised_and_cleared_with_evidence_idempotent(s: Session) -> None:
    events = [ev(1, "fault_raised", "P1-1", {"faults": ["over_temp"]}),
              ev(2, "gun_state", "P1-1", {"state": "faulted"}),
              ev(3, "fault_cleared", "P1-1", {"faults": ["over_temp"]})]
    assert service.apply_events(s, events) == 2
    assert service.apply_events(s, events) == 0  # the same records again: nothing changes
    s.commit()
    [a] = alarms(s)
    assert (a["kind"], a["gun"], a["severity"], a["raised_at"], a["cleared_at"], a["active"]) == (
        "fault", "P1-1", "major", T0 + 1000, T0 + 3000, False)
    full = service.get(s, a["id"])
    assert [(e["seq"], e["role"]) for e in full["evidence"]] == [(1, "raise"), (3, "clear")]


def test_clear_before_raise_and_partial_fault_clear(s: Session) -> None:
    # Records arrive in any order: the clear (seq 5) waits for its raise (seq 4).
    service.apply_events(s, [ev(5, "meter_back")])
    assert alarms(s) == []
    service.apply_events(s, [ev(4, "meter_lost", detail={"error": "timeout"})])
    [a] = alarms(s)
    assert (a["kind"], a["raise_seq"], a["clear_seq"], a["active"]) == ("meter_lost", 4, 5, False)
    # Two faults raised, one cleared: the alarm stays raised with the other.
    service.apply_events(s, [ev(10, "fault_raised", "P1-2", {"faults": ["a"]}),
                             ev(11, "fault_raised", "P1-2", {"faults": ["b"]}),
                             ev(12, "fault_cleared", "P1-2", {"faults": ["a"]})])
    [f] = alarms(s, kind="fault", state="active")
    assert f["detail"]["faults"] == ["b"] and f["count"] == 2
    service.apply_events(s, [ev(13, "fault_cleared", "P1-2", {"faults": ["b"]})])
    assert alarms(s, kind="fault", state="active") == []


def test_load_level_escalates_then_clears_and_one_shots_repeat(s: Session) -> None:
    service.apply_events(s, [ev(1, "load_level", detail={"level": "capped", "load_pct": 85.0}),
                             ev(2, "load_level", detail={"level": "failsafe", "load_pct": None}),
                             ev(3, "load_level", detail={"level": "capped", "load_pct": 82.0})])
    [load] = alarms(s, kind="load")
    assert load["severity"] == "critical" and load["active"]  # the highest severity it reached
    service.apply_events(s, [ev(4, "load_level", detail={"level": "normal", "load_pct": 30.0})])
    assert not alarms(s, kind="load")[0]["active"]
    service.apply_events(s, [ev(i, "start_refused", "P1-1", {"reason": "blocked_by_load"}) for i in (5, 6, 7)])
    [refused] = alarms(s, kind="start_refused")
    assert refused["count"] == 3 and refused["active"] and refused["severity"] == "info"
    # One-shot: acknowledging ends it; the next refusal opens a new one.
    service.acknowledge(s, refused["id"], actor="op1", note="看过了", now=T0 + 99_000)
    assert alarms(s, kind="start_refused")[0]["cleared_at"] == T0 + 99_000
    service.apply_events(s, [ev(8, "start_refused", "P1-1", {"reason": "failsafe"})])
    assert [a["active"] for a in alarms(s, kind="start_refused")] == [True, False]


def test_acknowledge_rules_and_owner_scope(s: Session) -> None:
    service.apply_events(s, [ev(1, "pile_lost", detail={"pile": "P1"}), ev(1, "meter_lost", sid="S2")])
    s.commit()
    [mine] = alarms(s, sids={"S1"})
    assert mine["sid"] == "S1" and alarms(s, sids=set()) == []
    other = alarms(s, sids={"S2"})[0]["id"]
    with pytest.raises(AlarmError) as e:
        service.acknowledge(s, other, actor="owner1", note="x", sids={"S1"})
    assert e.value.code == "alarm_not_found"
    for hostile in (other, "x", 2**80, None):
        with pytest.raises(AlarmError) as e:
            service.get(s, hostile, sids={"S1"})  # type: ignore[arg-type]
        assert e.value.code in service.MESSAGES
    with pytest.raises(AlarmError) as e:
        service.acknowledge(s, mine["id"], actor="op", note="x" * 501)
    assert e.value.code == "note_too_long"
    done = service.acknowledge(s, mine["id"], actor="op", note=" 已派人检修 ", now=T0 + 5)
    assert (done["acknowledged_by"], done["ack_note"], done["acknowledged_at"], done["active"]) == (
        "op", "已派人检修", T0 + 5, True)  # a condition stays active until the station clears it
    with pytest.raises(AlarmError) as e:
        service.acknowledge(s, mine["id"], actor="op", note="again")
    assert e.value.code == "alarm_already_acknowledged"
    assert [a["id"] for a in alarms(s, acknowledged=False)] == [other]


def test_list_filters_and_pages(s: Session) -> None:
    service.apply_events(s, [ev(i, "fault_raised", f"P{i}-1", {"faults": ["x"]}) for i in range(1, 8)]
                         + [ev(20, "clock_skew", detail={"jump_s": 9})])
    service.apply_events(s, [ev(21, "fault_cleared", "P1-1", {"faults": ["x"]})])
    page1 = service.list_alarms(s, page=1, per_page=3)
    page3 = service.list_alarms(s, page=3, per_page=3)
    assert page1.total == 8 and len(page1.items) == 3 and len(page3.items) == 2
    assert page1.items[0]["kind"] == "clock_skew"  # newest first
    assert service.list_alarms(s, state="past").total == 1
    assert service.list_alarms(s, state="active", min_severity="major").total == 6
    assert service.list_alarms(s, since=T0 + 3000, until=T0 + 5000).total == 2
    assert service.list_alarms(s, sid="S2").total == 0
    assert service.list_alarms(s, per_page=10_000).per_page == 200
    for bad in ({"state": "nope"}, {"min_severity": "huge"}, {"page": "x"}, {"per_page": None}):
        with pytest.raises(AlarmError):
            service.list_alarms(s, **bad)


def test_gateway_alarm_list_and_offline_sweep(s: Session) -> None:
    s.execute(update(StationState).where(StationState.sid == "S1").values(
        telemetry={"ts": T0, "guns": [], "alarms": [{"key": "meter_stale", "message": "电表超时", "since": T0 - 5000},
                                                   {"key": "no_tariff", "message": "无电价", "since": T0}]},
        telemetry_ts=T0, last_seen=T0))
    s.execute(update(StationState).where(StationState.sid == "S2").values(online=False, last_seen=T0 - 400_000,
                                                                         offline_reason="will"))
    out = service.sweep(s, T0, offline_after_s=300)
    assert out == {"gateway": 2, "offline": 1}
    assert service.sweep(s, T0 + 1000, offline_after_s=300) == {"gateway": 0, "offline": 0}
    gw = {a["key"]: a for a in alarms(s, kind="gateway")}
    assert gw["gw:meter_stale"]["severity"] == "major" and gw["gw:meter_stale"]["raised_at"] == T0 - 5000
    assert gw["gw:no_tariff"]["severity"] == "warning"
    [off] = alarms(s, kind="offline")
    assert (off["sid"], off["raised_at"], off["active"]) == ("S2", T0 - 400_000, True)
    # The gateway's list shrinks and S2 comes back: both clear.
    s.execute(update(StationState).where(StationState.sid == "S1").values(
        telemetry={"ts": T0 + 2000, "guns": [], "alarms": [{"key": "no_tariff", "message": "无电价", "since": T0}]}))
    s.execute(update(StationState).where(StationState.sid == "S2").values(online=True, last_seen=T0 + 2000))
    assert service.sweep(s, T0 + 3000, offline_after_s=300) == {"gateway": 1, "offline": 1}
    assert {a["key"] for a in alarms(s, state="active")} == {"gw:no_tariff"}
    assert alarms(s, kind="offline")[0]["cleared_at"] == T0 + 2000


def record(seq: int, kind: str, gun: str | None, detail: dict, sid: str = "S1") -> RecordIn:
    body = {"seq": seq, "type": "event", "ts": T0 + seq, "kind": kind, "gun": gun, "detail": detail}
    return RecordIn(sid=sid, seq=seq, type="event", ts=T0 + seq, body=body, flag=None)


def test_ingest_applies_events_once_and_never_stops_on_alarms(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(engine)
    batch = Batch(received_at=T0, records=[record(1, "fault_raised", "P1-1", {"faults": ["e1"]}),
                                           record(2, "meter_lost", None, {"error": "x"})], seen={"S1"})
    result = store.write(batch)
    assert result.acks == {"S1": 2}
    store.write(batch)  # resent: duplicates, no second alarm
    with Session(engine) as s:
        assert sorted(a["kind"] for a in alarms(s)) == ["fault", "meter_lost"]
        assert s.scalar(select(AlarmEvidence.alarm_id).where(AlarmEvidence.seq == 1)) is not None

    def broken(*_a, **_k):
        raise RuntimeError("alarm rules broke")

    monkeypatch.setattr(service, "judge_event", broken)
    with caplog.at_level(logging.ERROR, logger="jc.alarms"):
        result = store.write(Batch(received_at=T0 + 1, records=[record(3, "meter_back", None, {})], seen={"S1"}))
    assert result.acks == {"S1": 3} and "not applied" in caplog.text
    with Session(engine) as s:
        assert s.get(RawRecord, ("S1", 3)) is not None and s.get(StationEvent, ("S1", 3)) is not None
        assert s.scalar(select(Alarm.cleared_at).where(Alarm.kind == "meter_lost")) is None
        # Applying what was stored afterwards catches up (idempotent for the rest).
        monkeypatch.undo()
        assert service.apply_events(s, service.events_from_store(s, "S1")) == 1
        s.commit()
        assert s.scalar(select(Alarm.clear_seq).where(Alarm.kind == "meter_lost")) == 3
