"""Owner payouts of closed periods: plain functions on a Session (the caller commits);
docs/settlement.md "Payouts".

- `make_payable(day, owner)`: the owner's share of a closed day (the `owner` parts of the
  day's frozen lines for the stations it owns now) moves in the ledger from the revenue
  accounts to `platform:owner_payable`, one transaction keyed `owner-payable:<day>:<owner>`;
  each station's day is carried by one payout only (a station that changes hands is not paid
  twice).
- `mark_paid(payout, reference)`: the transfer was made: `platform:owner_payable` →
  `platform:bank`, keyed `owner-paid:<payout>`, with the transfer's reference. The payment
  provider interface (cloud/payments) has no transfer to a merchant's bank account, so the
  transfer is a manual bank transfer whose reference the operator records.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.ledger.accounts import FEE_LINES, Kind
from cloud.models import now_ms
from cloud.operators.models import Operator, OperatorStation
from cloud.settlement.models import SettlementLine, SettlementPayout, SettlementPayoutStation
from cloud.settlement.service import SettlementError, Sids, _lock, is_closed, parse_day

METHODS = ("bank_transfer",)
MESSAGES = {
    "period_open": ("账期未关闭，不能结算", "The period is not closed: nothing can be paid for it yet"),
    "not_an_owner": ("不是站点业主", "Not a station owner"),
    "nothing_owed": ("该业主在此账期没有应付金额", "Nothing is owed to this owner for that period"),
    "payout_not_found": ("没有该笔结算", "No such payout"),
    "bad_reference": ("请填写转账流水号（最多 64 个字符）", "Give the transfer's reference (at most 64 characters)"),
    "bad_method": ("不支持的付款方式", "Not a payment method the platform uses"),
    "paid_otherwise": ("该笔结算已以其他流水号付款", "That payout was paid with another reference"),
}


def _owner(s: Session, owner_id: Any) -> Operator:
    try:
        op = s.get(Operator, int(owner_id))
    except (TypeError, ValueError):
        op = None
    if op is None or op.role != "owner":
        raise SettlementError("not_an_owner", f"operator {owner_id!r} is not a station owner")
    return op


def owner_sids(s: Session, owner_id: int) -> set[str]:
    return set(s.scalars(select(OperatorStation.sid).where(OperatorStation.operator_id == owner_id)))


def owed(s: Session, day: Any, owner_id: Any) -> dict[str, dict[str, int]]:
    """sid → fee → owed to the owner, over the closed day's frozen lines of the stations the
    owner has now that no payout carries yet."""
    d = parse_day(day).isoformat()
    op = _owner(s, owner_id)
    sids = owner_sids(s, op.id)
    if not sids:
        return {}
    carried = set(s.scalars(select(SettlementPayoutStation.sid).where(SettlementPayoutStation.day == d)))
    out: dict[str, dict[str, int]] = {}
    for ln in s.scalars(select(SettlementLine).where(SettlementLine.day == d, SettlementLine.sid.in_(sorted(sids)))
                        .order_by(SettlementLine.sid, SettlementLine.fee)):
        if ln.sid not in carried:
            out.setdefault(ln.sid, {})[ln.fee] = ln.owner_fen
    return out


def make_payable(s: Session, day: Any, owner_id: Any, *, actor: str, ip: str | None = None) -> SettlementPayout:
    """The owner's share of a closed day made payable in the ledger (once: the same day and
    owner again return the payout already made). Audited."""
    from cloud.audit import service as audit

    d = parse_day(day)
    op = _owner(s, owner_id)
    # the settlement lock (PostgreSQL; SQLite has one writer): two clicks on the same day and
    # owner make one payout, the second finds the first's
    _lock(s)
    existing = s.scalars(select(SettlementPayout).where(SettlementPayout.day == d.isoformat(),
                                                        SettlementPayout.owner_id == op.id)).first()
    if existing is not None:
        return existing
    if not is_closed(s, d):
        raise SettlementError("period_open", f"{d} is not closed")
    by_station = owed(s, d, op.id)
    fees = {fee: sum(v.get(fee, 0) for v in by_station.values()) for fee in FEE_LINES}
    total = sum(fees.values())
    if total <= 0:
        # a negative share (corrections only) is not paid: it stays in the lines as it is
        raise SettlementError("nothing_owed", f"nothing owed to owner {op.id} for {d}")
    legs = {acct: -fees[fee] for fee, acct in FEE_LINES.items()}
    legs[Kind.OWNER_PAYABLE] = total
    posting = ledger.post_platform(s, f"owner-payable:{d.isoformat()}:{op.id}", "owner_payable", legs,
                                   memo={"day": d.isoformat(), "owner_id": op.id, "stations": sorted(by_station)})
    payout = SettlementPayout(day=d.isoformat(), owner_id=op.id, amount_fen=total, state="payable",
                              payable_txn_id=posting.txn_id, created_at=now_ms(), created_by=actor)
    s.add(payout)
    s.flush()
    s.add_all(SettlementPayoutStation(day=d.isoformat(), sid=sid, payout_id=payout.id,
                                      owner_fen=sum(by_fee.values()))
              for sid, by_fee in by_station.items())
    s.flush()
    audit.record(s, actor, "settlement.payable", f"payout:{payout.id}",
                 {"day": d.isoformat(), "owner_id": op.id, "amount_fen": total, "txn_id": posting.txn_id}, ip)
    return payout


def mark_paid(s: Session, payout_id: Any, *, reference: Any, actor: str, method: str = "bank_transfer",
              ip: str | None = None) -> SettlementPayout:
    """The transfer to the owner was made: owner_payable → bank in the ledger, with its
    reference. Recording the same reference again changes nothing; another one is refused."""
    from cloud.audit import service as audit

    if method not in METHODS:
        raise SettlementError("bad_method", f"payment method {method!r}")
    ref = reference.strip() if isinstance(reference, str) else ""
    if not ref or len(ref) > 64:
        raise SettlementError("bad_reference", "a transfer reference of 1 to 64 characters")
    try:
        payout = s.get(SettlementPayout, int(payout_id), with_for_update=True)
    except (TypeError, ValueError):
        payout = None
    if payout is None:
        raise SettlementError("payout_not_found", f"no payout {payout_id!r}")
    if payout.state == "paid":
        if payout.reference == ref:
            return payout
        raise SettlementError("paid_otherwise", f"payout {payout.id} was paid with {payout.reference!r}")
    posting = ledger.post_platform(s, f"owner-paid:{payout.id}", "owner_paid",
                                   {Kind.OWNER_PAYABLE: -payout.amount_fen, Kind.BANK: payout.amount_fen},
                                   memo={"payout_id": payout.id, "method": method, "reference": ref})
    t = now_ms()
    payout.state, payout.paid_txn_id, payout.method, payout.reference = "paid", posting.txn_id, method, ref
    payout.paid_at, payout.paid_by = t, actor
    s.flush()
    audit.record(s, actor, "settlement.paid", f"payout:{payout.id}",
                 {"amount_fen": payout.amount_fen, "method": method, "reference": ref, "txn_id": posting.txn_id}, ip)
    return payout


def payouts(s: Session, *, owner_id: int | None = None, sids: Sids = None, day: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Payouts, newest day first: of one owner (`owner_id`), or those carrying a station in
    `sids`, or all (both None); of one `day` if given."""
    q = (select(SettlementPayout, Operator.login, Operator.display_name)
         .join(Operator, Operator.id == SettlementPayout.owner_id)
         .order_by(SettlementPayout.day.desc(), SettlementPayout.owner_id).limit(limit))
    if owner_id is not None:
        q = q.where(SettlementPayout.owner_id == owner_id)
    if day is not None:
        q = q.where(SettlementPayout.day == day)
    if sids is not None:
        q = q.where(SettlementPayout.id.in_(select(SettlementPayoutStation.payout_id)
                                            .where(SettlementPayoutStation.sid.in_(sorted(sids)))))
    out = []
    for p, login, name in s.execute(q).all():
        out.append({"id": p.id, "day": p.day, "owner_id": p.owner_id, "owner": name or login, "amount_fen": p.amount_fen,
                    "state": p.state, "method": p.method, "reference": p.reference, "created_at": p.created_at,
                    "created_by": p.created_by, "paid_at": p.paid_at, "paid_by": p.paid_by,
                    "payable_txn_id": p.payable_txn_id, "paid_txn_id": p.paid_txn_id})
    return out
