"""Private pile sharing (docs/sharing.md): plain functions over a Session, no Flask request objects.

A driver registers as the owner of a provisioned station's gun, sets open windows, a price
(a tariff version assigned to the station, when the station is the owner's one-gun home
pile) and an open/closed switch. Starts and reservations of others are refused outside the
windows or while closed (`refusal`); each settled order on a shared gun is split in the
ledger between the owner's earnings and the platform's revenue (`split_order`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES, Kind
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.models.base import now_ms
from cloud.models.station import Gun
from cloud.settlement.split import BP, round_div
from cloud.sharing import rules
from cloud.sharing.models import Clawback, SharedPile, SharingSplit, SharingWindow
from cloud.tariffs import service as tariffs

TIMEZONE = "Asia/Shanghai"  # windows are in the owners' local time (the platform's zone)


class SharingError(Exception):
    """A refusal with a stable driver API code."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def commission_bp_of(settings: Mapping[str, Any]) -> int:
    bp = int(settings.get("SHARING_COMMISSION_BP", 1000))
    if not 0 <= bp <= rules.BP:
        raise SharingError("invalid_commission", f"SHARING_COMMISSION_BP: 0..{rules.BP}, got {bp}")
    return bp


# --- the owner's side -------------------------------------------------------------------------------
def register(
    s: Session, owner_id: str, sid: str, gun: str, *, commission_bp: int, now: int | None = None
) -> SharedPile:
    """`owner_id` shares the gun `gun` of station `sid` (provisioned as any station). Closed
    and without windows until the owner opens it. The same owner again: the same pile."""
    if s.get(Gun, (sid, gun)) is None:
        raise SharingError("gun_not_found", f"no gun {gun!r} at station {sid!r}")
    if not 0 <= commission_bp <= rules.BP:
        raise SharingError("invalid_commission", f"commission: 0..{rules.BP} bp")
    pile = s.scalar(select(SharedPile).where(SharedPile.sid == sid, SharedPile.gun == gun))
    if pile is not None:
        if pile.owner_id != owner_id:
            raise SharingError("already_shared", f"{sid}/{gun} is shared by another owner")
        return pile
    t = now_ms() if now is None else now
    pile = SharedPile(
        sid=sid,
        gun=gun,
        owner_id=owner_id,
        commission_bp=commission_bp,
        is_open=False,
        created_at=t,
        updated_at=t,
    )
    s.add(pile)
    s.flush()
    return pile


def own_pile(s: Session, owner_id: str, pile_id: Any, *, lock: bool = False) -> SharedPile:
    if isinstance(pile_id, bool) or not isinstance(pile_id, int):
        raise SharingError("pile_not_found", f"no shared pile {pile_id!r}")
    q = select(SharedPile).where(SharedPile.id == pile_id)
    if lock:
        q = q.with_for_update()
    pile = s.scalar(q)
    if (
        pile is None or pile.owner_id != owner_id
    ):  # another owner's pile is not told apart from none
        raise SharingError("pile_not_found", f"no shared pile {pile_id!r}")
    return pile


def set_windows(s: Session, owner_id: str, pile_id: Any, raw: Any) -> list[rules.Window]:
    """Replace the pile's weekly windows (rules.parse_windows); effective at once."""
    pile = own_pile(s, owner_id, pile_id, lock=True)
    try:
        windows = rules.parse_windows(raw)
    except rules.RuleError as exc:
        raise SharingError(exc.code, str(exc)) from None
    s.execute(delete(SharingWindow).where(SharingWindow.pile_id == pile.id))
    s.add_all(
        SharingWindow(pile_id=pile.id, weekday=w.weekday, start_min=w.start_min, end_min=w.end_min)
        for w in windows
    )
    pile.updated_at = now_ms()
    s.flush()
    return windows


def windows_of(s: Session, pile_id: int) -> list[rules.Window]:
    rows = s.scalars(select(SharingWindow).where(SharingWindow.pile_id == pile_id)).all()
    return sorted(rules.Window(r.weekday, r.start_min, r.end_min) for r in rows)


def set_open(s: Session, owner_id: str, pile_id: Any, is_open: Any) -> SharedPile:
    """The switch: closed refuses new starts and reservations from now on; a running session
    finishes (nothing is stopped)."""
    if not isinstance(is_open, bool):
        raise SharingError("invalid_switch", "open: true or false")
    pile = own_pile(s, owner_id, pile_id, lock=True)
    pile.is_open = is_open
    pile.updated_at = now_ms()
    s.flush()
    return pile


