"""Archives (area "archives"): stations (address, coordinates, transformer rating, owner),
piles (model, profile) and guns (QR code value, name, kind, rated power), a printable QR
label sheet per station, drivers (balance, orders, block/unblock), station provisioning
tokens and certificate revocation. Every change is audited.

Drivers are nobody's station data, so station owners (a scoped operator) do not open them.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

import cloud.provisioning as provisioning
from cloud.audit import service as audit
from cloud.db import db
from cloud.drivers import service as drivers
from cloud.drivers.errors import UnknownDriver
from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.pki import registry
from cloud.pki.revocation import revoke_station
from cloud.stations import monitor
from cloud.stations.service import StationArchiveError, qr_content
from cloud.web import access
from cloud.web.pages.stations_common import FormError, number, page_arg
from jcproto import is_valid_sid

bp = Blueprint("archives", __name__, url_prefix="/archives")
PER_PAGE = 50


def _audit(action: str, target: str, detail: dict[str, Any]) -> None:
    with db.transaction() as s:
        audit.record(s, access.actor(), action, target, detail, ip=access.client_ip())


def _pager(total: int, page: int) -> dict[str, int]:
    return {"page": page, "pages": max(1, -(-total // PER_PAGE))}


@bp.get("/")
@access.requires("archives")
def index() -> Any:
    page = monitor.list_stations(db.session, sids=access.scope(), page=page_arg())
    owners = monitor.owners_of(db.session, [st["sid"] for st in page.items])
    return render_template("console/archives/list.html", page=page, owners=owners,
                           all_stations=access.scope() is None)


# --- stations, piles, guns ------------------------------------------------------------------------
def _archive_or_404(sid: str) -> dict[str, Any]:
    found = monitor.station_archive(db.session, sid, sids=access.scope())
    if found is None:
        abort(404)
    return found


def _render_station(sid: str, error: str | None = None, status: int = 200) -> Any:
    found = _archive_or_404(sid)
    owners = monitor.owners_of(db.session, [sid])[sid]
    return render_template("console/archives/station.html", a=found, owners=owners, error=error,
                           saved=request.args.get("saved"), can_change=access.can("archives", write=True)), status


@bp.get("/stations/<sid>")
@access.requires("archives")
def station(sid: str) -> Any:
    return _render_station(sid)


def _archive_error(e: StationArchiveError | FormError) -> str:
    if isinstance(e, FormError):
        return _("Not a number in its range: %(field)s", field=str(e))
    text = ARCHIVE_ERRORS.get(e.code)
    return text() if text else str(e)


@bp.post("/stations/<sid>")
@access.requires("archives")
def station_save(sid: str) -> Any:
    _archive_or_404(sid)
    f = request.form
    try:
        lat, lng = number(f, "lat", -90, 90), number(f, "lng", -180, 180)
        if (lat is None) != (lng is None):
            raise StationArchiveError("invalid_coordinates", "give lat and lng together")
        with db.transaction() as s:
            changed = monitor.update_station(s, sid, sids=access.scope(), name=(f.get("name") or "").strip(),
                                             address=(f.get("address") or "").strip(), lat=lat, lng=lng,
                                             transformer_kva=number(f, "transformer_kva", 0.001, 100_000))
            if changed:
                audit.record(s, access.actor(), "station.update", f"station:{sid}", changed, ip=access.client_ip())
    except (StationArchiveError, FormError) as e:
        return _render_station(sid, _archive_error(e), 400)
    return redirect(url_for("archives.station", sid=sid, saved=1), code=303)


@bp.post("/stations/<sid>/piles")
@access.requires("archives")
def pile_save(sid: str) -> Any:
    _archive_or_404(sid)
    f = request.form
    pile = (f.get("pile") or "").strip()
    try:
        with db.transaction() as s:
            changed = monitor.update_pile(s, sid, pile, sids=access.scope(), model=(f.get("model") or "").strip(),
                                          profile=(f.get("profile") or "").strip())
            if changed:
                audit.record(s, access.actor(), "pile.update", f"pile:{sid}/{pile}", changed, ip=access.client_ip())
    except StationArchiveError as e:
        return _render_station(sid, _archive_error(e), 400)
    return redirect(url_for("archives.station", sid=sid, saved=1), code=303)


@bp.post("/stations/<sid>/guns")
@access.requires("archives")
def gun_save(sid: str) -> Any:
    _archive_or_404(sid)
    f = request.form
    gun = (f.get("gun") or "").strip()
    try:
        kw = number(f, "rated_kw", 0.001, 10_000)
        kind = f.get("kind") or None
        with db.transaction() as s:
            changed = monitor.update_gun(s, sid, gun, sids=access.scope(), code=(f.get("code") or "").strip() or None,
                                         name=(f.get("name") or "").strip(),
                                         rated_power_w=None if kw is None else int(round(kw * 1000)), kind=kind)
            if changed:
                audit.record(s, access.actor(), "gun.update", f"gun:{sid}/{gun}", changed, ip=access.client_ip())
    except (StationArchiveError, FormError) as e:
        return _render_station(sid, _archive_error(e), 400)
    return redirect(url_for("archives.station", sid=sid, saved=1), code=303)


@bp.get("/stations/<sid>/labels")
@access.requires("archives")
def labels(sid: str) -> Any:
    guns = monitor.guns_for_labels(db.session, sid, sids=access.scope())
    if guns is None:
        abort(404)
    base = current_app.config.get("PUBLIC_BASE_URL") or None
    sheet = []
    for g in guns:
        if not g.code:
            continue
        content = qr_content(g.code, base)
        svg = segno.make(content, error="m").svg_inline(scale=4, border=2)
        sheet.append({"gun": g.gun_id, "name": g.name, "code": g.code, "content": content, "svg": Markup(svg)})
    missing = [g.gun_id for g in guns if not g.code]
    return render_template("console/archives/labels.html", sid=sid, sheet=sheet, missing=missing)


# --- drivers ---------------------------------------------------------------------------------------
def _no_owners() -> None:
    if access.scope() is not None:  # a station owner: drivers are not station data
        abort(403)


@bp.get("/drivers")
@access.requires("archives")
def driver_list() -> Any:
    _no_owners()
    page = page_arg()
    q = (request.args.get("q") or "").strip()[:64]
    rows, total = drivers.listing(db.session, query=q, page=page, per_page=PER_PAGE)
    balances = ledger.balances_of(db.session, [str(d.id) for d in rows])
    return render_template("console/archives/drivers.html", rows=rows, balances=balances, q=q,
                           page=_pager(total, page), can_change=access.can("archives", write=True))


@bp.get("/drivers/<int:driver_id>")
@access.requires("archives")
def driver(driver_id: int) -> Any:
    _no_owners()
    d = drivers.get_driver(db.session, driver_id)
    if d is None:
        abort(404)
    bal = ledger.balances_of(db.session, [str(d.id)])[str(d.id)]
    return render_template("console/archives/driver.html", d=d, bal=bal,
                           orders=orders.for_driver(db.session, str(d.id), limit=50),
                           can_change=access.can("archives", write=True))


@bp.post("/drivers/<int:driver_id>/block")
@access.requires("archives")
def driver_block(driver_id: int) -> Any:
    _no_owners()
    blocked = request.form.get("blocked") == "1"
    try:
        with db.transaction() as s:
            drivers.set_blocked(s, driver_id, blocked, access.clock())
            audit.record(s, access.actor(), "driver.block" if blocked else "driver.unblock", f"driver:{driver_id}",
                         {"blocked": blocked}, ip=access.client_ip())
    except UnknownDriver:
        abort(404)
    return redirect(url_for("archives.driver", driver_id=driver_id), code=303)


# --- provisioning tokens and certificates -----------------------------------------------------------
@bp.route("/tokens", methods=["GET", "POST"])
@access.requires("archives")
def tokens() -> Any:
    new, error, status = None, None, 200
    if request.method == "POST":
        sid = (request.form.get("sid") or "").strip()
        if not is_valid_sid(sid):
            error, status = _("A station id has 1 to 64 letters, digits, '_' or '-'."), 400
        elif access.scope() is not None and sid not in access.scope():  # type: ignore[operator]
            abort(403)
        else:
            with db.transaction() as s:
                new = provisioning.create_token(s, sid, int(current_app.config["TOKEN_TTL_S"]))
                audit.record(s, access.actor(), "station.token", f"station:{sid}",
                             {"expires_at": new.expires_at}, ip=access.client_ip())
    page = page_arg()
    rows, total = provisioning.list_tokens(db.session, sids=access.scope(), page=page, per_page=PER_PAGE)
    return render_template("console/archives/tokens.html", rows=rows, page=_pager(total, page), new=new,
                           error=error, now=access.clock(), can_change=access.can("archives", write=True)), status


@bp.route("/certs", methods=["GET", "POST"])
@access.requires("archives")
def certs() -> Any:
    done, warnings, error, status = None, [], None, 200
    if request.method == "POST":
        serial = (request.form.get("serial") or "").strip().lower().removeprefix("0x")
        if not serial or len(serial) > 40 or any(c not in "0123456789abcdef" for c in serial):
            error, status = _("Choose a certificate to revoke."), 400
        else:
            scoped = {c.serial for c in registry.station_certs(db.session, sids=access.scope(), page=1,
                                                               per_page=10_000)[0]} if access.scope() is not None else None
            if scoped is not None and serial not in scoped:
                abort(403)
            with db.transaction() as s:
                done, warnings = revoke_station(s, current_app.config, serial=serial)
                if done.serials:
                    audit.record(s, access.actor(), "station.revoke", f"cert:{serial}",
                                 {"serials": done.serials, "sids": done.sids, "warnings": warnings},
                                 ip=access.client_ip())
            if not done.serials:
                error, status = _("No valid certificate with that serial."), 404
    page = page_arg()
    rows, total = registry.station_certs(db.session, sids=access.scope(), page=page, per_page=PER_PAGE)
    return render_template("console/archives/certs.html", rows=rows, page=_pager(total, page), done=done,
                           warnings=warnings, error=error, now=access.clock(),
                           can_change=access.can("archives", write=True)), status


ARCHIVE_ERRORS = {
    "unknown_station": lambda: _("No such station."),
    "invalid_coordinates": lambda: _("Give latitude (-90..90) and longitude (-180..180) together."),
    "invalid_rating": lambda: _("The transformer rating is in kVA, above 0 up to 100,000."),
    "too_long": lambda: _("A field is too long."),
    "invalid_code": lambda: _("A QR code value has 4 to 64 letters, digits, '_' or '-'."),
    "code_taken": lambda: _("That QR code value belongs to another gun."),
    "invalid_power": lambda: _("Rated power out of range."),
    "invalid_kind": lambda: _("A gun is AC or DC."),
    "invalid_gun": lambda: _("Gun ids are <pile>-<n>, e.g. P1-1."),
}
