"""Pairing codes made at the gateway (docs/sharing.md): the gateway's `pairing_code` event,
decoded and stored by the real ingest path (cloud.ingest.decode + store) on SQLite and
PostgreSQL, makes the gun's code exactly as an operator's would; the driver registers with the
code the gateway showed. Hostile records are kept as evidence and make nothing; a replay makes
no second code; a station makes codes only for its own guns."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.audit.models import AuditEntry
from cloud.ingest.decode import Batch, Refusal, add_message
from cloud.ingest.store import Store
from cloud.models import RawRecord, StationEvent
from cloud.models.base import now_ms
from cloud.sharing import pairing
from cloud.sharing.models import PairingCode, SharedPile
from cloud.sharing.service import SharingError
from cloud.stations import service as stations
from edge.cache import Store as EdgeStore
from edge.clock import FakeClock
from edge.pairing import make_code
from jcproto.pairing import MAX_TTL_MS, code_sha256

HOUR = 3_600_000


def _stations(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        for sid, guns in (("H1", ("P1-1", "P1-2")), ("H2", ("P1-1", "P2-1"))):
            stations.set_station(s, sid, name=sid)
            for g in guns:
                stations.set_gun(s, sid, g, code=f"{sid}-{g}")


class Gateway:
    """A gateway's real store: codes are made by edge.pairing and sent as its outbox holds them."""

    def __init__(self, tmp: Path, sid: str) -> None:
        self.sid = sid
        self.store = EdgeStore.open(tmp / f"{sid}.db", clock=FakeClock())

    def make(self, gun: str, ttl_ms: int = 24 * HOUR) -> tuple[str, dict[str, Any]]:
        made = make_code(self.store, gun, now_ms(), ttl_ms=ttl_ms)
        [rec] = [r for r in self.store.outbox.batch(after_seq=0, limit=1000) if r.seq == made.seq]
        return made.code, rec.to_wire()

    def next_seq(self) -> int:
        return self.store.outbox.last_seq() + 1


def _batch(sid: str, *records: dict[str, Any], claimed_sid: str | None = None) -> Batch:
    batch = Batch(received_at=now_ms())
    up: dict[str, Any] = {"v": 1, "records": list(records)}
    if claimed_sid is not None:
        up["sid"] = claimed_sid
    add_message(batch, f"jc/v1/st/{sid}/up", json.dumps(up).encode())
    return batch


def _send(store: Store, sid: str, *records: dict[str, Any], claimed_sid: str | None = None) -> Any:
    return store.write(_batch(sid, *records, claimed_sid=claimed_sid))


def _register(engine: Engine, driver: str, gun_code: str, code: str) -> int | str:
    try:
        return pairing.register_with_code(sessionmaker(engine).begin, driver, gun_code, code, commission_bp=1000)
    except SharingError as e:
        return e.code


def _codes(engine: Engine, sid: str = "H1") -> list[PairingCode]:
    with Session(engine) as s:
        return list(s.scalars(select(PairingCode).where(PairingCode.sid == sid).order_by(PairingCode.id)))


def _audit(engine: Engine, action: str) -> list[AuditEntry]:
    with Session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_the_gateways_code_registers_the_pile_once(engine: Engine, tmp_path: Path) -> None:
    _stations(engine)
    gw, store = Gateway(tmp_path, "H1"), Store(engine)
    with Session(engine) as s, s.begin():  # an operator's code, live before the gateway's
        operators_code, _ = pairing.issue(s, "H1", "P1-1", issued_by="alice")
    code, rec = gw.make("P1-1")
    result = _send(store, "H1", rec)
    assert result.acks == {"H1": rec["seq"]} and not result.flagged and result.refused == {}
    operators, gateways = _codes(engine)
    assert operators.voided_at is not None  # a new code voids the older live one, as the console's does
    assert (gateways.code_hash, gateways.expires_at, gateways.issued_by) == (
        code_sha256(code), rec["detail"]["expires_at"], "gateway:H1")
    [entry] = _audit(engine, "sharing.pairing_code")
    assert (entry.actor, entry.target, entry.detail) == (
        "gateway:H1", "gun:H1/P1-1", {"expires_at": rec["detail"]["expires_at"], "seq": rec["seq"], "sid": "H1"})
    # the same record again, and a renumbered copy of it (a restored store): no second code
    again = _send(store, "H1", rec)
    assert again.duplicates == 1 and again.refused == {}  # a repeat of an accepted code is not refused
    _send(store, "H1", {**rec, "seq": rec["seq"] + 1})
    assert len(_codes(engine)) == 2 and len(_audit(engine, "sharing.pairing_code")) == 1
    # another gun's QR code, the operator's void code: refused; the gateway's code: the pile
    assert _register(engine, "7", "H1-P1-2", code) == "pairing_code_invalid"
    assert _register(engine, "7", "H1-P1-1", operators_code) == "pairing_code_invalid"
    pile = _register(engine, "7", "H1-P1-1", code.lower())
    assert isinstance(pile, int)
    assert _register(engine, "8", "H1-P1-1", code) == "pairing_code_invalid"  # single use
    with Session(engine) as s:
        assert (s.get(SharedPile, pile).sid, s.get(SharedPile, pile).gun, s.get(SharedPile, pile).owner_id) == (
            "H1", "P1-1", "7")
    gw.store.close()


