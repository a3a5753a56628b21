"""Ingest keeps the Revision 1.1 `gun_released` record as a known record (not flagged), in
seq order with the session's other records, so that billing can read the idle fee."""

from __future__ import annotations

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.models import RawRecord
from tests.cloud.support import NOW, FakeStation, ThreadedIngest, session_records
from tests.support.broker import Broker


def test_gun_released_is_stored_unflagged_and_acked(
    broker: Broker, engine: Engine, ingest: ThreadedIngest
) -> None:
    st = FakeStation(broker, "S1").connect()
    recs = session_records(1)
    sid_ = recs[0]["session_id"]
    released = {"seq": 5, "type": "gun_released", "ts": NOW + 900_000, "session_id": sid_,
                "gun": "P1-1", "released_at": NOW + 900_000, "idle_fen": 300}  # fmt: skip
    broken = {**released, "seq": 6, "idle_fen": -5}  # breaks its schema: kept, flagged invalid
    st.send([*recs, released, broken])
    assert st.wait_acked(6) == 6
    with Session(engine) as s:
        rows = {r.seq: r for r in s.scalars(select(RawRecord).where(RawRecord.sid == "S1"))}
    assert (rows[5].type, rows[5].flagged, rows[5].flag_reason) == ("gun_released", False, None)
    assert rows[5].payload["idle_fen"] == 300 and rows[5].payload["session_id"] == sid_
    assert (rows[6].flagged, rows[6].flag_reason) == (True, "invalid")
