"""Orders and the abnormal-transaction queue: orders with their bill lines and stop reasons;
an abnormal order shown with its evidence and resolved by forced settlement (RESOLVE_BILL with
the operator's lines) or voided (RESOLVE_VOID, the hold returned), each with a required note
in the audit log."""

from __future__ import annotations

import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from cloud.audit import service as audit
from cloud.db import db
from cloud.orders import service as orders
from cloud.orders.machine import Event, IllegalTransition, State
from cloud.web import access
from cloud.web.pages.tariffs import page_arg

bp = Blueprint("orders", __name__, url_prefix="/orders")
STATES = [st.value for st in State]


@bp.get("/")
@access.requires("orders")
def index() -> Any:
    state = request.args.get("state") if request.args.get("state") in STATES else None
    sid = (request.args.get("sid") or "").strip()[:64] or None
    page = orders.listing(db.session, sids=access.scope(), state=state, sid=sid, page=page_arg())
    return render_template("console/orders/list.html", page=page, state=state, sid=sid, states=STATES)


def _export(kind: str) -> Any:
    """The orders created in ?from=&to= (local days, default this month), streamed; `?sid=`
    narrows to one station, never past the operator's scope."""
    from flask import current_app

    from cloud.reports import export
    from cloud.web.pages.money import _window, export_response

    _by, lo, hi, start, end = _window()
    sids = access.scope()
    sid = (request.args.get("sid") or "").strip()[:64] or None
    if sid is not None:
        sids = {sid} if sids is None or sid in sids else set()
    rows = export.order_rows(db.session, sids, start, end, current_app.config["CONSOLE_TIMEZONE"])
    return export_response(kind, export.ORDER_COLUMNS, rows, f"orders-{lo}-{hi}", "orders")


@bp.get("/export.csv")
@access.requires("orders")
def export_csv() -> Any:
    return _export("csv")


@bp.get("/export.xlsx")
@access.requires("orders")
def export_xlsx() -> Any:
    return _export("xlsx")


@bp.get("/abnormal")
@access.requires("orders")
def abnormal() -> Any:
    page = orders.listing(db.session, sids=access.scope(), state=State.ABNORMAL.value, page=page_arg())
    return render_template("console/orders/list.html", page=page, state="abnormal", sid=None, states=STATES,
                           queue=True)


def _order_or_404(order_id: str) -> orders.Order:
    o = orders.get_scoped(db.session, order_id, access.scope())
    if o is None:
        abort(404)
    return o


@bp.get("/<order_id>")
@access.requires("orders")
def detail(order_id: str, error: str | None = None) -> Any:
    o = _order_or_404(order_id)
    ev = orders.evidence(db.session, o) if o.state == State.ABNORMAL.value or request.args.get("evidence") else None
    return render_template("console/orders/detail.html", o=o, lines=orders.lines_of(db.session, o.order_id),
                           ev=ev, error=error, form=request.form,
                           nonce=secrets.token_hex(12)), 400 if error else 200


def _fen(text: str | None) -> int:
    """'12.34' yuan -> 1234 fen exactly; empty is 0."""
    t = (text or "").strip() or "0"
    try:
        d = Decimal(t)
    except InvalidOperation as exc:
        raise ValueError(t) from exc
    if d < 0 or d != d.quantize(Decimal("0.01")) or d > 10**7:
        raise ValueError(t)
    return int(d * 100)


