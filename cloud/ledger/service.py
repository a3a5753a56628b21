"""Ledger service: plain functions over an SQLAlchemy Session (no Flask objects).

Each function adds one balanced, sealed transaction under an idempotency key and flushes; the
caller owns the database transaction and commits it (so an order's state change and its
postings commit together). Posting a key again with the same arguments returns the first
posting (`replayed=True`) and changes nothing; with other arguments it raises
IdempotencyConflict.

Concurrency: every posting that touches a driver first locks that driver's accounts (SELECT
… FOR UPDATE on PostgreSQL; on SQLite a write statement, which takes the database's single
write lock), then decides amounts from the balances it has locked. On SQLite, run these in a
transaction that has not read before (or on an engine made with purpose="writer", whose
BEGIN IMMEDIATE takes the lock at once); otherwise a concurrent writer may end it with
"database is locked". The database refuses a negative balance in any case (CHECK constraints
fed by a trigger): locking only spares the caller that error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.ledger.accounts import (
    DRIVER_KINDS,
    FEE_LINES,
    NON_POSITIVE,
    OWNER_KINDS,
    PLATFORM_KINDS,
    Kind,
    driver_code,
    platform_code,
)
from cloud.ledger.errors import (
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
    InvalidInput,
    UnknownHold,
    UnknownPosting,
)
from cloud.ledger.models import LedgerAccount, LedgerEntry, LedgerTransaction
from cloud.models.base import now_ms

# Upper bound of one amount: 10^12 fen (10 billion CNY) keeps every sum far inside 64 bits.
MAX_FEN = 10**12


@dataclass(frozen=True)
class Entry:
    account: str  # account code
    amount: int
    line: str | None = None


@dataclass(frozen=True)
class Posting:
    txn_id: int
    key: str
    kind: str
    entries: tuple[Entry, ...]
    replayed: bool = False

    def amount_on(self, code: str) -> int:
        return sum(e.amount for e in self.entries if e.account == code)


@dataclass(frozen=True)
class Balances:
    """A driver's balances in fen; `debt` is all the driver owes (>= 0), `debt_cash` the part
    of it only their own money may pay (money paid out to them beyond what they had)."""

    cash: int
    bonus: int
    held: int
    debt: int
    debt_cash: int = 0

    @property
    def debt_spent(self) -> int:
        """The part of `debt` bonus may pay too (spent beyond a hold)."""
        return self.debt - self.debt_cash

    @property
    def available(self) -> int:
        return self.cash + self.bonus


@dataclass(frozen=True)
class StatementLine:
    txn_id: int
    key: str
    kind: str
    order_id: str | None
    created_at: int
    account: str  # the driver account kind: cash | bonus | held | debt | debt_cash
    amount: int
    balance_after: int
    line: str | None


@dataclass
class _Locked:
    """The driver's accounts, locked for this transaction: kind -> (id, balance)."""

    ids: dict[Kind, int]
    balances: dict[Kind, int]
    platform: dict[Kind, int]


# --- accounts -----------------------------------------------------------------------------------------
def _insert_ignore(s: Session, rows: list[dict[str, Any]]) -> None:
    dialect = s.get_bind().dialect.name
    ins = (postgresql if dialect == "postgresql" else sqlite).insert(LedgerAccount)
    s.execute(ins.on_conflict_do_nothing(index_elements=["code"]), rows)


def _platform_ids(s: Session) -> dict[Kind, int]:
    rows = s.execute(
        select(LedgerAccount.kind, LedgerAccount.id).where(LedgerAccount.driver_id.is_(None))
    ).all()
    if len(rows) < len(PLATFORM_KINDS):
        now = now_ms()
        _insert_ignore(s, [{"code": platform_code(k), "kind": k.value, "driver_id": None,
                            "balance": None, "created_at": now} for k in PLATFORM_KINDS])
        rows = s.execute(
            select(LedgerAccount.kind, LedgerAccount.id).where(LedgerAccount.driver_id.is_(None))
        ).all()
    return {Kind(k): i for k, i in rows}


def open_accounts(s: Session, driver_id: str) -> dict[Kind, int]:
    """The driver's account ids by kind, opening those missing (idempotent)."""
    _check_id(driver_id)
    now = now_ms()
    _insert_ignore(s, [{"code": driver_code(driver_id, k), "kind": k.value, "driver_id": driver_id,
                        "balance": 0, "created_at": now} for k in DRIVER_KINDS])
    _platform_ids(s)
    rows = s.execute(
        select(LedgerAccount.kind, LedgerAccount.id).where(LedgerAccount.driver_id == driver_id)
    ).all()
    return {Kind(k): i for k, i in rows}


