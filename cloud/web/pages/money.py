"""Money: revenue by day, month or station split into electricity, service and idle fees,
and its export as CSV or Excel, streamed (openpyxl write_only); the recharges' export; the
streamed-export response the orders' export uses too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cloud.db import db
from cloud.orders import service as orders
from cloud.reports import export
from cloud.web import access

bp = Blueprint("money", __name__, url_prefix="/money")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _window() -> tuple[str, str, str, int, int]:
    """by, from, to (dates, `to` inclusive) from the query; default: this month, by day."""
    tz = current_app.config["CONSOLE_TIMEZONE"]
    zone = ZoneInfo(tz)
    today = datetime.fromtimestamp(access.clock() / 1000, zone).date()
    by = request.args.get("by") if request.args.get("by") in orders.REVENUE_BY else "day"

    def day(name: str, default: Any) -> Any:
        try:
            return datetime.strptime(request.args.get(name) or "", "%Y-%m-%d").date()
        except ValueError:
            return default

    lo, hi = day("from", today.replace(day=1)), day("to", today)
    if hi < lo:
        lo, hi = hi, lo
    start = int(datetime(lo.year, lo.month, lo.day, tzinfo=zone).timestamp() * 1000)
    end_d = hi + timedelta(days=1)
    end = int(datetime(end_d.year, end_d.month, end_d.day, tzinfo=zone).timestamp() * 1000)
    return by, lo.isoformat(), hi.isoformat(), start, end


def _rows() -> tuple[str, str, str, list[orders.RevenueRow]]:
    by, lo, hi, start, end = _window()
    rows = orders.revenue(db.session, sids=access.scope(), by=by, since_ms=start, until_ms=end,
                          tz=current_app.config["CONSOLE_TIMEZONE"])
    return by, lo, hi, rows


@bp.get("/")
@access.requires("money")
def index() -> Any:
    by, lo, hi, rows = _rows()
    total = orders.RevenueRow("", sum(r.orders for r in rows), sum(r.electricity_fen for r in rows),
                              sum(r.service_fen for r in rows), sum(r.idle_fen for r in rows))
    return render_template("console/money/revenue.html", by=by, lo=lo, hi=hi, rows=rows, total=total)


def _header() -> list[str]:
    return [_("Key"), _("Orders"), _("Electricity (fen)"), _("Service (fen)"), _("Idle (fen)"), _("Total (fen)")]


def _cells(r: orders.RevenueRow) -> list[Any]:
    return [r.key, r.orders, r.electricity_fen, r.service_fen, r.idle_fen, r.total_fen]


@bp.get("/revenue.csv")
@access.requires("money")
def export_csv() -> Any:
    by, lo, hi, rows = _rows()
    header = _header()

    def gen() -> Iterator[str]:
        buf = io.StringIO()
        w = csv.writer(buf)
        yield "\ufeff"  # Excel opens UTF-8 CSV with Chinese text only with the BOM
        for line in [header, *(_cells(r) for r in rows)]:
            w.writerow(line)
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()

    return Response(stream_with_context(gen()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="revenue-{by}-{lo}-{hi}.csv"'})


@bp.get("/revenue.xlsx")
@access.requires("money")
def export_xlsx() -> Any:
    import tempfile

    from openpyxl import Workbook

    by, lo, hi, rows = _rows()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title="revenue")
    ws.append(_header())
    for r in rows:
        ws.append(_cells(r))
    # write_only keeps rows out of memory; the zip is written to a temporary file and streamed
    tmp = tempfile.TemporaryFile()
    wb.save(tmp)
    tmp.seek(0)

    def gen() -> Iterator[bytes]:
        with tmp:
            while chunk := tmp.read(64 * 1024):
                yield chunk

    return Response(gen(), mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="revenue-{by}-{lo}-{hi}.xlsx"'})


def export_response(kind: str, columns: list[export.Column], rows: Iterator[tuple[Any, ...]], name: str,
                    sheet: str) -> Response:
    """A report (cloud/reports/export.py) streamed as CSV or Excel in the page's language."""
    lang = "en" if str(get_locale()).startswith("en") else "zh"
    if kind == "csv":
        body: Iterator[Any] = export.csv_stream(columns, rows, lang)
        mimetype = "text/csv; charset=utf-8"
    else:
        body = export.xlsx_stream(columns, rows, lang, sheet=sheet)
        mimetype = XLSX
    return Response(stream_with_context(body), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{kind}"'})


def _recharges(kind: str) -> Response:
    _by, lo, hi, start, end = _window()
    rows = export.recharge_rows(db.session, access.scope(), start, end, current_app.config["CONSOLE_TIMEZONE"])
    return export_response(kind, export.RECHARGE_COLUMNS, rows, f"recharges-{lo}-{hi}", "recharges")


@bp.get("/recharges.csv")
@access.requires("money")
def recharges_csv() -> Any:
    return _recharges("csv")


@bp.get("/recharges.xlsx")
@access.requires("money")
def recharges_xlsx() -> Any:
    return _recharges("xlsx")


# the payment channels (cloud.wallet.models.PAYMENT_CHANNELS) as the console names them
CHANNEL_LABELS = {"jsapi": _l("Mini-program (JSAPI)"), "oa_jsapi": _l("Official account (JSAPI)"),
                  "h5": _l("H5 (phone browser)")}


@bp.get("/payments")
@access.requires("money")
def payments() -> Any:
    from cloud.wallet import service as wallet
    from cloud.web.pages.tariffs import page_arg

    purpose = request.args.get("purpose") if request.args.get("purpose") in ("wallet", "session") else None
    page = wallet.payment_page(db.session, sids=access.scope(), purpose=purpose, page=page_arg())
    return render_template("console/money/payments.html", page=page, purpose=purpose, channels=CHANNEL_LABELS)


@bp.get("/refunds")
@access.requires("money")
def refunds() -> Any:
    from cloud.wallet import service as wallet
    from cloud.web.pages.tariffs import page_arg

    page = wallet.refund_page(db.session, sids=access.scope(), page=page_arg())
    return render_template("console/money/refunds.html", page=page)