def test_wrong_guesses_at_a_gateways_code_void_it_as_any(engine: Engine, tmp_path: Path) -> None:
    _stations(engine)
    gw, store = Gateway(tmp_path, "H1"), Store(engine)
    code, rec = gw.make("P1-2")
    _send(store, "H1", rec)
    for i in range(pairing.CODE_MAX_FAILURES):  # five drivers, one wrong guess each
        assert _register(engine, str(100 + i), "H1-P1-2", "0000000000") == "pairing_code_invalid"
    assert _register(engine, "7", "H1-P1-2", code) == "pairing_code_invalid"
    gw.store.close()


def test_a_station_makes_codes_only_for_its_own_guns(engine: Engine, tmp_path: Path) -> None:
    _stations(engine)
    h1, store = Gateway(tmp_path, "H1"), Store(engine)
    # H1's gateway names a gun only H2 has: the code is for (H1, P2-1), which does not exist
    code, rec = h1.make("P2-1")
    _send(store, "H1", rec)
    assert _codes(engine, "H1") == [] and _codes(engine, "H2") == []
    [refused] = _audit(engine, "sharing.pairing_code_refused")
    assert (refused.actor, refused.target, refused.detail["reason"]) == (
        "gateway:H1", f"record:H1/{rec['seq']}", "gun_not_found")
    assert _register(engine, "7", "H2-P2-1", code) == "pairing_code_invalid"
    # a code for P1-1 made by H1 is H1's: H2's gun of the same name does not take it
    code, rec = h1.make("P1-1")
    _send(store, "H1", rec)
    assert _register(engine, "7", "H2-P1-1", code) == "pairing_code_invalid"
    # a batch on H1's topic that claims to be H2's is dropped whole
    code, rec = h1.make("P1-1")
    with pytest.raises(Refusal):
        _send(store, "H1", rec, claimed_sid="H2")
    assert _codes(engine, "H2") == []
    h1.store.close()


def _hostile(seq: int, detail: Any, gun: Any = "P1-1") -> dict[str, Any]:
    return {"seq": seq, "type": "event", "ts": now_ms(), "kind": "pairing_code", "gun": gun, "detail": detail}


