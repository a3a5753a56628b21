"""Minute load samples of the transformer meter, for local curves. Bounded to
`Store.max_samples` minutes (30 days by default); the oldest go first."""

from __future__ import annotations

from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

from .codec import check_int, check_ms

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class MinuteSample:
    minute_ts: int  # start of the minute, ms, a multiple of 60 000
    p_avg_w: int
    p_max_w: int
    load_pct_max: float
    energy_import_wh: int  # the meter's register at the end of the minute


class Samples:
    def __init__(self, store: Store) -> None:
        self._s = store

    def put(self, sample: MinuteSample) -> None:
        """Insert or replace the sample of that minute."""
        check_ms(sample.minute_ts, "minute_ts")
        if sample.minute_ts % 60_000:
            raise ValueError(f"minute_ts {sample.minute_ts} is not on a minute boundary")
        for name in ("p_avg_w", "p_max_w", "energy_import_wh"):
            check_int(getattr(sample, name), name)
        load = sample.load_pct_max
        if isinstance(load, bool) or not isinstance(load, (int, float)):
            raise ValueError("load_pct_max must be a number")
        with self._s.transaction():
            self._s.execute(
                "INSERT OR REPLACE INTO samples (minute_ts, p_avg_w, p_max_w, load_pct_max, "
                "energy_import_wh) VALUES (?, ?, ?, ?, ?)",
                astuple(sample),
            )
            self._s.execute(
                "DELETE FROM samples WHERE minute_ts < (SELECT minute_ts FROM samples "
                "ORDER BY minute_ts DESC LIMIT 1 OFFSET ?)",
                (self._s.max_samples - 1,),
            )

    def range(self, from_ms: int, to_ms: int) -> list[MinuteSample]:
        """Samples with from_ms <= minute_ts < to_ms, oldest first."""
        rows = self._s.query(
            "SELECT * FROM samples WHERE minute_ts >= ? AND minute_ts < ? ORDER BY minute_ts",
            (from_ms, to_ms),
        )
        return [MinuteSample(**r) for r in rows]

    def latest(self, n: int = 60) -> list[MinuteSample]:
        """The last n samples, oldest first."""
        rows = self._s.query("SELECT * FROM samples ORDER BY minute_ts DESC LIMIT ?", (n,))
        return [MinuteSample(**r) for r in reversed(rows)]

    def count(self) -> int:
        return int(self._s.scalar("SELECT count(*) FROM samples"))
