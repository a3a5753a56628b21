"""Fuzzing the ingest decoder (hypothesis): whatever bytes arrive on whatever topic, it either
refuses the message (Refusal, counted) or yields records and states that the store takes as
they are. No other exception, ever; what it yields is within the Revision 1.1 bounds and fit
for SQLite and PostgreSQL (no NUL, no surrogates, no integer past 64 bits)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from cloud.ingest.decode import SEQ_MAX, TS_MAX, TS_MIN, Batch, Refusal, add_message
from cloud.ingest.store import Store
from jcproto import schema
from jcproto.strictjson import INT64_MAX, INT64_MIN, problems
from tests.cloud.support import NOW, filler_records, session_records

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

ints = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, 1, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 2**70, TS_MIN - 1, TS_MAX + 1, NOW]),
)
texts = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12),
    st.sampled_from(["\ud800", "a\udfffb", "\udbff\udc00", "\x00", "x\x00y", "\ufeff", "é", "充"]),
)
scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=True, allow_infinity=True), texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(texts, inner, max_size=4)),
    max_leaves=20,
)
TEMPLATES = [*session_records(1), *filler_records(5, 2),
             {"seq": 9, "type": "lost", "ts": NOW, "reason": "x"}]  # fmt: skip
topics = st.sampled_from(
    ["jc/v1/st/F1/up", "jc/v1/st/F1/state", "jc/v1/st/F1/telemetry", "jc/v1/st/F1/reply",
     "jc/v1/st/F1/ack", "jc/v1/st/F1/cmd", "jc/v1/st/F!/up", "jc/v1/st//up", "x", ""]
)  # fmt: skip


@st.composite
def mutated_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid record with some fields replaced, dropped or added."""
    rec = dict(draw(st.sampled_from(TEMPLATES)))
    for key in draw(st.lists(st.sampled_from(sorted(rec)), max_size=3)):
        if draw(st.booleans()):
            rec[key] = draw(values)
        else:
            rec.pop(key, None)
    if draw(st.booleans()):
        rec[draw(texts)] = draw(values)
    return rec


def encode(obj: Any, how: int) -> bytes:
    """JSON as a careless or hostile sender writes it: NaN allowed, surrogates escaped."""
    text = json.dumps(obj, allow_nan=True, ensure_ascii=bool(how % 2))
    return text.encode("utf-8", "surrogatepass")


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        return encode(draw(values), draw(st.integers(0, 1)))
    if kind == 2:
        recs = draw(st.lists(mutated_records(), min_size=1, max_size=5))
        env: dict[str, Any] = {"v": 1, "records": recs}
        if draw(st.booleans()):
            env[draw(st.sampled_from(["v", "sid", "x"]))] = draw(values)
        return encode(env, draw(st.integers(0, 1)))
    if kind == 3:
        state = {"v": 1, "online": True, "ts": NOW, "fw": "1", "cfg_rev": 1}
        state[draw(st.sampled_from(sorted(state)))] = draw(values)
        return encode(state, draw(st.integers(0, 1)))
    raw = encode({"v": 1, "records": [draw(mutated_records())]}, 1)
    cut = draw(st.integers(0, len(raw)))
    return raw[:cut] + draw(st.binary(max_size=8)) + raw[cut:]


def _storable(obj: Any) -> None:
    assert problems(obj, limit=1) == [], problems(obj)


def check(batch: Batch) -> None:
    for r in batch.records:
        assert type(r.seq) is int and 1 <= r.seq <= SEQ_MAX
        assert type(r.ts) is int and (r.ts == 0 or TS_MIN <= r.ts <= TS_MAX)
        assert isinstance(r.type, str) and 1 <= len(r.type) <= 32
        _storable(r.body)
        if r.flag is None:
            assert schema.is_valid("record", r.body)
        else:
            assert r.flag == "invalid" and r.reason
            _storable(r.reason)
    for s in batch.states:
        assert INT64_MIN <= s.ts <= INT64_MAX
        _storable([s.fw, s.cfg_rev])


@SETTINGS
@given(topic=topics, payload=payloads())
def test_decoder_refuses_or_yields_storable_records(topic: str, payload: bytes) -> None:
    batch = Batch(received_at=NOW)
    try:
        add_message(batch, topic, payload)
    except Refusal as e:
        assert e.kind in {"json", "version", "schema", "sid", "topic"}
        _storable(e.message)
        return
    check(batch)


def test_what_the_decoder_yields_the_database_takes(engine: Engine) -> None:
    """The decoder's output, written by the store to SQLite and PostgreSQL: never an error."""
    store = Store(engine)
    seen: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                       HealthCheck.function_scoped_fixture])
    @given(payload=payloads())
    def run(payload: bytes) -> None:
        batch = Batch(received_at=NOW)
        try:
            add_message(batch, "jc/v1/st/F1/up", payload)
        except Refusal:
            return
        result = store.write(batch)
        assert result.errors == 0, "the database refused a decoded record"
        seen.append(len(batch.records))

    run()
    assert sum(seen) > 0