def test_hostile_records_are_kept_as_evidence_and_make_nothing(engine: Engine, tmp_path: Path) -> None:
    _stations(engine)
    store = Store(engine)
    t, good = now_ms(), code_sha256("7K3QX0M9ZD")
    invalid = [  # the schema's refusals: stored flagged `invalid`, never materialised
        {"gun": "P1-1", "code_sha256": good.upper(), "expires_at": t + HOUR},  # not lower-case hex
        {"gun": "P1-1", "code_sha256": "zz" * 32, "expires_at": t + HOUR},
        {"gun": "P1-1", "code_sha256": good[:-1], "expires_at": t + HOUR},
        {"gun": "P1-1", "expires_at": t + HOUR},
        {"gun": "P1-1", "code_sha256": good},
        {"gun": "P1-1", "code_sha256": good, "expires_at": str(t + HOUR)},
        {"gun": "P1-1", "code_sha256": good, "expires_at": 12},
        {"gun": "P1-1", "code_sha256": ["x"], "expires_at": t + HOUR},
        {"code_sha256": good, "expires_at": t + HOUR},
        "not an object",
    ]
    records = [_hostile(i + 1, d) for i, d in enumerate(invalid)]
    records.append(_hostile(len(records) + 1, {"gun": "P1-1", "code_sha256": good, "expires_at": t + HOUR}, None))
    refused = {  # valid in form, refused by the rules: stored, logged and audited with the reason
        "pairing_expired": {"gun": "P1-1", "code_sha256": good, "expires_at": t - 1},
        "pairing_expiry_too_far": {"gun": "P1-1", "code_sha256": good, "expires_at": t + MAX_TTL_MS + 3 * HOUR},
        "gun_not_found": {"gun": "P7-1", "code_sha256": good, "expires_at": t + HOUR},
        "pairing_detail_invalid": {"gun": "P1-2", "code_sha256": good, "expires_at": t + HOUR},
    }
    first = len(records) + 1
    for i, (_, d) in enumerate(refused.items()):
        records.append(_hostile(first + i, d, "P7-1" if d["gun"] == "P7-1" else "P1-1"))
    result = _send(store, "H1", *records)
    assert result.acks == {"H1": len(records)}  # the receiver goes on: every seq held
    # the station is told of each, with a stable reason (the ack's `refused`)
    told = {seq: ("pairing_code", "invalid") for seq in range(1, len(invalid) + 2)}
    told.update({first + i: ("pairing_code", why) for i, why in
                 enumerate(("expired", "expiry_too_far", "unknown_gun", "invalid"))})
    assert result.refused == {"H1": told}
    # all of it again (the ack lost, the cloud restarted): every refusal is told again
    assert Store(engine).write(_batch("H1", *records)).refused == {"H1": told}
    assert result.flagged["invalid"] == len(invalid) + 1
    assert _codes(engine) == []
    reasons = [e.detail["reason"] for e in _audit(engine, "sharing.pairing_code_refused")]
    assert reasons == list(refused)
    with Session(engine) as s:
        raw = s.scalars(select(RawRecord).where(RawRecord.sid == "H1").order_by(RawRecord.seq)).all()
        assert [r.seq for r in raw] == list(range(1, len(records) + 1))
        assert [r.flag_reason for r in raw[: len(invalid) + 1]] == ["invalid"] * (len(invalid) + 1)
        assert all(not r.flagged for r in raw[len(invalid) + 1:])
        assert s.scalar(select(func.count()).select_from(StationEvent).where(StationEvent.sid == "H1")) == len(refused)
    # and a good one after all that still works
    code = "7K3QX0M9ZD"
    ok = _send(store, "H1", _hostile(len(records) + 1, {"gun": "P1-1", "code_sha256": good, "expires_at": t + HOUR}))
    assert ok.refused == {}
    assert isinstance(_register(engine, "9", "H1-P1-1", code), int)


def test_a_refused_code_is_told_to_its_station_and_again_after_a_restart(engine: Engine, tmp_path: Path) -> None:
    """The refusal rides on the ack of the batch that held the record; a cloud that stored the
    record and died before its ack hears the record again (the gateway resends what no ack
    covered) and tells the refusal again, from its audit entry. A seq the cloud holds with other
    content (a seq conflict) is not the gateway's record: its old refusal is not told."""
    _stations(engine)
    gw = Gateway(tmp_path, "H1")
    _, ok = gw.make("P1-1")
    _, bad = gw.make("P9-1")  # a gun the cloud does not know at H1
    first = Store(engine).write(_batch("H1", ok, bad))
    assert first.refused == {"H1": {bad["seq"]: ("pairing_code", "unknown_gun")}}
    assert first.acks == {"H1": bad["seq"]}
    # a new ingest process (the first one died before its ack): the resend is told the same
    again = Store(engine).write(_batch("H1", ok, bad))
    assert again.duplicates == 2 and again.refused == first.refused
    # another store's record under that seq: a conflict, not a refusal of this record
    other = {**bad, "ts": bad["ts"] + 1, "detail": {**bad["detail"], "expires_at": bad["detail"]["expires_at"] + 1}}
    clash = Store(engine).write(_batch("H1", other))
    assert clash.conflicts == {"H1": [bad["seq"]]} and clash.refused == {}
    gw.store.close()
