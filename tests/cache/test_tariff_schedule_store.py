"""The store's tariff schedule against a model: any sequence of tariffs set (now or for an
instant), replaced and withdrawn, then read back at any instant — also after reopening the
file — gives the latest tariff starting at or before that instant."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.cache import Store
from edge.clock import FakeClock

T0 = 1_780_272_000_000
instants = st.integers(T0 - 5, T0 + 5)  # few instants: collisions (replacements) are common
ops = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(1, 4), st.one_of(st.none(), instants)),
    st.tuples(st.just("cancel"), st.one_of(st.none(), st.integers(1, 4)), instants),
), max_size=25)


def tariff(n: int) -> dict:
    return {"id": f"t-{n}", "currency": "CNY", "periods": [
        {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 1000 * n, "service_price_e4": 0}]}


@settings(max_examples=40, deadline=None)
@given(ops=ops, probes=st.lists(instants, min_size=1, max_size=6))
def test_the_tariff_at_an_instant_is_the_latest_started_at_or_before_it(ops, probes) -> None:
    clock = FakeClock(start_wall=T0 / 1000)
    model: dict[int, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.db"
        with Store.open(path, clock=clock) as store:
            for op in ops:
                if op[0] == "set":
                    _, n, at = op
                    entry = store.settings.set_tariff(tariff(n), at)
                    model[T0 if at is None else at] = f"t-{n}"
                    assert entry.effective_from == (T0 if at is None else at)
                else:
                    _, n, at = op
                    tid = None if n is None else f"t-{n}"
                    gone = store.settings.cancel_tariff(at, tid)
                    if at in model and (tid is None or model[at] == tid):
                        assert gone is not None and gone.tariff_id == model.pop(at)
                    else:
                        assert gone is None
        with Store.open(path, clock=clock) as store:  # what the next start of the gateway sees
            for probe in probes:
                starts = [k for k in model if k <= probe]
                want = model[max(starts)] if starts else None
                got = store.settings.tariff(probe)
                assert (got or {}).get("id") == want
            assert [e.effective_from for e in store.settings.pending_tariffs()] == sorted(k for k in model if k > T0)
            assert [(e.effective_from, e.tariff_id) for e in store.settings.tariff_history()] == sorted(model.items())
