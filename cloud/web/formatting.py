"""Jinja filters for the console, all in one place: money (integer fen → ¥ for the locale),
times (epoch ms in the station's time zone) and plain numbers. Templates never format by hand.

`localtime` takes a zone name; without one it uses CONSOLE_TIMEZONE (the stations' zone, as
the stations carry none of their own).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_currency, format_decimal
from flask import Flask, current_app
from flask_babel import get_locale


def fen(value: int | None) -> str:
    if value is None:
        return "—"
    return format_currency(Decimal(int(value)).scaleb(-2), "CNY", locale=get_locale())


def localtime(ms: int | None, tz: str | None = None, fmt: str = "medium") -> str:
    if ms is None:
        return "—"
    zone = ZoneInfo(tz or current_app.config["CONSOLE_TIMEZONE"])
    when = datetime.fromtimestamp(int(ms) / 1000, tz=zone)
    return format_datetime(when, format=fmt, tzinfo=zone, locale=get_locale())


def number(value: int | float | None) -> str:
    return "—" if value is None else format_decimal(value, locale=get_locale())


def init_app(app: Flask) -> None:
    app.add_template_filter(fen, "fen")
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(number, "number")
