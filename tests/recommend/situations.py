"""Hand-made candidates for the scorer's tests: stations placed a number of km east of the
driver, with one price window or a day's periods."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from cloud.recommend.scorer import Candidate, Gun, PriceWindow, Situation

LAT, LNG = 31.2, 121.4
SH = ZoneInfo("Asia/Shanghai")
NOW = int(datetime(2026, 12, 2, 14, 0, tzinfo=SH).timestamp() * 1000)
DAY = 86_400_000


def at(hh: int, mm: int = 0) -> int:
    return int(datetime(2026, 12, 2, hh, mm, tzinfo=SH).timestamp() * 1000)


def situation(now: int = NOW, energy_wh: int = 30_000) -> Situation:
    return Situation(LAT, LNG, now, energy_wh)


def flat(price_yuan: float, period: str = "flat") -> tuple[PriceWindow, ...]:
    return (PriceWindow(NOW - DAY, None, round(price_yuan * 10_000), period),)


def station(sid: str, km: float, *, price: float = 1.0, prices: tuple[PriceWindow, ...] | None = None,
            level: str | None = "normal", online: bool = True, guns: tuple[Gun, ...] | None = None,
            kw: int = 120, **kw_: object) -> Candidate:
    dlng = km / (111.32 * math.cos(math.radians(LAT)))
    guns = guns if guns is not None else (Gun(f"{sid}P1-1", kw * 1000),)
    return Candidate(sid, f"station {sid}", LAT, LNG + dlng, online, level, guns,
                     prices if prices is not None else flat(price), **kw_)  # type: ignore[arg-type]


def busy(gid: str, until: int, kw: int = 120) -> Gun:
    return Gun(gid, kw * 1000, free=False, free_at=until)