def _lock(s: Session, driver_id: str) -> _Locked:
    bind = s.get_bind()
    if bind.dialect.name == "sqlite":
        # Any write statement takes SQLite's write lock, held to commit: postings serialize.
        s.execute(text("UPDATE ledger_accounts SET balance = balance WHERE 0"))
    q = (select(LedgerAccount.kind, LedgerAccount.id, LedgerAccount.balance)
         .where(LedgerAccount.driver_id == driver_id).order_by(LedgerAccount.id))
    if bind.dialect.name == "postgresql":
        q = q.with_for_update()
    rows = s.execute(q).all()
    if not set(DRIVER_KINDS) <= {Kind(k) for k, _i, _b in rows}:  # new, or older than a kind
        open_accounts(s, driver_id)
        rows = s.execute(q).all()
    return _Locked(
        ids={Kind(k): i for k, i, _b in rows},
        balances={Kind(k): b for k, _i, b in rows},
        platform=_platform_ids(s),
    )


def lock_driver(s: Session, driver_id: str) -> Balances:
    """Lock the driver's accounts for this transaction (opening them if new) and return the
    balances as locked. Callers that decide on balances before posting call this first."""
    _check_id(driver_id)
    return _balances(_lock(s, driver_id).balances)


def _balances(b: Mapping[Kind, int]) -> Balances:
    return Balances(cash=b.get(Kind.CASH, 0), bonus=b.get(Kind.BONUS, 0), held=b.get(Kind.HELD, 0),
                    debt=-b.get(Kind.DEBT, 0) - b.get(Kind.DEBT_CASH, 0), debt_cash=-b.get(Kind.DEBT_CASH, 0))


# --- posting ------------------------------------------------------------------------------------------
def _check_id(value: str) -> None:
    if not isinstance(value, str) or not value or len(value) > 64:
        raise InvalidInput(f"an id must be a non-empty string of at most 64 characters: {value!r}")


