"""Hypothesis strategies: tariffs with `_e4` prices, periods and idle fees; sessions."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from jcproto.tariff import Tariff

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
PRICE = st.integers(0, 20_000)  # 0 … 2 CNY/kWh in _e4


@st.composite
def tariffs(draw: Any, idle: bool | None = None) -> Tariff:
    n = draw(st.integers(1, 4))
    cuts = sorted(draw(st.sets(st.integers(1, 95), min_size=n - 1, max_size=n - 1)))
    shift = draw(st.integers(0, 95))  # rotated: one period may wrap midnight
    marks = [(15 * ((c + shift) % 96)) for c in [0, *cuts]]
    periods = []
    for i, start in enumerate(marks):
        end = marks[(i + 1) % len(marks)]
        periods.append({"start": f"{start // 60:02d}:{start % 60:02d}",
                        "end": f"{end // 60:02d}:{end % 60:02d}", "name": f"p{i}",
                        "energy_price_e4": draw(PRICE), "service_price_e4": draw(PRICE)})
    body: dict[str, Any] = {"id": "t-v1", "periods": periods,
                            "tz": draw(st.sampled_from(["Asia/Shanghai", "Asia/Shanghai", "Europe/Berlin"]))}
    if idle if idle is not None else draw(st.booleans()):
        body["idle"] = {"grace_min": draw(st.integers(0, 30)), "step_min": draw(st.integers(1, 60)),
                        "fen_per_step": draw(st.integers(0, 500)), "cap_fen": draw(st.integers(0, 5000))}
    return Tariff.from_dict(body)


@st.composite
def sessions(draw: Any, max_polls: int = 200) -> dict[str, Any]:
    """Start, start register, polls (ms since the previous, power W), release delay."""
    n = draw(st.integers(0, max_polls))
    dt = draw(st.integers(500, 30_000))  # a gateway polls at a steady interval, with jitter
    polls = [(dt + draw(st.integers(0, 400)), p)
             for p in draw(st.lists(st.integers(0, 120_000), min_size=n, max_size=n))]
    return {"start_ts": T0 + draw(st.integers(0, 400 * 86_400_000)),
            "start_wh": draw(st.integers(0, 10**9)), "polls": polls,
            "release_after_ms": draw(st.one_of(st.none(), st.integers(0, 6 * 3_600_000)))}
