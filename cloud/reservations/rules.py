"""The reservation rules as values, and the decisions made from them (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

FEE_MODES = ("none", "fixed", "tariff_idle", "tariff")
MINUTE_MS = 60_000
DAY_MS = 86_400_000


class RuleError(ValueError):
    """A rule that cannot be set; `field` names the rule at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Rule:
    enabled: bool = False
    max_minutes: int = 30
    # none | fixed (fee_fen) | tariff_idle (the tariff's idle fee for the time held) |
    # tariff (the tariff's own reservation fee: per reservation and per minute reserved)
    fee_mode: str = "none"
    fee_fen: int = 0
    refund_on_start: bool = True  # the fee back when the driver starts before `until`
    refund_on_cancel: bool = True  # the fee back when the driver cancels
    keep_on_no_show: bool = True  # the fee kept when the reservation expires unused
    no_show_limit: int = 0  # this many no-shows within suspend_days suspend reserving (0: never)
    suspend_days: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(values: Mapping[str, Any], key: str, low: int, high: int, default: int) -> int:
    v = values.get(key, default)
    if isinstance(v, str) and v.strip().isascii() and v.strip().isdigit():  # "²" is a digit int() refuses
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise RuleError(key, f"{key} must be a whole number {low}..{high}")
    return v


def _bool(values: Mapping[str, Any], key: str, default: bool) -> bool:
    v = values.get(key, default)
    if not isinstance(v, bool):
        raise RuleError(key, f"{key} must be true or false")
    return v


def rule_from(values: Mapping[str, Any]) -> Rule:
    """A checked Rule from plain values (a form's or a CLI's); RuleError names the bad one."""
    fee_mode = values.get("fee_mode", "none")
    if fee_mode not in FEE_MODES:
        raise RuleError("fee_mode", f"fee_mode must be one of {', '.join(FEE_MODES)}")
    rule = Rule(enabled=_bool(values, "enabled", False), max_minutes=_int(values, "max_minutes", 5, 1440, 30),
                fee_mode=fee_mode, fee_fen=_int(values, "fee_fen", 0, 100_000, 0),
                refund_on_start=_bool(values, "refund_on_start", True),
                refund_on_cancel=_bool(values, "refund_on_cancel", True),
                keep_on_no_show=_bool(values, "keep_on_no_show", True),
                no_show_limit=_int(values, "no_show_limit", 0, 100, 0),
                suspend_days=_int(values, "suspend_days", 0, 365, 0))
    if rule.fee_mode == "fixed" and rule.fee_fen == 0:
        raise RuleError("fee_fen", "a fixed fee needs fee_fen above 0 (or fee_mode none)")
    if rule.no_show_limit and not rule.suspend_days:
        raise RuleError("suspend_days", "a no-show limit needs the days it suspends for")
    return rule


def fee_for(rule: Rule, minutes: int, idle: Mapping[str, Any] | None,
            reservation: Mapping[str, Any] | None = None) -> int:
    """The fee in fen of reserving `minutes`: none; the fixed fee; the tariff's idle fee
    (占位费) for the time held (each started step costs fen_per_step, at most cap_fen; no grace:
    the gun is held from the first minute), a tariff without an idle fee giving 0; or the
    tariff's reservation fee (`reservation`: `fee_e4`, `per_minute_e4`, see `tariff_fee_fen`),
    a tariff without one giving 0."""
    if rule.fee_mode == "fixed":
        return rule.fee_fen
    if rule.fee_mode == "tariff_idle" and idle:
        step, per, cap = int(idle.get("step_min") or 0), int(idle.get("fen_per_step") or 0), idle.get("cap_fen")
        if step <= 0 or per <= 0:
            return 0
        fee = -(-minutes // step) * per
        return min(fee, int(cap)) if isinstance(cap, int) and cap >= 0 else fee
    if rule.fee_mode == "tariff" and reservation:
        return tariff_fee_fen(int(reservation.get("fee_e4") or 0), int(reservation.get("per_minute_e4") or 0),
                              minutes)
    return 0


def tariff_fee_fen(fee_e4: int, per_minute_e4: int, minutes: int) -> int:
    """A tariff's reservation fee in fen for `minutes` reserved: `fee_e4` per reservation plus
    `per_minute_e4` for each minute, both CNY × 10,000 (100 units a fen), summed exactly and
    rounded half up to the fen once (as the tariff's bill lines are): 0.0150 CNY a minute for
    15 minutes is 0.2250 CNY, 23 fen."""
    if fee_e4 < 0 or per_minute_e4 < 0 or minutes < 0:
        raise ValueError("reservation fee: amounts and minutes are 0 or more")
    total_e4 = fee_e4 + minutes * per_minute_e4
    return (2 * total_e4 + 100) // 200


def suspended_until(rule: Rule, no_shows_at: Iterable[int], now: int) -> int | None:
    """Until when the driver may not reserve at this station, or None: `no_show_limit`
    no-shows within the last `suspend_days` suspend reserving until the oldest of those
    `no_show_limit` latest no-shows is `suspend_days` old."""
    if not rule.no_show_limit or not rule.suspend_days:
        return None
    window = rule.suspend_days * DAY_MS
    recent = sorted((t for t in no_shows_at if now - window < t <= now), reverse=True)
    if len(recent) < rule.no_show_limit:
        return None
    return recent[rule.no_show_limit - 1] + window


def fee_outcome(rule: Rule, end: str) -> str:
    """What becomes of a held fee when the reservation ends by `end` (used, cancelled,
    expired, failed): refunded or kept."""
    if end == "used":
        return "refunded" if rule.refund_on_start else "kept"
    if end == "cancelled":
        return "refunded" if rule.refund_on_cancel else "kept"
    if end == "expired":
        return "kept" if rule.keep_on_no_show else "refunded"
    return "refunded"  # failed: the station never held the gun