def _check_amount(amount: int, *, zero_ok: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidAmount(f"amounts are integer fen, got {amount!r}")
    if amount < (0 if zero_ok else 1) or amount > MAX_FEN:
        raise InvalidAmount(f"amount must be {'0' if zero_ok else '1'}..{MAX_FEN} fen, got {amount}")
    return amount


def _fingerprint(kind: str, args: Mapping[str, Any]) -> str:
    raw = json.dumps([kind, args], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _load(s: Session, txn: LedgerTransaction, replayed: bool) -> Posting:
    rows = s.execute(
        select(LedgerAccount.code, LedgerEntry.amount, LedgerEntry.line)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.txn_id == txn.id).order_by(LedgerEntry.id)
    ).all()
    return Posting(txn.id, txn.idem_key, txn.kind, tuple(Entry(c, a, ln) for c, a, ln in rows),
                   replayed)


def _existing(s: Session, key: str) -> LedgerTransaction | None:
    return s.execute(
        select(LedgerTransaction).where(LedgerTransaction.idem_key == key)
    ).scalar_one_or_none()


def _replay(s: Session, txn: LedgerTransaction, fingerprint: str) -> Posting:
    if txn.fingerprint != fingerprint:
        raise IdempotencyConflict(f"key {txn.idem_key!r} was used for another {txn.kind} request")
    return _load(s, txn, replayed=True)


Build = Callable[[_Locked], list[tuple[int, int, str | None]]]


def _post(
    s: Session,
    *,
    key: str,
    kind: str,
    driver_id: str,
    args: Mapping[str, Any],
    build: Build,
    order_id: str | None = None,
    memo: Mapping[str, Any] | None = None,
) -> Posting:
    if not isinstance(key, str) or not key or len(key) > 160:
        raise InvalidInput(f"an idempotency key is a non-empty string of at most 160 characters: {key!r}")
    _check_id(driver_id)
    fingerprint = _fingerprint(kind, {"driver": driver_id, **args})
    locked = _lock(s, driver_id)  # first: a concurrent poster of the same key waits here
    prior = _existing(s, key)
    if prior is not None:
        return _replay(s, prior, fingerprint)
    legs = [(acc, amt, line) for acc, amt, line in build(locked) if amt != 0]
    if sum(a for _acc, a, _l in legs) != 0:  # a bug in a builder, never the caller's input
        raise AssertionError(f"unbalanced {kind} posting: {legs}")
    txn = LedgerTransaction(idem_key=key, kind=kind, driver_id=driver_id, order_id=order_id,
                            fingerprint=fingerprint, sealed=False,
                            memo=dict(memo) if memo else None, created_at=now_ms())
    s.add(txn)
    try:
        s.flush()
    except IntegrityError as exc:  # the key, posted meanwhile for another driver: roll back
        raise IdempotencyConflict(f"key {key!r} is taken by a concurrent posting") from exc
    # Entries in account-id order: concurrent postings take row locks in one order (no deadlock).
    s.add_all(LedgerEntry(txn_id=txn.id, account_id=acc, amount=amt, line=line)
              for acc, amt, line in sorted(legs, key=lambda leg: (leg[0], leg[2] or "")))
    s.flush()
    s.execute(update(LedgerTransaction).where(LedgerTransaction.id == txn.id).values(sealed=True))
    s.expire(txn)
    codes = {i: driver_code(driver_id, k) for k, i in locked.ids.items()}
    codes |= {i: platform_code(k) for k, i in locked.platform.items()}
    return Posting(txn.id, key, kind, tuple(Entry(codes[a], m, ln) for a, m, ln in legs))


def _spend(locked: _Locked, amount: int) -> tuple[int, int]:
    """(from bonus, from cash) for spending `amount`: bonus first (it is never refundable)."""
    bonus = min(locked.balances[Kind.BONUS], amount)
    cash = amount - bonus
    if cash > locked.balances[Kind.CASH]:
        raise InsufficientFunds(amount, locked.balances[Kind.BONUS] + locked.balances[Kind.CASH])
    return bonus, cash


def debts_paid(owed_cash: int, owed_spent: int, own: int, bonus: int = 0) -> tuple[int, int, int]:
    """How the driver's debts are paid from `own` (the driver's own money: a payment, cash,
    earnings) and `bonus`: bonus pays only spent debt, own money pays the debt of money paid
    out first (only it can), then the rest. Returns (to debt_cash, to debt, from bonus)."""
    from_bonus = min(bonus, owed_spent)
    own_to_cash_debt = min(own, owed_cash)
    own_to_spent = min(own - own_to_cash_debt, owed_spent - from_bonus)
    return own_to_cash_debt, from_bonus + own_to_spent, from_bonus


def _pay_debts(lk: _Locked, own: int, bonus: int = 0) -> tuple[list[tuple[int, int, str | None]], int, int]:
    """Legs paying the driver's debts (`debts_paid`). Returns (legs, own left, bonus left)."""
    to_cash_debt, to_debt, from_bonus = debts_paid(-lk.balances[Kind.DEBT_CASH], -lk.balances[Kind.DEBT], own, bonus)
    legs: list[tuple[int, int, str | None]] = [(lk.ids[Kind.DEBT_CASH], to_cash_debt, None),
                                               (lk.ids[Kind.DEBT], to_debt, None)]
    return legs, own - to_cash_debt - (to_debt - from_bonus), bonus - from_bonus


# --- business events ----------------------------------------------------------------------------------
def top_up(s: Session, driver_id: str, amount: int, key: str, *,
           memo: Mapping[str, Any] | None = None) -> Posting:
    """A payment arrived (from payment clearing): it pays the driver's debts first, the rest
    becomes cash."""
    _check_amount(amount)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        debts, rest, _ = _pay_debts(lk, amount)
        return [(lk.platform[Kind.CLEARING], -amount, None), *debts, (lk.ids[Kind.CASH], rest, None)]

    return _post(s, key=key, kind="top_up", driver_id=driver_id, args={"amount": amount},
                 build=build, memo=memo)


def grant_bonus(s: Session, driver_id: str, amount: int, key: str, *,
                memo: Mapping[str, Any] | None = None) -> Posting:
    """Bonus credit from the platform's promotion budget (it pays spent debt first, as a
    top-up; never the debt of money paid out, which only the driver's own money pays)."""
    _check_amount(amount)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        debts, _, rest = _pay_debts(lk, 0, amount)
        return [(lk.platform[Kind.PROMOTION], -amount, None), *debts, (lk.ids[Kind.BONUS], rest, None)]

    return _post(s, key=key, kind="bonus", driver_id=driver_id, args={"amount": amount},
                 build=build, memo=memo)


def collect_debt(s: Session, driver_id: str, key: str) -> Posting:
    """Pay what the driver owes from their balance, as far as it goes: spent debt from bonus
    first, the debt of money paid out from cash alone."""

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        cash, bonus = lk.balances[Kind.CASH], lk.balances[Kind.BONUS]
        debts, cash_left, bonus_left = _pay_debts(lk, cash, bonus)
        return [(lk.ids[Kind.BONUS], bonus_left - bonus, None), (lk.ids[Kind.CASH], cash_left - cash, None),
                *debts]

    return _post(s, key=key, kind="collect_debt", driver_id=driver_id, args={}, build=build)


def hold_key(order_id: str) -> str:
    return f"hold:{order_id}"


def close_key(order_id: str) -> str:
    # Settling and releasing share one key: a hold closes once, whichever way.
    return f"close-hold:{order_id}"


def hold(s: Session, driver_id: str, order_id: str, amount: int, *, cash_only: bool = False) -> Posting:
    """Set `amount` aside for an order (bonus first, then cash); InsufficientFunds if the
    driver's available balance is short. One hold per order. `cash_only`: from cash alone
    (an order paid by its own payment: the bonus stays, or the payment's cash would stay
    behind, refundable, in its place)."""
    _check_id(order_id)
    _check_amount(amount)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        if cash_only:
            if amount > lk.balances[Kind.CASH]:
                raise InsufficientFunds(amount, lk.balances[Kind.CASH])
            bonus, cash = 0, amount
        else:
            bonus, cash = _spend(lk, amount)
        return [(lk.ids[Kind.BONUS], -bonus, None), (lk.ids[Kind.CASH], -cash, None),
                (lk.ids[Kind.HELD], amount, None)]

    args: dict[str, Any] = {"order": order_id, "amount": amount}
    if cash_only:
        args["cash_only"] = True
    return _post(s, key=hold_key(order_id), kind="hold", driver_id=driver_id, order_id=order_id,
                 args=args, build=build)


def _hold_parts(s: Session, order_id: str) -> tuple[str, int, int]:
    """(driver, held from bonus, held from cash) of the order's hold."""
    txn = _existing(s, hold_key(order_id))
    if txn is None or txn.driver_id is None:
        raise UnknownHold(f"order {order_id!r} has no hold")
    rows = s.execute(
        select(LedgerAccount.kind, LedgerEntry.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerEntry.txn_id == txn.id)
    ).all()
    parts = {Kind(k): -a for k, a in rows if k in (Kind.BONUS.value, Kind.CASH.value)}
    return txn.driver_id, parts.get(Kind.BONUS, 0), parts.get(Kind.CASH, 0)


def settle(s: Session, order_id: str, lines: Mapping[str, int]) -> Posting:
    """Close the order's hold with its bill: each fee line (electricity, service, idle) to its
    revenue account, paid from the hold (bonus part first); the unused rest goes back where it
    came from; whatever the bill exceeds the hold by becomes the driver's debt."""
    _check_id(order_id)
    bill: dict[str, int] = {}
    for name, fen in lines.items():
        if name not in FEE_LINES:
            raise InvalidInput(f"unknown fee line {name!r} (one of {', '.join(FEE_LINES)})")
        bill[name] = _check_amount(fen, zero_ok=True)
    total = sum(bill.values())
    _check_amount(total, zero_ok=True)
    driver_id, held_bonus, held_cash = _hold_parts(s, order_id)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        from_bonus = min(total, held_bonus)
        from_cash = min(total - from_bonus, held_cash)
        overrun = total - from_bonus - from_cash
        legs: list[tuple[int, int, str | None]] = [
            (lk.ids[Kind.HELD], -(held_bonus + held_cash), None),
            (lk.ids[Kind.BONUS], held_bonus - from_bonus, None),
            (lk.ids[Kind.CASH], held_cash - from_cash, None),
            (lk.ids[Kind.DEBT], -overrun, None),
        ]
        legs += [(lk.platform[FEE_LINES[name]], fen, name) for name, fen in sorted(bill.items())]
        return legs

    kind = "settle" if total else "release"
    return _post(s, key=close_key(order_id), kind=kind, driver_id=driver_id, order_id=order_id,
                 args={"order": order_id, "lines": {k: v for k, v in sorted(bill.items()) if v}},
                 build=build)


def release(s: Session, order_id: str) -> Posting:
    """Give the whole hold back (an order that never charged)."""
    return settle(s, order_id, {})


def _bonus_refundable(s: Session, order_id: str, settled: LedgerTransaction) -> int:
    """What a refund of the settled order may still give back as bonus: its bill less what the
    bill took from the hold's cash, less what earlier refunds of the order gave back (bonus
    first, so they took from this part first)."""
    _driver, _held_bonus, held_cash = _hold_parts(s, order_id)
    settle_posting = _load(s, settled, False)
    bill = sum(e.amount for e in settle_posting.entries if e.line is not None)
    from_cash = held_cash - settle_posting.amount_on(driver_code(settled.driver_id or "", Kind.CASH))
    earlier = -int(s.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.txn_id)
        .where(LedgerTransaction.order_id == order_id, LedgerTransaction.kind == "order_refund",
               LedgerEntry.line.is_not(None))) or 0)
    return max(0, bill - from_cash - earlier)


