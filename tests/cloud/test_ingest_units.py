"""Pure parts of ingest: refusal reasons, batch decoding, once-a-minute logging."""

from __future__ import annotations

import json
import logging

import pytest

from cloud.ingest.decode import Batch, Refusal, add_message
from cloud.ingest.ratelog import RateLimitedLog
from tests.cloud.support import NOW, filler_records


def _add(batch: Batch, topic: str, payload: object) -> None:
    add_message(
        batch, topic, payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    )


@pytest.mark.parametrize(
    ("topic", "payload", "kind"),
    [
        ("jc/v1/st/S1/up", b"{", "json"),
        ("jc/v1/st/S1/up", {"v": 1.0, "records": []}, "version"),
        ("jc/v1/st/S1/up", {"v": 1, "records": []}, "schema"),
        ("jc/v1/st/S1/up", {"v": 1, "sid": "S2", "records": filler_records(1, 1)}, "sid"),
        ("jc/v1/st/S1/state", {"v": 1, "sid": "S2", "online": True, "ts": NOW}, "sid"),
        ("jc/v1/st/S1/ack", {"v": 1, "seq": 1}, "topic"),
        ("jc/v2/st/S1/up", {"v": 1}, "topic"),
    ],
)
def test_refusals_name_their_reason(topic: str, payload: object, kind: str) -> None:
    with pytest.raises(Refusal) as info:
        _add(Batch(received_at=NOW), topic, payload)
    assert info.value.kind == kind


def test_batch_keeps_latest_telemetry_and_flags_bad_records() -> None:
    b = Batch(received_at=NOW)
    for ts in (3, 1, 2):
        _add(b, "jc/v1/st/S1/telemetry", {"v": 1, "ts": NOW + ts, "transformer": None, "guns": []})
    recs = filler_records(1, 3)
    recs[1] = {"seq": 2, "type": "meter_minute", "ts": NOW}  # fields missing
    recs.append({"type": "event"})  # no seq: cannot be kept
    _add(b, "jc/v1/st/S1/up", {"v": 1, "records": recs})
    assert b.telemetry["S1"][0] == NOW + 3
    assert [(r.seq, r.flag) for r in b.records] == [(1, None), (2, "invalid"), (3, None)]
    assert b.dropped["schema"] == 1 and b.seen == {"S1"}


def test_rate_limited_log_says_it_once_a_minute_per_kind(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = RateLimitedLog(logging.getLogger("t"), 60, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        assert log.warning("json", "bad %s", 1)
        assert not log.warning("json", "bad %s", 2)
        assert log.warning("schema", "other")
        now[0] = 61
        assert log.warning("json", "bad %s", 3)
    assert [r.getMessage() for r in caplog.records] == [
        "[json] bad 1",
        "[schema] other",
        "[json] bad 3 (1 more like it since the last report)",
    ]