def set_price(
    s: Session,
    owner_id: str,
    pile_id: Any,
    tariff_body: Mapping[str, Any],
    *,
    effective_from: int | None = None,
) -> str:
    """The pile's price: a new version of tariff `share-<pile>` assigned to the station. Only
    for a home pile (the station has this one gun): a gun of a shared station charges the
    station's tariff, which its operator sets. Returns the tariff id."""
    pile = own_pile(s, owner_id, pile_id, lock=True)
    guns = s.scalar(select(func.count()).select_from(Gun).where(Gun.sid == pile.sid))
    if guns != 1:
        raise SharingError(
            "price_not_own_station", f"station {pile.sid} has {guns} guns: its operator prices it"
        )
    try:
        row = tariffs.create(
            s, tariff_body, code=f"share-{pile.id}", created_by=f"owner:{owner_id}"
        )
        tariffs.assign(s, pile.sid, row.tariff_id, effective_from=effective_from)
    except tariffs.TariffServiceError as exc:
        raise SharingError("invalid_tariff", str(exc)) from None
    return row.tariff_id


def pile_of(s: Session, sid: str, gun: str) -> SharedPile | None:
    return s.scalar(select(SharedPile).where(SharedPile.sid == sid, SharedPile.gun == gun))


def open_now(s: Session, pile: SharedPile, now: int, tz: str = TIMEZONE) -> bool:
    return pile.is_open and rules.open_at(windows_of(s, pile.id), now, tz)


def refusal(
    s: Session,
    sid: str,
    gun: str,
    driver_id: str | None,
    *,
    now: int | None = None,
    tz: str = TIMEZONE,
) -> str | None:
    """The driver API code refusing a start or reservation of `driver_id` on this gun, or None
    (not shared, the owner, or open now)."""
    pile = pile_of(s, sid, gun)
    if pile is None:
        return None
    t = now_ms() if now is None else now
    return rules.refusal(
        is_owner=driver_id is not None and str(driver_id) == pile.owner_id,
        is_open=pile.is_open,
        in_window=rules.open_at(windows_of(s, pile.id), t, tz),
    )


def view(s: Session, pile: SharedPile, now: int | None = None) -> dict[str, Any]:
    t = now_ms() if now is None else now
    windows = windows_of(s, pile.id)
    gun = s.get(Gun, (pile.sid, pile.gun))
    return {
        "pile_id": pile.id,
        "sid": pile.sid,
        "gun": pile.gun,
        "gun_code": gun.code if gun else None,
        "open": pile.is_open,
        "open_now": pile.is_open and rules.open_at(windows, t, TIMEZONE),
        "commission_bp": pile.commission_bp,
        "windows": [w.to_dict() for w in windows],
    }


def marks(s: Session, sid: str, now: int | None = None) -> dict[str, dict[str, Any]]:
    """The station's shared guns as drivers see them: gun -> {open_now, windows}."""
    t = now_ms() if now is None else now
    out: dict[str, dict[str, Any]] = {}
    for pile in s.scalars(select(SharedPile).where(SharedPile.sid == sid)):
        windows = windows_of(s, pile.id)
        out[pile.gun] = {
            "open_now": pile.is_open and rules.open_at(windows, t, TIMEZONE),
            "windows": [w.to_dict() for w in windows] if pile.is_open else [],
        }
    return out


def open_sids(s: Session, now: int | None = None, tz: str = TIMEZONE) -> frozenset[str]:
    """The stations with a shared pile open to others now (switched on, inside a window): the
    driver API's "shared, open now" filter of the station list."""
    t = now_ms() if now is None else now
    piles = s.scalars(select(SharedPile).where(SharedPile.is_open.is_(True))).all()
    if not piles:
        return frozenset()
    by_pile: dict[int, list[rules.Window]] = {p.id: [] for p in piles}
    for r in s.scalars(select(SharingWindow).where(SharingWindow.pile_id.in_(list(by_pile)))):
        by_pile[r.pile_id].append(rules.Window(r.weekday, r.start_min, r.end_min))
    return frozenset(p.sid for p in piles if rules.open_at(sorted(by_pile[p.id]), t, tz))


def piles_of(s: Session, owner_id: str) -> list[SharedPile]:
    return list(
        s.scalars(select(SharedPile).where(SharedPile.owner_id == owner_id).order_by(SharedPile.id))
    )


def listing(s: Session, *, limit: int = 200) -> list[SharedPile]:
    return list(s.scalars(select(SharedPile).order_by(SharedPile.id).limit(limit)))


# --- money ------------------------------------------------------------------------------------------
def split_key(order_id: str) -> str:
    return f"owner-share:{order_id}"