def refund_order(s: Session, order_id: str, lines: Mapping[str, int], key: str, *,
                 memo: Mapping[str, Any] | None = None) -> Posting:
    """An operator gives back part of a settled order's fees: each fee line's amount leaves its
    revenue account for the driver, never more per line than the order still holds there
    (what its settlement booked less earlier refunds of it). It comes back as what paid it, bonus
    first: bonus credit up to what the order's bill took from anything but its held cash (its
    bonus part and the debt it overran into, whatever paid that debt since), counting this
    order's earlier refunds; cash only beyond that. Bonus is never refundable, so an order paid
    from bonus never becomes cash a balance refund could send to WeChat. What the driver owes is
    paid from it first (as `collect_debt` pays it: the bonus part pays only spent debt)."""
    _check_id(order_id)
    back: dict[str, int] = {}
    for name, fen in lines.items():
        if name not in FEE_LINES:
            raise InvalidInput(f"unknown fee line {name!r} (one of {', '.join(FEE_LINES)})")
        back[name] = _check_amount(fen, zero_ok=True)
    total = _check_amount(sum(back.values()))
    txn = s.scalar(select(LedgerTransaction).where(LedgerTransaction.idem_key == close_key(order_id)))
    if txn is None or txn.kind != "settle" or txn.driver_id is None:
        raise InvalidInput(f"order {order_id!r} has no settled bill to refund")
    driver_id = txn.driver_id
    lock_driver(s, driver_id)  # before the bound is read: two refunds of one order queue here
    # the same key again replays (in _post), even when this refund left nothing to refund
    for name, fen in back.items() if _existing(s, key) is None else ():
        kept = s.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.txn_id)
                        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
                        .where(LedgerTransaction.order_id == order_id, LedgerEntry.line == name,
                               LedgerAccount.code == platform_code(FEE_LINES[name])))
        if fen > int(kept or 0):
            raise InvalidInput(f"{name}: {fen} fen asked back, the order's {name} fee left is {int(kept or 0)} fen")
    as_bonus = min(total, _bonus_refundable(s, order_id, txn))  # unused by a replay

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        legs: list[tuple[int, int, str | None]] = [(lk.platform[FEE_LINES[n]], -f, n) for n, f in sorted(back.items())]
        debts, cash_left, bonus_left = _pay_debts(lk, total - as_bonus, as_bonus)  # owed is paid first
        return [*legs, *debts, (lk.ids[Kind.BONUS], bonus_left, None), (lk.ids[Kind.CASH], cash_left, None)]

    return _post(s, key=key, kind="order_refund", driver_id=driver_id, order_id=order_id,
                 args={"order": order_id, "lines": {k: v for k, v in sorted(back.items()) if v}},
                 build=build, memo=memo)