@bp.post("/<order_id>/resolve")
@access.requires("orders")
def resolve(order_id: str) -> Any:
    _order_or_404(order_id)
    form = request.form
    note = (form.get("note") or "").strip()
    action = form.get("action")
    if not note:
        return detail(order_id, error=_("A note is required."))
    if action not in ("bill", "void"):
        return detail(order_id, error=_("Choose forced settlement or void."))
    try:
        lines = [orders.Line(kind=k, fen=_fen(form.get(k))) for k in ("electricity", "service", "idle")]
    except ValueError:
        return detail(order_id, error=_("Amounts are in yuan with at most two decimals."))
    try:
        with db.transaction() as s:
            if action == "bill":
                o = orders.apply(s, order_id, Event.RESOLVE_BILL, lines=[ln for ln in lines if ln.fen])
            else:
                o = orders.apply(s, order_id, Event.RESOLVE_VOID)
            if o.funding == "prepay":
                # paid per session through WeChat: what it did not spend goes back there, as a
                # settlement by the records does (cloud/billing), sent after this commits
                from cloud.wallet import service as wallet

                wallet.refund_prepay_rest(s, order_id)
            detail_ = {"note": note[:500], "state": o.state, "total_fen": o.total_fen}
            if action == "bill":
                detail_["lines"] = {ln.kind: ln.fen for ln in lines}
            audit.record(s, access.actor(), f"order.resolve_{action}", f"order:{order_id}", detail_,
                         ip=access.client_ip())
    except (IllegalTransition, orders.OrderError) as e:
        return detail(order_id, error=_("The order cannot be resolved so: %(why)s", why=str(e)))
    return redirect(url_for("orders.detail", order_id=order_id), code=303)


@bp.post("/<order_id>/refund")
@access.requires("money")
def refund(order_id: str) -> Any:
    """A refund (adjustment) of part of a settled order's fees: to the driver's balance, or on
    to the original payment route; with a required note in the audit log."""
    from cloud.drivers.errors import DriverError
    from cloud.ledger.errors import LedgerError
    from cloud.wallet import service as wallet
    from cloud.wallet.settings import app_provider

    o = _order_or_404(order_id)
    form = request.form
    note = (form.get("note") or "").strip()
    route = form.get("route") or "balance"
    if not note:
        return detail(order_id, error=_("A note is required."))
    try:
        lines = {k: _fen(form.get(f"r_{k}")) for k in ("electricity", "service", "idle")}
    except ValueError:
        return detail(order_id, error=_("Amounts are in yuan with at most two decimals."))
    refund_no = None
    try:
        with db.transaction() as s:
            # the form's nonce: the same form sent twice refunds once
            key = f"console-refund:{order_id}:{(form.get('nonce') or secrets.token_hex(8))[:32]}"
            posting, r = wallet.refund_order(s, order_id, {k: v for k, v in lines.items() if v}, route=route, key=key,
                                    memo={"note": note[:200], "by": access.actor()})
            refund_no = r.refund_no if r is not None else None
            parts = wallet.order_refund_parts(posting, o.driver_id)
            if not posting.replayed:
                audit.record(s, access.actor(), "order.refund", f"order:{order_id}",
                             {"note": note[:500], "route": route, "lines": lines, "refund_no": refund_no},
                             ip=access.client_ip())
    except (DriverError, LedgerError) as e:
        return detail(order_id, error=_("The refund was refused: %(why)s", why=str(e)))
    if refund_no is not None:
        try:
            wallet.submit_refund(db.transaction, app_provider(), refund_no)
        except Exception:  # noqa: BLE001 - the provider away or unset: the refund job sends it again
            pass
    flash(_refund_answer(parts, route, refund_no) if not posting.replayed
          else _("This form was sent before: the refund was made once."))
    return redirect(url_for("orders.detail", order_id=order_id), code=303)


def _refund_answer(parts: Any, route: str, refund_no: str | None) -> str:
    """What the refund did, for the operator: bonus credit comes back as bonus (never cash,
    never to WeChat), so the answer names each part."""
    from cloud.web.formatting import fen

    said = _("Refunded to the balance: %(bonus)s as bonus credit, %(cash)s as cash; %(debt)s paid "
             "the driver's debt.", bonus=fen(parts.bonus), cash=fen(parts.cash), debt=fen(parts.debt))
    if route != "original":
        return said
    if refund_no is None:
        return said + " " + _("Nothing was sent to WeChat Pay: the order was paid from bonus credit, "
                              "which is never refunded in cash.")
    return said + " " + _("%(cash)s goes on to WeChat Pay (refund %(no)s); bonus credit stays in the balance.",
                          cash=fen(parts.cash), no=refund_no)