def split_order(
    s: Session,
    order_id: str,
    sid: str,
    gun: str,
    lines: Mapping[str, int],
    *,
    now: int | None = None,
) -> SharingSplit | None:
    """After an order on a shared gun settled (its fee lines booked to revenue): the owner's
    part moves from the revenue accounts to the owner's earnings, the commission stays. Any
    order, the owner's own included (the owner pays the bill and earns its share back: net,
    the commission). Idempotent per order. None when the gun is not shared."""
    pile = pile_of(s, sid, gun)
    if pile is None:
        return None
    done = s.get(SharingSplit, order_id)
    if done is not None:
        return done
    parts = rules.split({k: int(v) for k, v in lines.items()}, pile.commission_bp)
    posting = None
    if parts.owner:
        # what the owner owes (a share clawed back after it was withdrawn) is paid first
        revenue: dict[Kind, int] = {FEE_LINES[k]: v for k, v in parts.owner_lines.items() if v}
        posting = ledger.post_owner_share(
            s, split_key(order_id), pile.owner_id, revenue, order_id=order_id
        )
    row = SharingSplit(
        order_id=order_id,
        pile_id=pile.id,
        owner_id=pile.owner_id,
        total_fen=parts.owner + parts.platform,
        owner_fen=parts.owner,
        platform_fen=parts.platform,
        commission_bp=pile.commission_bp,
        txn_id=posting.txn_id if posting else None,
        created_at=now_ms() if now is None else now,
    )
    s.add(row)
    s.flush()
    return row


def earnings(s: Session, owner_id: str, *, limit: int = 50) -> dict[str, Any]:
    """The owner's balance (from the ledger) and the latest sessions' splits."""
    balance, withdrawing = ledger.owner_balances(s, owner_id)
    rows = s.scalars(
        select(SharingSplit)
        .where(SharingSplit.owner_id == owner_id)
        .order_by(SharingSplit.created_at.desc(), SharingSplit.order_id)
        .limit(limit)
    ).all()
    back: dict[str, int] = {}
    if rows:
        back = {
            o: int(v)
            for o, v in s.execute(
                select(Clawback.order_id, func.sum(Clawback.owner_fen))
                .where(Clawback.order_id.in_([r.order_id for r in rows]))
                .group_by(Clawback.order_id)
            ).all()
        }
    return {
        "balance_fen": balance,
        "withdrawing_fen": withdrawing,
        "debt_fen": ledger.balances(s, owner_id).debt,
        "sessions": [
            {
                "order_id": r.order_id,
                "pile_id": r.pile_id,
                "total_fen": r.total_fen,
                "owner_fen": r.owner_fen,
                "platform_fen": r.platform_fen,
                "clawed_back_fen": back.get(r.order_id, 0),
                "owner_net_fen": r.owner_fen - back.get(r.order_id, 0),
                "commission_bp": r.commission_bp,
                "at": r.created_at,
            }
            for r in rows
        ],
    }


def owner_part(fen: int, commission_bp: int) -> int:
    """The owner's part of `fen` of one fee line (rules.split: only the commission rounded)."""
    return fen - round_div(fen * commission_bp, BP)