def refund(s: Session, driver_id: str, amount: int, key: str, *,
           memo: Mapping[str, Any] | None = None) -> Posting:
    """Accept a refund of unused cash: cash → refunds payable (bonus is never refunded)."""
    _check_amount(amount)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        if amount > lk.balances[Kind.CASH]:
            raise InsufficientFunds(amount, lk.balances[Kind.CASH])
        return [(lk.ids[Kind.CASH], -amount, None),
                (lk.platform[Kind.REFUNDS_PAYABLE], amount, None)]

    return _post(s, key=key, kind="refund", driver_id=driver_id, args={"amount": amount},
                 build=build, memo=memo)


def _refund_txn(s: Session, refund_key: str) -> tuple[str, int]:
    txn = _existing(s, refund_key)
    if txn is None or txn.kind != "refund" or txn.driver_id is None:
        raise UnknownPosting(f"no refund under key {refund_key!r}")
    return txn.driver_id, _load(s, txn, False).amount_on(driver_code(txn.driver_id, Kind.CASH))


def refund_paid(s: Session, refund_key: str) -> Posting:
    """The provider paid the refund out: refunds payable → payment clearing."""
    driver_id, cash_leg = _refund_txn(s, refund_key)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        return [(lk.platform[Kind.REFUNDS_PAYABLE], cash_leg, None),
                (lk.platform[Kind.CLEARING], -cash_leg, None)]

    return _post(s, key=f"refund-close:{refund_key}", kind="refund_paid", driver_id=driver_id,
                 args={"refund": refund_key, "outcome": "paid"}, build=build)


