"""Tariff service: plain functions over a SQLAlchemy session (no Flask request objects), called
by the API, the console, the jobs and the CLI alike.

    v = create(s, body, code="standard", name="标准电价")      # a new version, immutable
    assign(s, "S1", v.tariff_id, effective_from=ts_ms)          # from then on, S1 uses it
    in_force(s, "S1", at_ms)                                    # -> jcproto Tariff | None
    prices_at(s, "S1", at_ms)                                   # now and next, for drivers
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


class TariffServiceError(ValueError):
    """A tariff request that cannot be carried out; `code` is a stable error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def create(s: Session, body: Mapping[str, Any], *, code: str, name: str | None = None,
           created_by: str | None = None) -> TariffVersion:
    """Store `body` (the protocol's tariff object, `id` ignored) as the next version of
    `code`. The stored body is the canonical form jcproto writes, with id `<code>-v<n>`."""
    if not isinstance(code, str) or not _CODE.match(code):
        raise TariffServiceError("invalid_code", "code: 1-40 letters, digits, '_', '.', '-'")
    if not isinstance(body, Mapping):
        raise TariffServiceError("invalid_tariff", "a tariff must be an object with periods")
    last = s.scalar(select(func.max(TariffVersion.version)).where(TariffVersion.code == code)) or 0
    version = last + 1
    tariff_id = f"{code}-v{version}"
    try:
        tariff = Tariff.from_dict({**body, "id": tariff_id})
    except TariffError as exc:
        raise TariffServiceError("invalid_tariff", str(exc)) from exc
    row = TariffVersion(tariff_id=tariff_id, code=code, version=version, name=name,
                        body=tariff.to_dict(), created_by=created_by)
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


def assign(s: Session, sid: str, tariff_id: str, *, effective_from: int | None = None) -> StationTariff:
    """From `effective_from` (default now) on, `sid` charges with `tariff_id`. An assignment
    at the same instant replaces the earlier one only while it has not yet taken effect."""
    now = now_ms()
    at = now if effective_from is None else int(effective_from)
    if s.get(Station, sid) is None:
        raise TariffServiceError("unknown_station", f"no station {sid!r}")
    if s.get(TariffVersion, tariff_id) is None:
        raise TariffServiceError("unknown_tariff", f"no tariff {tariff_id!r}")
    same = s.scalar(select(StationTariff).where(StationTariff.sid == sid,
                                                StationTariff.effective_from == at))
    if same is not None:
        if at <= now and same.tariff_id != tariff_id:
            raise TariffServiceError("history", "a tariff already in force cannot be replaced "
                                                "at the same instant; assign from a later time")
        same.tariff_id, same.pushed_at = tariff_id, None
        s.flush()
        return same
    row = StationTariff(sid=sid, tariff_id=tariff_id, effective_from=at)
    s.add(row)
    s.flush()
    return row


def _assignment(s: Session, sid: str, at_ms: int) -> StationTariff | None:
    return s.scalar(select(StationTariff)
                    .where(StationTariff.sid == sid, StationTariff.effective_from <= at_ms)
                    .order_by(StationTariff.effective_from.desc()).limit(1))


def in_force(s: Session, sid: str, at_ms: int) -> Tariff | None:
    """The tariff `sid` charged with at `at_ms`, or None if it had none."""
    a = _assignment(s, sid, at_ms)
    if a is None:
        return None
    row = s.get(TariffVersion, a.tariff_id)
    return None if row is None else tariff_of(row)


def next_change(s: Session, sid: str, after_ms: int) -> StationTariff | None:
    """The first assignment of `sid` that takes effect after `after_ms`."""
    return s.scalar(select(StationTariff)
                    .where(StationTariff.sid == sid, StationTariff.effective_from > after_ms)
                    .order_by(StationTariff.effective_from).limit(1))


def schedule(s: Session, sid: str) -> list[StationTariff]:
    return list(s.scalars(select(StationTariff).where(StationTariff.sid == sid)
                          .order_by(StationTariff.effective_from)))


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
    """Assignments in force now (or within `ahead_ms`) that their station has not acknowledged,
    the newest per station only (older ones are superseded)."""
    limit = (now_ms() if now is None else now) + ahead_ms
    rows = list(s.scalars(select(StationTariff).where(StationTariff.pushed_at.is_(None),
                                                      StationTariff.effective_from <= limit)))
    out: dict[str, StationTariff] = {}
    for r in rows:
        current = _assignment(s, r.sid, limit)
        if current is not None and current.id == r.id:
            out[r.sid] = r
    return sorted(out.values(), key=lambda r: (r.sid, r.effective_from))


def mark_pushed(s: Session, assignment_id: int, at: int | None = None) -> None:
    row = s.get(StationTariff, assignment_id)
    if row is not None and row.pushed_at is None:
        row.pushed_at = now_ms() if at is None else at
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
