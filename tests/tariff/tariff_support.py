"""Tariffs and instants for the tariff tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jcproto.tariff import Tariff

HOUR_MS = 3_600_000


def ms(
    y: int, mo: int, d: int, h: int = 0, mi: int = 0, tz: str = "Asia/Shanghai", fold: int = 0
) -> int:
    """Milliseconds since the epoch of a local wall-clock time."""
    return int(datetime(y, mo, d, h, mi, tzinfo=ZoneInfo(tz), fold=fold).timestamp() * 1000)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> int:
    return ms(y, mo, d, h, mi, tz="UTC")


def period(start: str, end: str, name: str, energy: int, service: int) -> dict:
    return {
        "start": start,
        "end": end,
        "name": name,
        "energy_fen_per_kwh": energy,
        "service_fen_per_kwh": service,
    }


VALLEY = (30, 50)
FLAT = (65, 50)
PEAK = (105, 50)

# A typical 峰谷平 day: valley 22–06 (wraps midnight), peak twice, flat in between.
TOU = {
    "id": "tou-2026",
    "currency": "CNY",
    "periods": [
        period("22:00", "06:00", "valley", *VALLEY),
        period("06:00", "08:00", "flat", *FLAT),
        period("08:00", "11:00", "peak", *PEAK),
        period("11:00", "18:00", "flat", *FLAT),
        period("18:00", "21:00", "peak", *PEAK),
        period("21:00", "22:00", "flat", *FLAT),
    ],
}

FLAT_ONLY = {"id": "flat", "periods": [period("00:00", "24:00", "flat", 100, 50)]}


def tou(tz: str | None = None) -> Tariff:
    d = dict(TOU)
    if tz:
        d["tz"] = tz
    return Tariff.from_dict(d)


def dst_tariff(tz: str, cut: str) -> Tariff:
    """Two periods, night 00:00–cut and day cut–24:00, in a zone with DST."""
    return Tariff.from_dict(
        {
            "id": f"dst-{tz}",
            "tz": tz,
            "periods": [period("00:00", cut, "night", 40, 10), period(cut, "24:00", "day", 90, 10)],
        }
    )