def refund_failed(s: Session, refund_key: str) -> Posting:
    """The refund was finally refused: refunds payable → the driver's cash again."""
    driver_id, cash_leg = _refund_txn(s, refund_key)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        return [(lk.platform[Kind.REFUNDS_PAYABLE], cash_leg, None),
                (lk.ids[Kind.CASH], -cash_leg, None)]

    return _post(s, key=f"refund-close:{refund_key}", kind="refund_failed", driver_id=driver_id,
                 args={"refund": refund_key, "outcome": "failed"}, build=build)


def refund_paid_late(s: Session, refund_key: str) -> Posting:
    """The provider paid out a refund after it was booked failed (an abnormal refund the
    merchant completed by hand, say): the money it gave back to the driver's cash is taken
    back as far as the cash goes, the rest becomes the driver's debt of money paid out (only
    their own money pays it); refunds payable stay as they were, payment clearing pays it."""
    driver_id, cash_leg = _refund_txn(s, refund_key)
    closed = _existing(s, f"refund-close:{refund_key}")
    if closed is None or closed.kind != "refund_failed":
        raise UnknownPosting(f"refund {refund_key!r} was not booked failed")
    amount = -cash_leg

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        from_cash = min(amount, lk.balances[Kind.CASH])
        return [(lk.ids[Kind.CASH], -from_cash, None),
                (lk.ids[Kind.DEBT_CASH], -(amount - from_cash), None),
                (lk.platform[Kind.CLEARING], amount, None)]

    return _post(s, key=f"refund-late:{refund_key}", kind="refund_paid_late", driver_id=driver_id,
                 args={"refund": refund_key, "outcome": "paid late"}, build=build)


# --- platform postings (no driver) --------------------------------------------------------------------
def post_platform(s: Session, key: str, kind: str, legs: Mapping[Kind, int], *,
                  memo: Mapping[str, Any] | None = None) -> Posting:
    """A balanced transaction between platform accounts only (settlement with station owners:
    revenue → owner_payable → bank), under an idempotency key like every posting: the same
    key and legs again return the first posting, other legs raise IdempotencyConflict.
    Platform accounts carry no cached balance, so nothing is locked; the key's uniqueness
    keeps two concurrent posters from both writing."""
    if not isinstance(key, str) or not key or len(key) > 160:
        raise InvalidInput(f"an idempotency key is a non-empty string of at most 160 characters: {key!r}")
    bad = [k for k in legs if k not in PLATFORM_KINDS]
    if bad:
        raise InvalidInput(f"platform postings touch platform accounts only, not {bad}")
    for amount in legs.values():
        if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > MAX_FEN:
            raise InvalidAmount(f"amounts are integer fen within ±{MAX_FEN}, got {amount!r}")
    if sum(legs.values()) != 0:
        raise InvalidAmount(f"an unbalanced {kind} posting: {dict(legs)}")
    fingerprint = _fingerprint(kind, {"legs": {k.value: v for k, v in sorted(legs.items())}})
    prior = _existing(s, key)
    if prior is not None:
        return _replay(s, prior, fingerprint)
    platform = _platform_ids(s)
    txn = LedgerTransaction(idem_key=key, kind=kind, driver_id=None, order_id=None, fingerprint=fingerprint,
                            sealed=False, memo=dict(memo) if memo else None, created_at=now_ms())
    s.add(txn)
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:  # posted meanwhile by another transaction: its posting stands
        prior = _existing(s, key)
        if prior is None:
            raise
        return _replay(s, prior, fingerprint)
    nonzero = sorted((platform[k], v) for k, v in legs.items() if v != 0)
    s.add_all(LedgerEntry(txn_id=txn.id, account_id=acc, amount=amt, line=None) for acc, amt in nonzero)
    s.flush()
    s.execute(update(LedgerTransaction).where(LedgerTransaction.id == txn.id).values(sealed=True))
    s.expire(txn)
    return Posting(txn.id, key, kind, tuple(Entry(platform_code(k), v) for k, v in legs.items() if v != 0))