def _line_sums(s: Session, order_id: str, *, settle_only: bool) -> dict[str, int]:
    """Per fee line, what the order's revenue postings that name the line hold: its settled
    bill (`settle_only`) or that bill less the refunds made of it. The owner's share and its
    clawbacks name no line, so they are not in these sums."""
    q = (
        select(LedgerEntry.line, func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.txn_id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(
            LedgerTransaction.order_id == order_id,
            LedgerEntry.line.in_(list(FEE_LINES)),
            LedgerAccount.driver_id.is_(None),
        )
        .group_by(LedgerEntry.line)
    )
    if settle_only:
        q = q.where(LedgerTransaction.idem_key == ledger.close_key(order_id))
    return {line: int(v) for line, v in s.execute(q).all()}


def claw_back(
    s: Session, order_id: str, refund_key: str, refund_fen: int, *, now: int | None = None
) -> Clawback | None:
    """After a refund of a shared order was posted (its revenue lines reduced, in this
    transaction): the owner's part of it back from the owner, per fee line so that the
    owner's share of what the driver still paid is the split of that rest:

        owner_after(line) = owner_part(bill_line - refunded_line)
        taken now          = owner_part(bill_line) - taken before - owner_after(line)

    so owner + platform = what the driver paid net of refunds, to the fen, after any number of
    refunds. From the earnings as far as they reach, the rest as the owner's debt
    (ledger.claw_back_owner). Once per refund key; None for an order that was not split."""
    split = s.get(SharingSplit, order_id)
    if split is None:
        return None
    done = s.get(Clawback, refund_key)
    if done is not None:
        return done
    bill = _line_sums(s, order_id, settle_only=True)
    rest = _line_sums(s, order_id, settle_only=False)
    before = {name: 0 for name in FEE_LINES}
    for row in s.scalars(select(Clawback).where(Clawback.order_id == order_id)):
        for name in FEE_LINES:
            before[name] += getattr(row, f"{name}_fen")
    take = {
        name: owner_part(bill.get(name, 0), split.commission_bp)
        - before[name]
        - owner_part(max(0, rest.get(name, 0)), split.commission_bp)
        for name in FEE_LINES
    }
    if any(v < 0 for v in take.values()):  # owner_part is monotone: a broken invariant, never input
        raise AssertionError(f"order {order_id}: negative clawback {take}")
    owner_fen = sum(take.values())
    posting, debt = None, 0
    if owner_fen:
        posting = ledger.claw_back_owner(
            s,
            f"owner-clawback:{refund_key}",
            split.owner_id,
            {FEE_LINES[k]: v for k, v in take.items() if v},
            order_id=order_id,
        )
        debt = -posting.amount_on(ledger.driver_code(split.owner_id, Kind.DEBT_CASH))
    row = Clawback(
        refund_key=refund_key,
        order_id=order_id,
        owner_id=split.owner_id,
        electricity_fen=take["electricity"],
        service_fen=take["service"],
        idle_fen=take["idle"],
        refund_fen=refund_fen,
        owner_fen=owner_fen,
        debt_fen=debt,
        txn_id=posting.txn_id if posting else None,
        created_at=now_ms() if now is None else now,
    )
    s.add(row)
    s.flush()
    return row


def clawed(s: Session, order_id: str) -> int:
    """The owner's part taken back from the order's refunds so far."""
    return int(
        s.scalar(
            select(func.coalesce(func.sum(Clawback.owner_fen), 0)).where(
                Clawback.order_id == order_id
            )
        )
        or 0
    )


def console_piles(
    s: Session, *, sids: set[str] | None = None, now: int | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """The console's list (docs/sharing.md): each shared pile with its owner, switch, open
    now, windows and its orders' money (owner's and platform's parts net of clawbacks), and
    the owner's balances. `sids` None: every station."""
    from cloud.drivers.models import Driver

    t = now_ms() if now is None else now
    q = select(SharedPile).order_by(SharedPile.id).limit(limit)
    if sids is not None:
        q = q.where(SharedPile.sid.in_(sorted(sids)))
    piles = list(s.scalars(q))
    if not piles:
        return []
    ids = [p.id for p in piles]
    money = {
        pid: (int(n), int(total or 0), int(own or 0), int(plat or 0))
        for pid, n, total, own, plat in s.execute(
            select(
                SharingSplit.pile_id,
                func.count(),
                func.sum(SharingSplit.total_fen),
                func.sum(SharingSplit.owner_fen),
                func.sum(SharingSplit.platform_fen),
            )
            .where(SharingSplit.pile_id.in_(ids))
            .group_by(SharingSplit.pile_id)
        ).all()
    }
    back = {
        pid: int(v or 0)
        for pid, v in s.execute(
            select(SharingSplit.pile_id, func.sum(Clawback.owner_fen))
            .join(Clawback, Clawback.order_id == SharingSplit.order_id)
            .where(SharingSplit.pile_id.in_(ids))
            .group_by(SharingSplit.pile_id)
        ).all()
    }
    owners = {p.owner_id for p in piles}
    names = {
        str(i): n
        for i, n in s.execute(
            select(Driver.id, Driver.nickname).where(
                Driver.id.in_([int(o) for o in owners if o.isdigit()])
            )
        ).all()
    }
    balances = ledger.balances_of(s, sorted(owners))
    out = []
    for p in piles:
        windows = windows_of(s, p.id)
        n, total, own, plat = money.get(p.id, (0, 0, 0, 0))
        earnings, withdrawing = ledger.owner_balances(s, p.owner_id)
        b = balances.get(p.owner_id)
        out.append(
            {
                "pile_id": p.id,
                "sid": p.sid,
                "gun": p.gun,
                "owner_id": p.owner_id,
                "owner_name": names.get(p.owner_id),
                "open": p.is_open,
                "open_now": p.is_open and rules.open_at(windows, t, TIMEZONE),
                "windows": [w.to_dict() for w in windows],
                "commission_bp": p.commission_bp,
                "sessions": n,
                "total_fen": total,
                "owner_fen": own - back.get(p.id, 0),
                "clawed_back_fen": back.get(p.id, 0),
                "platform_fen": plat,
                "owner_balance_fen": earnings,
                "owner_withdrawing_fen": withdrawing,
                "owner_debt_fen": b.debt if b else 0,
            }
        )
    return out
