"""Tariff service: plain functions over a SQLAlchemy session (no Flask request objects), called
by the API, the console, the jobs and the CLI alike.

    v = create(s, body, code="standard", name="标准电价")      # a new version, immutable
    assign(s, "S1", v.tariff_id, effective_from=ts_ms)          # from then on, S1 uses it
    in_force(s, "S1", at_ms)                                    # -> jcproto Tariff | None
    version_in_force(s, "S1", at_ms)                            # -> TariffVersion | None
    prices_at(s, "S1", at_ms)                                   # now and next, for drivers
    cancel(s, a.id, by="ops")                                   # a scheduled change withdrawn

A version may carry a reservation fee (预约费, `reservation` in `create`'s body: `fee_e4` per
reservation, `per_minute_e4` per minute reserved, CNY × 10,000); it is a cloud-side charge
(cloud.reservations), stored beside the body and never sent to the gateway: the body stays
the protocol's tariff object.

A cancelled assignment is kept (marked), never deleted: it no longer counts for the tariff in
force, and the push job withdraws it from the gateway (`cancel_tariff`) if it was sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.models import Station, now_ms
from cloud.tariffs.models import StationTariff, TariffVersion
from jcproto.tariff import Period, Tariff, TariffError

_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MAX_RESERVATION_FEE_E4 = 10_000_000  # 1,000 CNY a reservation (a station's fixed fee's bound too)
MAX_RESERVATION_PER_MINUTE_E4 = 1_000_000  # 100 CNY a minute
FREE = {"fee_e4": 0, "per_minute_e4": 0}


class TariffServiceError(ValueError):
    """A tariff request that cannot be carried out; `code` is a stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def reservation_from(raw: Any) -> dict[str, int]:
    """A checked reservation fee `{"fee_e4", "per_minute_e4"}` (each optional, default 0)."""
    if raw is None:
        return dict(FREE)
    if not isinstance(raw, Mapping) or set(raw) - set(FREE):
        raise TariffServiceError("invalid_reservation_fee",
                                 'reservation must be an object {"fee_e4", "per_minute_e4"} (CNY × 10,000)')
    out = {}
    for key, high in (("fee_e4", MAX_RESERVATION_FEE_E4), ("per_minute_e4", MAX_RESERVATION_PER_MINUTE_E4)):
        v = raw.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= high:
            raise TariffServiceError("invalid_reservation_fee",
                                     f"reservation.{key}: a whole number 0..{high} (CNY × 10,000), not {v!r}")
        out[key] = v
    return out


def reservation_of(row: TariffVersion) -> dict[str, int]:
    """The version's reservation fee: `fee_e4` per reservation, `per_minute_e4` (CNY × 10,000)."""
    return {"fee_e4": row.reservation_fee_e4 or 0, "per_minute_e4": row.reservation_per_minute_e4 or 0}