# --- a shared pile's owner (docs/sharing.md) -------------------------------------------------------------
def post_owner(s: Session, key: str, kind: str, owner_id: str, legs: Mapping[Kind, int], *,
               order_id: str | None = None) -> Posting:
    """A balanced posting between one driver's owner accounts (earnings, withdrawing) and
    platform accounts, under an idempotency key (the same key and legs again return the first
    posting). An owner account would go below zero: InsufficientFunds, nothing posted."""
    bad = [k for k in legs if k not in OWNER_KINDS and k not in PLATFORM_KINDS]
    if bad:
        raise InvalidInput(f"owner postings touch owner and platform accounts only, not {bad}")
    for amount in legs.values():
        if isinstance(amount, bool) or not isinstance(amount, int) or abs(amount) > MAX_FEN:
            raise InvalidAmount(f"amounts are integer fen within ±{MAX_FEN}, got {amount!r}")
    if sum(legs.values()) != 0:
        raise InvalidAmount(f"an unbalanced {kind} posting: {dict(legs)}")
    _check_id(owner_id)
    _insert_ignore(s, [{"code": driver_code(owner_id, k), "kind": k.value, "driver_id": owner_id,
                        "balance": 0, "created_at": now_ms()} for k in DRIVER_KINDS + OWNER_KINDS])

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        out: list[tuple[int, int, str | None]] = []
        for k, amount in sorted(legs.items()):
            if k in OWNER_KINDS:
                if lk.balances[k] + amount < 0:
                    raise InsufficientFunds(-amount, lk.balances[k])
                out.append((lk.ids[k], amount, None))
            else:
                out.append((lk.platform[k], amount, None))
        return out

    return _post(s, key=key, kind=kind, driver_id=owner_id, order_id=order_id,
                 args={"legs": {k.value: v for k, v in sorted(legs.items())}}, build=build)


def _owner_revenue(owner_id: str, revenue: Mapping[Kind, int]) -> int:
    bad = [k for k in revenue if k not in FEE_LINES.values()]
    if bad:
        raise InvalidInput(f"an owner's share moves revenue accounts only, not {bad}")
    for amount in revenue.values():
        _check_amount(amount, zero_ok=True)
    _check_id(owner_id)
    return _check_amount(sum(revenue.values()))


def _open_owner(s: Session, owner_id: str) -> None:
    _insert_ignore(s, [{"code": driver_code(owner_id, k), "kind": k.value, "driver_id": owner_id,
                        "balance": 0, "created_at": now_ms()} for k in DRIVER_KINDS + OWNER_KINDS])


def post_owner_share(s: Session, key: str, owner_id: str, revenue: Mapping[Kind, int], *,
                     order_id: str | None = None) -> Posting:
    """An owner's share of an order: the amounts leave the revenue accounts; what the owner
    owes (their debts, e.g. a share clawed back after it was withdrawn) is paid first, as a
    top-up pays it (earnings are the owner's own money), the rest becomes earnings."""
    total = _owner_revenue(owner_id, revenue)
    _open_owner(s, owner_id)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        debts, rest, _ = _pay_debts(lk, total)
        legs: list[tuple[int, int, str | None]] = [(lk.platform[k], -v, None) for k, v in sorted(revenue.items())]
        return [*legs, *debts, (lk.ids[Kind.OWNER_EARNINGS], rest, None)]

    return _post(s, key=key, kind="owner_share", driver_id=owner_id, order_id=order_id,
                 args={"revenue": {k.value: v for k, v in sorted(revenue.items())}}, build=build)


def claw_back_owner(s: Session, key: str, owner_id: str, revenue: Mapping[Kind, int], *,
                    order_id: str | None = None) -> Posting:
    """An owner's share of a refund taken back into the revenue accounts: from the earnings as
    far as they reach, the rest becomes the owner's debt of money paid out (it was withdrawn;
    never a negative balance; collected from the owner's own money: the next share, top-up or
    the cash at a start, never from bonus)."""
    total = _owner_revenue(owner_id, revenue)
    _open_owner(s, owner_id)

    def build(lk: _Locked) -> list[tuple[int, int, str | None]]:
        from_earnings = min(total, lk.balances[Kind.OWNER_EARNINGS])
        legs: list[tuple[int, int, str | None]] = [(lk.platform[k], v, None) for k, v in sorted(revenue.items())]
        return [*legs, (lk.ids[Kind.OWNER_EARNINGS], -from_earnings, None),
                (lk.ids[Kind.DEBT_CASH], -(total - from_earnings), None)]

    return _post(s, key=key, kind="owner_clawback", driver_id=owner_id, order_id=order_id,
                 args={"revenue": {k.value: v for k, v in sorted(revenue.items())}}, build=build)


def owner_balances(s: Session, owner_id: str) -> tuple[int, int]:
    """(earnings, being withdrawn) of a pile owner, in fen."""
    rows = dict(s.execute(select(LedgerAccount.kind, LedgerAccount.balance).where(
        LedgerAccount.driver_id == owner_id, LedgerAccount.kind.in_([k.value for k in OWNER_KINDS]))).all())
    return rows.get(Kind.OWNER_EARNINGS.value, 0), rows.get(Kind.OWNER_WITHDRAWING.value, 0)


# --- queries ------------------------------------------------------------------------------------------
DEBT_KINDS = {k.value for k in NON_POSITIVE}


def balances(s: Session, driver_id: str) -> Balances:
    rows = s.execute(
        select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.driver_id == driver_id)
    ).all()
    return _balances({Kind(k): int(b or 0) for k, b in rows})


def platform_balance(s: Session, kind: Kind) -> int:
    """A platform account's balance: the sum of its entries."""
    return s.execute(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.code == platform_code(kind))
    ).scalar_one()


def statement(s: Session, driver_id: str, *, limit: int = 50,
              before_txn: int | None = None) -> list[StatementLine]:
    """The driver's entries, newest first, each with its account's balance after it."""
    running = func.sum(LedgerEntry.amount).over(
        partition_by=LedgerEntry.account_id, order_by=LedgerEntry.id).label("after")
    inner = (
        select(LedgerEntry.id, LedgerEntry.txn_id, LedgerEntry.amount, LedgerEntry.line,
               LedgerAccount.kind, running)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerAccount.driver_id == driver_id)
    ).subquery()
    q = (select(inner, LedgerTransaction.idem_key, LedgerTransaction.kind.label("tkind"),
                LedgerTransaction.order_id, LedgerTransaction.created_at)
         .join(LedgerTransaction, LedgerTransaction.id == inner.c.txn_id)
         .order_by(inner.c.id.desc()).limit(limit))
    if before_txn is not None:
        q = q.where(inner.c.txn_id < before_txn)
    out = []
    for r in s.execute(q).mappings():
        acct = r["kind"]
        sign = -1 if acct in DEBT_KINDS else 1  # debt shown as what is owed
        out.append(StatementLine(r["txn_id"], r["idem_key"], r["tkind"], r["order_id"],
                                 r["created_at"], acct, sign * r["amount"], sign * r["after"],
                                 r["line"]))
    return out


def verify(s: Session) -> list[str]:
    """Every way the stored ledger breaks its rules (empty when sound): unbalanced or unsealed
    transactions, cached balances that are not the sum of their entries, protected balances of
    the wrong sign, a total that is not zero."""
    problems: list[str] = []
    for txn_id, total in s.execute(
        select(LedgerEntry.txn_id, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.txn_id).having(func.sum(LedgerEntry.amount) != 0)
    ):
        problems.append(f"transaction {txn_id} sums to {total}")
    for (txn_id,) in s.execute(select(LedgerTransaction.id).where(~LedgerTransaction.sealed)):
        problems.append(f"transaction {txn_id} is not sealed")
    sums = (select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total"))
            .group_by(LedgerEntry.account_id).subquery())
    for code, kind, bal, total in s.execute(
        select(LedgerAccount.code, LedgerAccount.kind, LedgerAccount.balance,
               func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == LedgerAccount.id)
        .where(LedgerAccount.balance.is_not(None))
    ):
        if bal != total:
            problems.append(f"{code}: balance {bal} but its entries sum to {total}")
        if (kind in DEBT_KINDS and bal > 0) or (kind not in DEBT_KINDS and bal < 0):
            problems.append(f"{code}: balance {bal} has the wrong sign")
    grand = s.execute(select(func.coalesce(func.sum(LedgerEntry.amount), 0))).scalar_one()
    if grand != 0:
        problems.append(f"all entries sum to {grand}, not 0")
    return problems


def balances_of(s: Session, driver_ids: list[str]) -> dict[str, Balances]:
    """Read-only balances of these drivers (no lock, nothing opened): for lists."""
    found: dict[str, dict[str, int]] = {d: {} for d in driver_ids}
    if driver_ids:
        for d, kind, bal in s.execute(select(LedgerAccount.driver_id, LedgerAccount.kind, LedgerAccount.balance)
                                      .where(LedgerAccount.driver_id.in_(driver_ids))):
            found[d][kind] = int(bal or 0)
    return {d: _balances({Kind(k): v for k, v in b.items()}) for d, b in found.items()}