def create(s: Session, body: Mapping[str, Any], *, code: str, name: str | None = None,
           created_by: str | None = None) -> TariffVersion:
    """Store `body` (the protocol's tariff object, `id` ignored) as the next version of
    `code`. The stored body is the canonical form jcproto writes, with id `<code>-v<n>`; an
    optional `reservation` in `body` (`fee_e4`, `per_minute_e4`) is the version's reservation
    fee, stored beside it (never in the body the gateway is sent)."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise TariffServiceError("invalid_code", "code: 1-40 letters, digits, '_', '.', '-'")
    if not isinstance(body, Mapping):
        raise TariffServiceError("invalid_tariff", "a tariff must be an object with periods")
    reservation = reservation_from(body.get("reservation"))
    body = {k: v for k, v in body.items() if k != "reservation"}
    last = s.scalar(select(func.max(TariffVersion.version)).where(TariffVersion.code == code)) or 0
    version = last + 1
    tariff_id = f"{code}-v{version}"
    try:
        tariff = Tariff.from_dict({**body, "id": tariff_id})
    except TariffError as exc:
        raise TariffServiceError("invalid_tariff", str(exc)) from exc
    row = TariffVersion(tariff_id=tariff_id, code=code, version=version, name=name,
                        body=tariff.to_dict(), created_by=created_by,
                        reservation_fee_e4=reservation["fee_e4"],
                        reservation_per_minute_e4=reservation["per_minute_e4"])
    s.add(row)
    s.flush()
    return row


def get(s: Session, tariff_id: str) -> TariffVersion | None:
    return s.get(TariffVersion, tariff_id)


def tariff_of(row: TariffVersion) -> Tariff:
    return Tariff.from_dict(row.body)


def versions(s: Session, code: str | None = None) -> list[TariffVersion]:
    q = select(TariffVersion).order_by(TariffVersion.code, TariffVersion.version)
    if code is not None:
        q = q.where(TariffVersion.code == code)
    return list(s.scalars(q))


_LIVE = StationTariff.cancelled_at.is_(None)


# "now" typed by a person arrives a little late: a start this far in the past still counts as now.
PAST_GRACE_MS = 60_000


def assign(s: Session, sid: str, tariff_id: str, *, effective_from: int | None = None,
           now: int | None = None, backdate: bool = False) -> StationTariff:
    """From `effective_from` (default now) on, `sid` charges with `tariff_id`. An assignment
    at the same instant replaces the earlier one only while it has not yet taken effect (a
    cancelled one there is taken up again); the station is sent the new one again.

    A start more than PAST_GRACE_MS before `now` is refused (`in_the_past`): it would rewrite
    the price of sessions already billed. Only `backdate=True` takes one (seeding a database's
    history, never a request of the console, the CLI or the API)."""
    now = now_ms() if now is None else int(now)
    at = now if effective_from is None else int(effective_from)
    if at < now - PAST_GRACE_MS and not backdate:
        raise TariffServiceError("in_the_past", "the effective time is in the past (a price change cannot "
                                                "rewrite history): give a time from now on, or none for now")
    if s.get(Station, sid) is None:
        raise TariffServiceError("unknown_station", f"no station {sid!r}")
    if s.get(TariffVersion, tariff_id) is None:
        raise TariffServiceError("unknown_tariff", f"no tariff {tariff_id!r}")
    same = s.scalar(select(StationTariff).where(StationTariff.sid == sid,
                                                StationTariff.effective_from == at))
    if same is not None:
        if at <= now and same.tariff_id != tariff_id and not same.cancelled:
            raise TariffServiceError("history", "a tariff already in force cannot be replaced "
                                                "at the same instant; assign from a later time")
        same.tariff_id, same.pushed_at = tariff_id, None
        same.cancelled_at = same.cancelled_by = same.cancel_pushed_at = None
        s.flush()
        return same
    row = StationTariff(sid=sid, tariff_id=tariff_id, effective_from=at)
    s.add(row)
    s.flush()
    return row


def _assignment(s: Session, sid: str, at_ms: int) -> StationTariff | None:
    return s.scalar(select(StationTariff)
                    .where(StationTariff.sid == sid, StationTariff.effective_from <= at_ms, _LIVE)
                    .order_by(StationTariff.effective_from.desc()).limit(1))


def in_force(s: Session, sid: str, at_ms: int) -> Tariff | None:
    """The tariff `sid` charged with at `at_ms`, or None if it had none."""
    row = version_in_force(s, sid, at_ms)
    return None if row is None else tariff_of(row)


def version_in_force(s: Session, sid: str, at_ms: int) -> TariffVersion | None:
    """The stored version `sid` charged with at `at_ms` (its body and reservation fee), or None."""
    a = _assignment(s, sid, at_ms)
    return None if a is None else s.get(TariffVersion, a.tariff_id)


def next_change(s: Session, sid: str, after_ms: int) -> StationTariff | None:
    """The first assignment of `sid` that takes effect after `after_ms`."""
    return s.scalar(select(StationTariff)
                    .where(StationTariff.sid == sid, StationTariff.effective_from > after_ms, _LIVE)
                    .order_by(StationTariff.effective_from).limit(1))


def schedule(s: Session, sid: str, *, with_cancelled: bool = False) -> list[StationTariff]:
    q = select(StationTariff).where(StationTariff.sid == sid)
    if not with_cancelled:
        q = q.where(_LIVE)
    return list(s.scalars(q.order_by(StationTariff.effective_from)))


def cancel(s: Session, assignment_id: int, *, by: str | None = None, now: int | None = None) -> StationTariff:
    """Withdraw a scheduled change before its time. The row is kept, marked cancelled; the
    tariff before it stays in force past its instant. One already in force is history."""
    at = now_ms() if now is None else now
    row = s.get(StationTariff, assignment_id)
    if row is None:
        raise TariffServiceError("unknown_assignment", f"no tariff assignment {assignment_id}")
    if row.cancelled:
        raise TariffServiceError("cancelled", "this scheduled change is cancelled already")
    if row.effective_from <= at:
        raise TariffServiceError("history", "a tariff already in force cannot be cancelled; "
                                            "assign another from a subsequent time")
    row.cancelled_at, row.cancelled_by = at, by
    s.flush()
    return row


def named_version(s: Session, sid: str, tariff_id: str | None) -> Tariff | None:
    """The version `tariff_id` if it is (or was) assigned to `sid` and not cancelled: the
    version a gateway says it priced a session with (session_ended.tariff_id)."""
    if not tariff_id:
        return None
    known = s.scalar(select(StationTariff.id).where(StationTariff.sid == sid, StationTariff.tariff_id == tariff_id,
                                                    _LIVE).limit(1))
    row = None if known is None else s.get(TariffVersion, tariff_id)
    return None if row is None else tariff_of(row)


@dataclass(frozen=True)
class PriceWindow:
    """One stretch of constant price: `period` of `tariff_id` from `start` (ms) to `end`
    (ms, None while nothing is scheduled to change)."""

    tariff_id: str
    period: Period
    start: int
    end: int | None

    def to_dict(self) -> dict[str, Any]:
        p = self.period
        return {"tariff_id": self.tariff_id, "period": p.name, "from": self.start, "until": self.end,
                "energy_price_e4": p.energy_price_e4, "service_price_e4": p.service_price_e4,
                "price_e4": p.price_e4}


def prices_at(s: Session, sid: str, at_ms: int) -> tuple[PriceWindow, PriceWindow | None] | None:
    """The price in force at `at_ms` and the next one (period boundary or scheduled tariff
    change, whichever comes first); None if the station has no tariff then."""
    now_t = in_force(s, sid, at_ms)
    if now_t is None:
        return None
    boundary = now_t.next_boundary(at_ms)
    change = next_change(s, sid, at_ms)
    end = boundary
    if change is not None and (end is None or change.effective_from <= end):
        end = change.effective_from
    current = PriceWindow(now_t.id, now_t.period_at(at_ms), at_ms, end)
    if end is None:
        return current, None
    nxt_t = in_force(s, sid, end)
    if nxt_t is None:
        return current, None
    nb = nxt_t.next_boundary(end)
    later = next_change(s, sid, end)
    nxt_end = nb
    if later is not None and (nxt_end is None or later.effective_from <= nxt_end):
        nxt_end = later.effective_from
    return current, PriceWindow(nxt_t.id, nxt_t.period_at(end), end, nxt_end)


def due_pushes(s: Session, now: int | None = None, *, ahead_ms: int = 0) -> list[StationTariff]:
    """Assignments that their station has not acknowledged and must hold: per station the one
    in force at `now` (older ones are superseded), and every scheduled one starting within
    `ahead_ms` after it (sent ahead, with their effective_from). Cancelled ones never."""
    at = now_ms() if now is None else now
    rows = list(s.scalars(select(StationTariff).where(StationTariff.pushed_at.is_(None), _LIVE,
                                                      StationTariff.effective_from <= at + ahead_ms)))
    out: list[StationTariff] = []
    current: dict[str, StationTariff | None] = {}
    for r in rows:
        if r.effective_from > at:
            out.append(r)
            continue
        if r.sid not in current:
            current[r.sid] = _assignment(s, r.sid, at)
        c = current[r.sid]
        if c is not None and c.id == r.id:
            out.append(r)
    return sorted(out, key=lambda r: (r.sid, r.effective_from))


def due_cancels(s: Session) -> list[StationTariff]:
    """Cancelled assignments the station was sent and has not yet been told to drop."""
    return list(s.scalars(select(StationTariff)
                          .where(StationTariff.cancelled_at.is_not(None), StationTariff.pushed_at.is_not(None),
                                 StationTariff.cancel_pushed_at.is_(None))
                          .order_by(StationTariff.sid, StationTariff.effective_from)))


def mark_pushed(s: Session, assignment_id: int, at: int | None = None, *,
                tariff_id: str | None = None) -> None:
    """The station acknowledged set_tariff for this assignment. With `tariff_id`: only while
    the assignment still names that version (replaced while the command was on its way, it
    stays due). One cancelled meanwhile is marked too: the station holds it, and
    `due_cancels` now withdraws it."""
    row = s.get(StationTariff, assignment_id)
    if row is None or row.pushed_at is not None:
        return
    if tariff_id is not None and row.tariff_id != tariff_id:
        return
    row.pushed_at = now_ms() if at is None else at
    s.flush()


def mark_cancel_pushed(s: Session, assignment_id: int, at: int | None = None) -> None:
    row = s.get(StationTariff, assignment_id)
    if row is not None and row.cancelled and row.cancel_pushed_at is None:
        row.cancel_pushed_at = now_ms() if at is None else at
        s.flush()


# -- the console's views (paginated, owner-scoped) --------------------------------------------

PERIOD_NAMES = ("sharp", "peak", "flat", "valley")  # 尖峰平谷
_PRICE = re.compile(r"^[0-9]{1,3}(\.[0-9]{1,4})?$")


def price_e4(text: str) -> int:
    """'0.6855' (CNY per kWh, at most four decimals) -> 6855, exactly (no floats)."""
    t = (text or "").strip()
    if not _PRICE.match(t):
        raise TariffServiceError("invalid_price", f"price {text!r}: CNY per kWh with at most 4 decimals")
    whole, _, frac = t.partition(".")
    return int(whole) * 10_000 + int((frac + "0000")[:4])


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    page: int
    pages: int


def _page(s: Session, q: Any, count_q: Any, page: int, per: int) -> Page:
    total = s.scalar(count_q) or 0
    pages = max(1, -(-total // per))
    page = min(max(1, page), pages)
    return Page(list(s.scalars(q.limit(per).offset((page - 1) * per))), page, pages)


def version_page(s: Session, *, code: str | None = None, page: int = 1, per: int = 50) -> Page:
    """Every version ever stored, newest first (versions are never edited nor deleted)."""
    q = select(TariffVersion).order_by(TariffVersion.created_at.desc(), TariffVersion.tariff_id.desc())
    c = select(func.count()).select_from(TariffVersion)
    if code:
        q, c = q.where(TariffVersion.code == code), c.where(TariffVersion.code == code)
    return _page(s, q, c, page, per)


def assignment_page(s: Session, *, sids: set[str] | None, page: int = 1, per: int = 50,
                    scheduled_after: int | None = None) -> Page:
    """Station assignments, latest start first; `scheduled_after`: only those starting later
    (the scheduled price changes, 调价任务). `sids` None: all stations."""
    q = select(StationTariff).order_by(StationTariff.effective_from.desc(), StationTariff.id.desc())
    c = select(func.count()).select_from(StationTariff)
    if sids is not None:
        q, c = q.where(StationTariff.sid.in_(sids)), c.where(StationTariff.sid.in_(sids))
    if scheduled_after is not None:
        q = q.where(StationTariff.effective_from > scheduled_after)
        c = c.where(StationTariff.effective_from > scheduled_after)
    return _page(s, q, c, page, per)
