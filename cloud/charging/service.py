"""Charging from the driver's side: start an order on a scanned gun, follow it, stop it, rate
it. Plain functions (no Flask request objects): the caller gives the database transactions
(`transactions()` is a context manager yielding a Session that commits on exit) and `send`, a
function that publishes a command to a station and returns its reply (cloud.commands).

The hold (the amount set aside for the order; docs/cloud.md "Charging"):
- limit by amount: exactly the amount (the gateway stops there by itself, also offline);
- energy, time, full: `default_hold_fen` (100 CNY unless configured), capped at what the
  driver has available; below `min_hold_fen` available, the start is refused
  (insufficient_balance). A session costing more than its hold becomes the driver's debt.
Available means cash + bonus less any debt (orders.create collects the debt first).

Payment password: when the driver has set one, a start whose hold is above
`paypw_above_fen` (0: every start) needs it, checked with the drivers' lockout.

A start is sent only once its order (state `starting`, hold placed) is committed, so a
`session_started` record can never find no order; a start the broker did not take fails the
order at once (its hold goes back); a start the station did not answer in time stays
`starting`: the command expires by itself at the gateway, `follow_start` applies a reply that
came late or, a minute after the expiry with no session seen, fails the order; the periodic
job (orders.close_stale) closes whatever is left open.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from cloud.charging.models import ChargingPrepay, OrderRating
from cloud.db import take_write_lock
from cloud.drivers.errors import DriverError, InvalidField
from cloud.ledger import service as ledger
from cloud.ledger.errors import InsufficientFunds
from cloud.models import ChargingSession, Gun, Station, StationState, now_ms
from cloud.orders import service as orders
from cloud.orders.machine import Event, IllegalTransition, State
from cloud.orders.models import Order, OrderLine
from cloud.reservations import service as reservations
from cloud.sharing import service as sharing
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from jcproto import ProtocolError
from jcproto.tariff import E4_DIVISOR, fen_e4, largest_true

log = logging.getLogger(__name__)

Transactions = Callable[[], AbstractContextManager[Session]]
Send = Callable[[str, str, Mapping[str, Any]], Any]  # (sid, type, payload) -> jcproto Reply

RUNNING = (State.CREATED.value, State.STARTING.value, State.CHARGING.value)
# Bounds of a start's limit: wide enough for any real session, narrow enough that no input
# reaches the ledger's or the protocol's limits.
LIMIT_BOUNDS = {"amount": (100, 500_000), "energy": (100, 1_000_000), "time": (60, 172_800), "full": (0, 0)}
# The gateway's refusal codes, as the driver API names them.
REPLY_CODES = {"unknown_gun": "gun_not_found", "not_plugged": "not_plugged", "busy": "gun_busy",
               "faulted": "gun_faulted", "unavailable": "gun_faulted", "blocked_by_load": "blocked_by_load",
               "reserved": "reserved", "expired": "start_failed", "invalid": "start_failed"}
# Refusals where another station helps the driver: the answer names the nearest free one.
SUGGEST_NEAREST = frozenset({"blocked_by_load", "station_offline", "gun_busy", "gun_faulted", "reserved"})


class ChargingError(DriverError):
    """A refusal with a stable driver API code; facts may carry `nearest` (a station)."""

    def __init__(self, code: str, detail: str = "", **facts: Any) -> None:
        super().__init__(detail or code, **facts)
        self.code = code


class PaymentNotConfigured(ChargingError):
    def __init__(self, detail: str = "WeChat Pay is not configured") -> None:
        super().__init__("payment_not_configured", detail)


@dataclass(frozen=True)
class ChargingSettings:
    default_hold_fen: int = 10_000
    min_hold_fen: int = 500
    paypw_above_fen: int = 0
    start_timeout_s: float = 10.0
    presets_fen: tuple[int, ...] = (3000, 5000, 10000)

    @classmethod
    def from_settings(cls, c: Mapping[str, Any]) -> ChargingSettings:
        return cls(default_hold_fen=int(c.get("CHARGING_DEFAULT_HOLD_FEN", 10_000)),
                   min_hold_fen=int(c.get("CHARGING_MIN_HOLD_FEN", 500)),
                   paypw_above_fen=int(c.get("CHARGING_PAYMENT_PASSWORD_ABOVE_FEN", 0)),
                   start_timeout_s=float(c.get("CHARGING_START_TIMEOUT_S", c.get("COMMAND_TIMEOUT_S", 10.0))))


# --- pure decisions ---------------------------------------------------------------------------------
def check_limit(limit: Any) -> tuple[str, int]:
    """(mode, value) of a start's `limit` object, or InvalidField."""
    if not isinstance(limit, dict) or set(limit) - {"mode", "value"} or "mode" not in limit:
        raise InvalidField("limit must be {mode, value}", field="limit")
    mode, value = limit["mode"], limit.get("value", 0)
    if not isinstance(mode, str) or mode not in LIMIT_BOUNDS:  # a hashable name, never a 500
        raise InvalidField("limit.mode: amount, energy, time or full", field="limit")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidField("limit.value must be an integer", field="limit")
    low, high = LIMIT_BOUNDS[mode]
    if not low <= value <= high:
        raise InvalidField(f"limit.value for {mode}: {low}..{high}", field="limit")
    return mode, value


DEPARTURE_MAX_MS = 7 * 24 * 3_600_000  # an orderly start plans at most a week ahead
# ... and at least a minute: a departure closer than that has passed by the time the start
# reaches the gateway, which refuses it (the driver got start_failed, not this 400)
DEPARTURE_MIN_MS = 60_000


def check_departure(departure_at: Any, mode: str, now: int) -> int | None:
    """Orderly charging ("charge until departure"): the departure (epoch ms) of a start, or
    None. It goes with an energy limit (the energy wanted by then) and lies ahead, within a
    week; else InvalidField."""
    if departure_at is None:
        return None
    if isinstance(departure_at, bool) or not isinstance(departure_at, int):
        raise InvalidField("departure_at must be a time in epoch milliseconds", field="departure_at")
    if mode != "energy":
        raise InvalidField("departure_at goes with limit mode energy: the energy wanted by then",
                           field="departure_at")
    if not now + DEPARTURE_MIN_MS <= departure_at <= now + DEPARTURE_MAX_MS:
        raise InvalidField("departure_at must lie at least a minute ahead, within a week", field="departure_at")
    return departure_at


def energy_for_fen(fen: int, energy_price_e4: int, service_price_e4: int) -> int | None:
    """The most whole Wh whose bill at one period's prices is within `fen`: electricity and
    service each rounded half up once, as jcproto bills them (and as a start by amount stops).
    None for a free period (no limit from the money)."""
    total = energy_price_e4 + service_price_e4
    if total <= 0:
        return None

    def within(wh: int) -> bool:
        return fen_e4(wh, energy_price_e4) + fen_e4(wh, service_price_e4) <= fen

    # each line is at most half a fen below its exact value, so past `hi` the bill is over fen
    return largest_true(within, (fen + 1) * E4_DIVISOR // total + 1)


def hold_for(mode: str, value: int, available_fen: int, settings: ChargingSettings) -> int:
    """The hold of a wallet start (module docstring); InsufficientFunds-like refusal as
    ChargingError('insufficient_balance')."""
    if mode == "amount":
        if available_fen < value:
            raise ChargingError("insufficient_balance", f"needs {value} fen, has {available_fen}",
                                needed_fen=value, available_fen=max(0, available_fen))
        return value
    hold = min(settings.default_hold_fen, available_fen)
    if hold < settings.min_hold_fen:
        raise ChargingError("insufficient_balance", f"needs {settings.min_hold_fen} fen, has {available_fen}",
                            needed_fen=settings.min_hold_fen, available_fen=max(0, available_fen))
    return hold


def gun_refusal(online: bool, level: str | None, entry: dict[str, Any] | None) -> str | None:
    """Why the gun cannot start now by the station's last word, or None (the gateway decides
    the rest)."""
    if not online:
        return "station_offline"
    if entry is not None:
        state = entry.get("state")
        if state in ("faulted", "unavailable"):
            return "gun_faulted"
        if state == "reserved":
            return "reserved"
        if stations.has_session(entry) or state in ("charging", "suspended_ev", "suspended_evse", "finishing"):
            return "gun_busy"
        if state == "available":
            return "not_plugged"
    if level in ("blocked", "failsafe"):
        return "blocked_by_load"
    return None


# SQLite's write lock before a read that leads to a write (cloud/db.py take_write_lock).
write_lock = take_write_lock


def new_order_id() -> str:
    return "o" + secrets.token_hex(12)


# --- start -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Target:
    sid: str
    gun: str
    tariff: dict[str, Any]
    tariff_id: str
    tariff_version: int | None
    reservation_id: str | None = None  # the driver's own reservation of the gun, used by this start


def _refuse(s: Session, code: str, sid: str | None, detail: str = "", gun: str | None = None,
            driver_id: str | None = None) -> ChargingError:
    nearest = stations.nearest_free(s, sid) if sid and code in SUGGEST_NEAREST else None
    if code == "reserved" and sid and gun:
        # a reserved gun: first another free gun of the same station (not a private pile closed
        # to this driver), then the nearest station
        other = reservations.suggest_gun(
            s, sid, gun, accept=lambda g: sharing.refusal(s, sid, g, driver_id) is None)
        return ChargingError(code, detail, nearest=nearest, nearest_gun=other)
    if code in SUGGEST_NEAREST:
        return ChargingError(code, detail, nearest=nearest)
    return ChargingError(code, detail)


def _target(s: Session, gun_code: str, driver_id: str | None = None) -> _Target:
    """The gun to start on, or the refusal. A gun reserved in the cloud starts only for its
    reservation's driver (`driver_id`); the gateway then starts with the reservation's tag."""
    gun = stations.gun_by_code(s, gun_code)
    if gun is None:
        raise ChargingError("gun_not_found", f"no gun with code {gun_code!r}")
    st = s.get(StationState, gun.sid)
    telemetry = st.telemetry if st else None
    held = reservations.holder(s, gun.sid, gun.gun_id)
    if held is not None and held[1] != driver_id:
        raise _refuse(s, "reserved", gun.sid, f"{gun.gun_id} is reserved for another driver", gun.gun_id,
                      driver_id)
    shared = sharing.refusal(s, gun.sid, gun.gun_id, driver_id) if held is None else None
    if shared:  # a shared pile closed or outside its hours (the owner always may; so may the
        # holder of a reservation the pile admitted, for its time: docs/sharing.md)
        raise ChargingError(shared, f"{gun.gun_id} is a shared pile not open to others now")
    entry = stations.live_gun(s, gun.sid, gun.gun_id)
    if entry is not None and entry.get("state") == "reserved" and (held is not None or reservations.pile_hold_is_over(
            s, gun.sid, gun.gun_id, st.telemetry_ts if st else None)):
        # the holder's own reservation, or one of ours that is over and that the gateway
        # releases before starting: whether a car is plugged, the gateway decides
        entry = None
    why = gun_refusal(bool(st and st.online), stations.load_level(telemetry), entry)
    if why:
        raise _refuse(s, why, gun.sid, gun=gun.gun_id)
    tariff = tariffs.in_force(s, gun.sid, now_ms())
    if tariff is None:
        raise ChargingError("tariff_missing", f"station {gun.sid} has no tariff in force")
    row = tariffs.get(s, tariff.id)
    return _Target(gun.sid, gun.gun_id, tariff.to_dict(), tariff.id, row.version if row else None,
                   held[0] if held is not None else None)


def _running(s: Session, driver_id: str) -> Order | None:
    return s.scalar(select(Order).where(Order.driver_id == driver_id, Order.state.in_(RUNNING))
                    .order_by(Order.created_at.desc()).limit(1))


def _available(b: ledger.Balances) -> int:
    return b.available - b.debt


def has_payment_password(s: Session, driver_id: int) -> bool:
    from cloud.drivers.models import PaymentPassword

    return s.get(PaymentPassword, driver_id) is not None


def start_order(transactions: Transactions, send: Send, *, driver_id: int, gun_code: str, limit: Any,
                pay: str = "wallet", payment_password: Any = None, settings: ChargingSettings,
                verify_password: Callable[[Any], None] | None = None, departure_at: Any = None,
                pay_channel: Any = None, client_ip: str | None = None) -> dict[str, Any]:
    """Start charging on the gun `gun_code` for `driver_id`; returns the order's view (with
    `pay_params` for a pay-per-session start). Raises ChargingError (codes of the driver API),
    InvalidField, or the drivers' payment password errors. `verify_password(pw)` checks the
    password under the lockout (cloud.drivers.service.verify_payment_password). With
    `departure_at` (and an energy limit) the station plans the session into the cheapest
    periods before the departure (orderly charging, docs/load-control.md). `pay_channel`
    (pay "wechat" only) is how the driver pays the session: cloud.wallet.service.CHANNELS;
    `client_ip` is the payer's address an "h5" payment needs."""
    if not isinstance(gun_code, str) or not gun_code or len(gun_code) > 64:
        raise InvalidField("gun_code must be the code the gun's QR carries", field="gun_code")
    mode, value = check_limit(limit)
    departure = check_departure(departure_at, mode, now_ms())
    if pay not in ("wallet", "wechat"):
        raise InvalidField("pay: wallet or wechat", field="pay")
    if payment_password is not None and not isinstance(payment_password, str):
        raise InvalidField("payment_password must be a string of six digits", field="payment_password")
    did = str(driver_id)
    if pay_channel is not None and pay != "wechat":
        raise InvalidField("pay_channel goes with pay: wechat", field="pay_channel")
    if pay == "wechat":
        return _start_prepay(transactions, did, gun_code, mode, value, settings, departure, pay_channel, client_ip)
    with transactions() as s:
        _target(s, gun_code, did)
        if _running(s, did) is not None:
            raise ChargingError("order_in_progress", "the driver has a running order")
        estimate = hold_for(mode, value, _available(ledger.balances(s, did)), settings)
        needs_pw = has_payment_password(s, driver_id) and estimate > settings.paypw_above_fen
    if needs_pw:
        if payment_password is None:
            raise ChargingError("payment_password_required", "this start needs the payment password")
        if verify_password is None:
            raise ChargingError("payment_password_required", "no way to check the payment password")
        verify_password(payment_password)
    order_id = new_order_id()
    with transactions() as s:
        write_lock(s)
        target = _target(s, gun_code, did)
        balances = ledger.lock_driver(s, did)  # one start per driver at a time from here
        if _running(s, did) is not None:
            raise ChargingError("order_in_progress", "the driver has a running order")
        hold = hold_for(mode, value, _available(balances), settings)
        if needs_pw is False and has_payment_password(s, driver_id) and hold > settings.paypw_above_fen:
            raise ChargingError("payment_password_required", "this start needs the payment password")
        try:
            orders.create(s, order_id=order_id, driver_id=did, sid=target.sid, gun=target.gun,
                          limit_mode=mode, limit_value=value, hold_fen=hold, tariff_id=target.tariff_id,
                          tariff_version=target.tariff_version)
        except InsufficientFunds:
            raise ChargingError("insufficient_balance", "the balance changed meanwhile") from None
        s.get(Order, order_id).departure_at = departure
        orders.apply(s, order_id, Event.START_SENT)
    _send_start(transactions, send, order_id, target)
    with transactions() as s:
        return order_view(s, driver_id, order_id)


def _send_start(transactions: Transactions, send: Send, order_id: str, target: _Target) -> None:
    """Publish the start of a committed `starting` order and move it by the reply."""
    from cloud.commands import CommandPublishError, CommandTimeout

    with transactions() as s:
        o = orders.get(s, order_id)
        assert o is not None
        payload = {"gun": o.gun, "order_id": o.order_id, "limit": {"mode": o.limit_mode, "value": o.limit_value},
                   "tariff": target.tariff}
        if o.departure_at is not None:
            payload["departure_at"] = o.departure_at
    try:
        reply = send(target.sid, "start", payload)
    except CommandTimeout:
        log.warning("start of order %s: no reply from %s in time; the order stays starting", order_id, target.sid)
        return
    except (CommandPublishError, ProtocolError, OSError) as e:
        # never reached the broker (down, refused, its certificate files missing): nothing can run
        log.warning("start of order %s not published: %s", order_id, e)
        _fail(transactions, order_id, Event.START_EXPIRED)
        raise ChargingError("start_failed", f"the broker did not take the start: {e}") from None
    if reply.ok:
        session_id = (reply.detail or {}).get("session_id")
        with transactions() as s:
            try:
                orders.apply(s, order_id, Event.START_ACCEPTED,
                             session_id=session_id if isinstance(session_id, str) else None)
            except IllegalTransition:
                pass  # the session's records moved it further already
            if target.reservation_id is not None:
                reservations.on_started(s, target.reservation_id, order_id)
        return
    error = reply.error.value if reply.error is not None else "invalid"
    code = REPLY_CODES.get(error, "start_failed")
    _fail(transactions, order_id, Event.START_REFUSED)
    with transactions() as s:
        raise _refuse(s, code, target.sid, f"the station refused the start: {error}")


def _fail(transactions: Transactions, order_id: str, event: Event) -> None:
    with transactions() as s:
        try:
            o = orders.apply(s, order_id, event)
        except IllegalTransition:
            return
        if o.funding == "prepay":
            _refund_prepay_rest(s, order_id)


def _refund_prepay_unstarted(s: Session, p: ChargingPrepay) -> None:
    from cloud.wallet import service as wallet  # type: ignore[import-not-found, unused-ignore]

    wallet.refund_prepay_unstarted(s, p.order_id, p.hold_fen)


def _refund_prepay_rest(s: Session, order_id: str) -> None:
    try:
        from cloud.wallet import service as wallet  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        log.error("order %s: prepaid but cloud.wallet is absent; its money stays in the wallet", order_id)
        return
    wallet.refund_prepay_rest(s, order_id)


# A reply arriving this long after its command's expiry is not expected: the gateway refuses a
# command past `expires_at`, so only a reply already in flight can still come.
START_GRACE_MS = 60_000


def follow_start(s: Session, order_id: str, *, now: int | None = None, grace_ms: int = START_GRACE_MS) -> None:
    """Bring a `starting` order up to what its start command came to after the sender
    stopped waiting: a late reply (accepted: the session id; refused: `failed`, the hold
    back), or, its command expired unanswered more than `grace_ms` ago and no session seen,
    `failed` (START_EXPIRED). Called when the driver looks at the order, and fit for a job."""
    t = now_ms() if now is None else now
    write_lock(s)
    o = s.get(Order, order_id)
    if o is None or o.state != State.STARTING.value:
        return
    from cloud.models import CommandLog

    cmd = next((c for c in s.scalars(select(CommandLog).where(
        CommandLog.sid == o.sid, CommandLog.type == "start", CommandLog.created_at >= o.created_at)
        .order_by(CommandLog.created_at)) if (c.payload or {}).get("order_id") == o.order_id), None)
    if cmd is None:
        return
    if cmd.replied_at is not None:
        if cmd.ok:
            sid_ = (cmd.detail or {}).get("session_id")
            if o.session_id is None and isinstance(sid_, str):
                orders.apply(s, o.order_id, Event.START_ACCEPTED, session_id=sid_)
            reservations.use_by_order(s, o.order_id, t)  # the holder's start used the reservation
            return
        orders.apply(s, o.order_id, Event.START_REFUSED)
    elif t > cmd.expires_at + grace_ms and o.session_id is None and s.scalar(
            select(ChargingSession.session_id).where(ChargingSession.order_id == o.order_id).limit(1)) is None:
        orders.apply(s, o.order_id, Event.START_EXPIRED)
    else:
        return
    if o.funding == "prepay":
        _refund_prepay_rest(s, o.order_id)


# --- pay per session -----------------------------------------------------------------------------------
def _start_prepay(transactions: Transactions, did: str, gun_code: str, mode: str, value: int,
                  settings: ChargingSettings, departure_at: int | None = None, pay_channel: Any = None,
                  client_ip: str | None = None) -> dict[str, Any]:
    """A start paid by one WeChat payment: the terms wait in charging_prepays; the wallet's
    paid callback calls on_prepay_paid, which makes the order with its hold and sends the
    start. The payment is the hold plus any debt (collected first, as for every order)."""
    try:
        from cloud.wallet import service as wallet  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        raise PaymentNotConfigured("cloud.wallet is not installed") from None
    ch = wallet.channel(pay_channel, wallet._settings_here(), client_ip)  # checked before anything is made
    hold = value if mode == "amount" else settings.default_hold_fen
    order_id = new_order_id()
    with transactions() as s:
        write_lock(s)
        target = _target(s, gun_code, did)
        b = ledger.lock_driver(s, did)
        if _running(s, did) is not None:
            raise ChargingError("order_in_progress", "the driver has a running order")
        s.add(ChargingPrepay(order_id=order_id, driver_id=did, sid=target.sid, gun=target.gun, limit_mode=mode,
                             limit_value=value, hold_fen=hold, amount_fen=hold + b.debt, state="pending",
                             created_at=now_ms(), departure_at=departure_at))
        s.flush()
        try:
            pay_params = wallet.create_prepay(s, int(did), order_id, hold + b.debt, ch=ch)
        except Exception as e:
            # the wallet's "WeChat Pay is not set up" error, whatever its class: 503, no order
            if getattr(e, "code", None) in ("payment_not_configured", "wechatpay_not_configured") \
                    or "NotConfigured" in type(e).__name__:
                raise PaymentNotConfigured(str(e)) from None
            raise
    view = prepay_view(transactions, did, order_id)
    # how to pay: the signed parameters (channels jsapi, oa_jsapi) or the provider's page (h5)
    view.update({k: pay_params[k] for k in ("channel", "pay_params", "h5_url") if k in pay_params})
    return view


_pending_sends = threading.local()


def on_prepay_paid(s: Session, order_id: str) -> None:
    """PAID_HANDLERS["session"]: the payment of a prepaid start is in (credited as cash in this
    transaction): make the order with its hold and send the start once this commits. A start
    that may not be made now (the driver started another order meanwhile, the pile closed, no
    price, the gun reserved for another, the money short, paid past its window) is
    cancelled and the payment goes back to WeChat: it paid for that session, not a top-up."""
    p = s.get(ChargingPrepay, order_id, with_for_update=s.get_bind().dialect.name == "postgresql")
    if p is None or p.state != "pending":
        return
    ledger.lock_driver(s, p.driver_id)
    if _paid_too_late(s, order_id, now_ms()):
        # heard of only past its payment window (a notification delayed by an outage, or the
        # reconcile job): the driver has long since seen the start lapse and may have left;
        # a session now could charge whoever is plugged in
        log.warning("prepaid order %s: paid past its window; no start, the payment is refunded", order_id)
        _turn_down(s, p)
        return
    held = reservations.holder(s, p.sid, p.gun)
    own = held is not None and held[1] == p.driver_id  # a reservation the pile admitted holds for its time
    if _running(s, p.driver_id) is not None or (not own and sharing.refusal(s, p.sid, p.gun, p.driver_id)):
        # another order of the driver's runs, or a shared pile closed or is out of its hours
        # while the driver paid: no start, the payment goes back to WeChat
        _turn_down(s, p)
        return
    tariff = tariffs.in_force(s, p.sid, now_ms())
    if tariff is None or (held is not None and held[1] != p.driver_id):
        # no price, or the gun was reserved for another driver meanwhile
        _turn_down(s, p)
        return
    row = tariffs.get(s, tariff.id)
    try:
        # paid by its own payment (cash): a hold taking bonus first would leave that cash
        # behind, refundable, and turn the bonus into a WeChat refund
        o = orders.create(s, order_id=order_id, driver_id=p.driver_id, sid=p.sid, gun=p.gun,
                          limit_mode=p.limit_mode, limit_value=p.limit_value, hold_fen=p.hold_fen,
                          tariff_id=tariff.id, tariff_version=row.version if row else None, cash_only=True)
    except InsufficientFunds:
        _turn_down(s, p)
        return
    o.funding = "prepay"
    o.departure_at = p.departure_at
    orders.apply(s, order_id, Event.START_SENT)
    p.state = "paid"
    s.flush()
    target = _Target(p.sid, p.gun, tariff.to_dict(), tariff.id, row.version if row else None,
                     held[0] if held is not None else None)
    _after_commit(s, order_id, target)


# How long after its payment's expiry a prepaid start may still be made: WeChat refuses to
# take a payment past its `time_expire`, so one heard of after that was paid in time but reached
# us late; the first retries of WeChat's notification (15 s, 15 s, 30 s, 3 min) fit in this.
PREPAY_LATE_GRACE_MS = 5 * 60_000


def _paid_too_late(s: Session, order_id: str, now: int) -> bool:
    from cloud.wallet.models import WalletPayment  # type: ignore[import-not-found, unused-ignore]

    expires = s.scalar(select(func.max(WalletPayment.expires_at)).where(
        WalletPayment.order_id == order_id, WalletPayment.purpose == "session", WalletPayment.state == "paid"))
    return expires is not None and now > expires + PREPAY_LATE_GRACE_MS


def _prepay_lapsed(s: Session, order_id: str) -> bool:
    """A pending prepay none of whose payments can still be paid (each closed: expired
    unpaid, or never opened at the provider)."""
    from cloud.wallet.models import WalletPayment  # type: ignore[import-not-found, unused-ignore]

    states = set(s.scalars(select(WalletPayment.state).where(WalletPayment.order_id == order_id,
                                                              WalletPayment.purpose == "session")))
    return bool(states) and states <= {"closed"}


def _turn_down(s: Session, p: ChargingPrepay) -> None:
    """A paid start that is not made: cancelled, its payment refunded to WeChat once."""
    p.state = "cancelled"
    s.flush()
    _refund_prepay_unstarted(s, p)


def _after_commit(s: Session, order_id: str, target: _Target) -> None:
    """Send the start in a thread once `s` commits (never before: the order must exist for
    the station's records), in the Flask app of the caller."""
    from flask import current_app
    from sqlalchemy import event

    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def run() -> None:
        from cloud.commands import send_command
        from cloud.db import db

        with app.app_context():
            settings = ChargingSettings.from_settings(app.config)
            try:
                _send_start(db.transaction, lambda sid, t, p: send_command(sid, t, p, timeout=settings.start_timeout_s),
                            order_id, target)
            except ChargingError as e:
                log.warning("prepaid order %s: start refused: %s", order_id, e.code)
            except Exception:
                log.exception("prepaid order %s: start failed", order_id)

    def started(_session: Session) -> None:
        t = threading.Thread(target=run, name=f"start-{order_id}", daemon=True)
        t.start()
        STARTS[:] = [x for x in STARTS if x.is_alive()]  # only the ones still running are kept
        STARTS.append(t)

    event.listen(s, "after_commit", started, once=True)


STARTS: list[threading.Thread] = []  # prepaid orders' starts still running (tests join them)


def prepay_view(transactions: Transactions, did: str, order_id: str) -> dict[str, Any]:
    with transactions() as s:
        p = s.get(ChargingPrepay, order_id)
        assert p is not None and p.driver_id == did
        return _prepay_dict(s, p)


def _prepay_dict(s: Session, p: ChargingPrepay) -> dict[str, Any]:
    gun, st = s.get(Gun, (p.sid, p.gun)), s.get(Station, p.sid)
    lapsed = p.state == "pending" and _prepay_lapsed(s, p.order_id)
    state = "cancelled" if p.state == "cancelled" or lapsed else "created"
    refund = None
    if p.state == "cancelled":  # a paid start turned down: what went back to WeChat
        from cloud.wallet.models import WalletRefund  # type: ignore[import-not-found, unused-ignore]

        refund = s.scalar(select(WalletRefund.amount_fen).where(WalletRefund.key == f"prepay:{p.order_id}"))
    return {"order_id": p.order_id, "state": state, "sid": p.sid, "station_name": st.name if st else None,
            "gun": p.gun, "gun_code": gun.code if gun else None,
            "limit": {"mode": p.limit_mode, "value": p.limit_value}, "pay": "wechat",
            "departure_at": p.departure_at, "orderly": None,
            "hold_fen": p.hold_fen, "created_at": p.created_at, "started_at": None, "ended_at": None,
            "duration_s": None, "stop_reason": None, "energy_wh": None, "power_w": None, "soc": None,
            "cost_fen": None, "lines": [], "idle_fen": None, "total_fen": None, "debt_fen": None,
            "refund_fen": refund, "abnormal_reason": None, "rating": None, "updated_at": p.created_at}


# --- follow, stop, rate ---------------------------------------------------------------------------------
def _own(s: Session, driver_id: int, order_id: Any) -> Order:
    if not isinstance(order_id, str) or len(order_id) > 64:
        raise ChargingError("not_found", "no such order")
    o = s.get(Order, order_id)
    if o is None or o.driver_id != str(driver_id):
        raise ChargingError("not_found", "no such order")  # someone else's is as missing
    return o


def _session_of(s: Session, o: Order) -> ChargingSession | None:
    if o.session_id:
        row = s.get(ChargingSession, o.session_id)
        if row is not None:
            return row
    return s.scalar(select(ChargingSession).where(ChargingSession.order_id == o.order_id)
                    .order_by(ChargingSession.started_at.desc()).limit(1))


def _view(s: Session, o: Order, now: int) -> dict[str, Any]:
    sess = _session_of(s, o)
    st, gun = s.get(Station, o.sid), s.get(Gun, (o.sid, o.gun))
    live = None
    if sess is not None and sess.status == "running" and o.state in RUNNING:
        live = stations.live_gun(s, o.sid, o.gun)
    rating = s.get(OrderRating, o.order_id)
    return _view_of(o, sess, st.name if st else None, gun.code if gun else None, live,
                    [(ln.kind, ln.period, ln.energy_wh, ln.fen) for ln in orders.lines_of(s, o.order_id)],
                    (rating.stars, rating.comment) if rating else None, now)


def _view_of(o: Any, sess: Any, station_name: str | None, gun_code: str | None, live: dict[str, Any] | None,
             bill: list[tuple[str, str | None, int | None, int]], rating: tuple[int, str | None] | None,
             now: int) -> dict[str, Any]:
    """The order view from what was read (ORM objects or Core rows alike): `sess` its
    charging session or None, `live` the gun's latest telemetry entry, `bill` its lines
    (kind, period, energy_wh, fen), `rating` (stars, comment) or None."""
    energy = power = soc = cost = None
    started = ended = None
    stop_reason = None
    if sess is not None:
        last = sess.energy_stop_wh if sess.energy_stop_wh is not None else sess.energy_wh
        if last is not None and sess.energy_start_wh is not None:
            energy = max(0, last - sess.energy_start_wh)
        power, soc, cost = sess.power_w, sess.soc, sess.cost_fen
        started, ended, stop_reason = sess.started_at, sess.ended_at, sess.stop_reason
        if sess.status == "running" and o.state in RUNNING:
            live = live or {}
            if live.get("session_id") in (None, sess.session_id) and isinstance(live.get("power_w"), int):
                power = live["power_w"]
            if isinstance(live.get("soc"), int):
                soc = live["soc"]
        else:
            power = 0
    lines = [{"kind": k, "period": p, "energy_wh": wh, "fen": fen} for k, p, wh, fen in bill]
    settled = o.state == State.SETTLED.value
    idle = sum(ln["fen"] for ln in lines if ln["kind"] == "idle") if settled else None
    if settled:
        cost = o.total_fen
    refund = None
    if o.funding == "prepay" and o.state in (State.SETTLED.value, State.FAILED.value, State.CANCELLED.value):
        refund = max(0, o.hold_fen - (o.total_fen or 0))
    return {
        "order_id": o.order_id, "state": o.state, "sid": o.sid, "station_name": station_name or o.sid,
        "gun": o.gun, "gun_code": gun_code,
        "limit": {"mode": o.limit_mode, "value": o.limit_value},
        "departure_at": o.departure_at, "orderly": _orderly_view(sess.orderly if sess is not None else None),
        "pay": "wechat" if o.funding == "prepay" else "wallet", "hold_fen": o.hold_fen,
        "created_at": o.created_at, "started_at": started, "ended_at": ended,
        "duration_s": duration_s(o.state, started, ended, now),
        "stop_reason": stop_reason, "energy_wh": energy, "power_w": power, "soc": soc, "cost_fen": cost,
        "lines": lines, "idle_fen": idle, "total_fen": o.total_fen, "debt_fen": o.debt_fen, "refund_fen": refund,
        "abnormal_reason": o.abnormal_reason,
        "rating": {"stars": rating[0], "comment": rating[1]} if rating else None,
        "updated_at": o.updated_at,
    }


def duration_s(state: str, started: int | None, ended: int | None, now: int) -> int | None:
    """Seconds charged: to the end, or while charging to `now` (the one clock-bound figure)."""
    end = ended or (now if state == State.CHARGING.value else None)
    return max(0, (end - started) // 1000) if started and end else None


def _orderly_view(raw: Any) -> dict[str, Any] | None:
    """How the station's plan for an orderly session stands, as its newest record said:
    status (on_track, cannot_meet, done, past_departure), the energy wanted, the energy
    expected by the departure, when it should finish, what the car takes as the station
    learned it (None while not known, and from records before the field). The clients word it."""
    if not isinstance(raw, dict) or raw.get("status") not in ("on_track", "cannot_meet", "done", "past_departure"):
        return None
    return {"status": raw["status"], "energy_wh": raw.get("energy_wh"), "expected_wh": raw.get("expected_wh"),
            "finish_at": raw.get("finish_at"), "departure_at": raw.get("departure_at"),
            "acceptance_w": raw.get("acceptance_w")}


# --- the progress poll: Core reads, two statements ------------------------------------------------
_O, _S = Order.__table__, ChargingSession.__table__
_ST, _GUN, _SS, _RT = Station.__table__, Gun.__table__, StationState.__table__, OrderRating.__table__
_S_BY_ORDER = _S.alias("s_by_order")
_S_NAMED = _S.alias("s_named")
# the order's session as _session_of picks it: the one it names if that row exists, else
# the order's latest by start
_SESSION_ID = func.coalesce(
    select(_S_NAMED.c.session_id).where(_S_NAMED.c.session_id == _O.c.session_id).scalar_subquery(),
    select(_S_BY_ORDER.c.session_id).where(_S_BY_ORDER.c.order_id == _O.c.order_id)
    .order_by(_S_BY_ORDER.c.started_at.desc()).limit(1).scalar_subquery())
_POLL = (
    select(*[c.label("o_" + c.name) for c in _O.c], *[c.label("s_" + c.name) for c in _S.c],
           _ST.c.name.label("station_name"), _GUN.c.code.label("gun_code"), _SS.c.telemetry,
           _RT.c.stars, _RT.c.comment)
    .select_from(_O.outerjoin(_S, _S.c.session_id == _SESSION_ID)
                 .outerjoin(_ST, _ST.c.sid == _O.c.sid)
                 .outerjoin(_GUN, and_(_GUN.c.sid == _O.c.sid, _GUN.c.gun_id == _O.c.gun))
                 .outerjoin(_SS, _SS.c.sid == _O.c.sid)
                 .outerjoin(_RT, _RT.c.order_id == _O.c.order_id)))
_O_KEYS = [(c.name, "o_" + c.name) for c in _O.c]
_S_KEYS = [(c.name, "s_" + c.name) for c in _S.c]
_OL = OrderLine.__table__
# The poll's statements are built once, with bound parameters, and run as Core on the ORM
# session's connection: SQLAlchemy memoises a statement object's cache key, so a statement
# made anew per request (`.where(… == value)`) had its whole tree walked for the compiled-
# SQL cache every time — with the ORM execution layer, a third of the poll's CPU (py-spy,
# bench/RESULTS.md "Driver API under load").
_POLL_BY_ID = _POLL.where(_O.c.order_id == bindparam("order_id"))
_POLL_CURRENT = (_POLL.where(_O.c.driver_id == bindparam("driver_id"), _O.c.state.in_(sorted(RUNNING)))
                 .order_by(_O.c.created_at.desc()).limit(1))
_LINES = (select(_OL.c.kind, _OL.c.period, _OL.c.energy_wh, _OL.c.fen)
          .where(_OL.c.order_id == bindparam("order_id")).order_by(_OL.c.n))


class _Rec:
    """Attribute access over one side of a joined row (what _view_of reads)."""

    def __init__(self, m: Mapping[str, Any], keys: list[tuple[str, str]]) -> None:
        self.__dict__.update({name: m[label] for name, label in keys})


def _poll_view(s: Session, row: Any, now: int) -> dict[str, Any]:
    # bill lines are booked only by a settling transition, whose target is `settled`, which
    # nothing leaves (cloud/orders/machine.py; tests/charging/test_poll_statements.py): any
    # other order has none, and the poll of a running order skips the query
    m = row._mapping
    bill = ([tuple(r) for r in s.connection().execute(_LINES, {"order_id": m["o_order_id"]})]
            if m["o_state"] == State.SETTLED.value else [])
    return row_view(row, now, bill)  # type: ignore[arg-type]


def row_view(row: Any, now: int, bill: list[tuple[str, str | None, int | None, int]]) -> dict[str, Any]:
    """The view from a _POLL row and the order's bill lines (cloud/charging/progress.py
    builds its snapshot with it)."""
    m = row._mapping
    o = _Rec(m, _O_KEYS)
    sess = _Rec(m, _S_KEYS) if m["s_session_id"] is not None else None
    live = None
    if sess is not None and sess.status == "running" and o.state in RUNNING:
        live = stations.gun_entry(m["telemetry"], o.gun)
    rating = (m["stars"], m["comment"]) if m["stars"] is not None else None
    return _view_of(o, sess, m["station_name"], m["gun_code"], live, bill, rating, now)  # type: ignore[arg-type]


def order_view(s: Session, driver_id: int, order_id: Any, now: int | None = None) -> dict[str, Any]:
    """The driver's own order: live figures while charging, the bill after. ChargingError
    `not_found` for a missing order and for another driver's alike."""
    if isinstance(order_id, str) and len(order_id) <= 64:
        row = s.connection().execute(_POLL_BY_ID, {"order_id": order_id}).first()
        if row is not None:
            if row.o_driver_id != str(driver_id):
                raise ChargingError("not_found", "no such order")  # someone else's is as missing
            return _poll_view(s, row, now_ms() if now is None else now)
    if isinstance(order_id, str) and len(order_id) <= 64 and s.get(Order, order_id) is None:
        p = s.get(ChargingPrepay, order_id)
        if p is not None and p.driver_id == str(driver_id):
            return _prepay_dict(s, p)  # a pay-per-session start still waiting for its payment
    o = _own(s, driver_id, order_id)
    return _view(s, o, now_ms() if now is None else now)


def list_orders(s: Session, driver_id: int, *, limit: int = 20, before: int | None = None) -> list[dict[str, Any]]:
    q = select(Order).where(Order.driver_id == str(driver_id))
    if before is not None:
        q = q.where(Order.created_at < before)
    now = now_ms()
    rows = s.scalars(q.order_by(Order.created_at.desc(), Order.order_id.desc()).limit(limit))
    return [_view(s, o, now) for o in rows]


def current(s: Session, driver_id: int) -> dict[str, Any] | None:
    row = s.connection().execute(_POLL_CURRENT, {"driver_id": str(driver_id)}).first()
    return None if row is None else _poll_view(s, row, now_ms())


def stop_order(transactions: Transactions, send: Send, *, driver_id: int, order_id: Any) -> dict[str, Any]:
    """Ask the station to stop the driver's running order; the order ends by the session's
    records (a stop the station did not answer in time is still on its way)."""
    from cloud.commands import CommandPublishError, CommandTimeout

    with transactions() as s:
        o = _own(s, driver_id, order_id)
        if o.state not in (State.STARTING.value, State.CHARGING.value):
            raise ChargingError("order_not_running", f"order is {o.state}")
        sess = _session_of(s, o)
        session_id = o.session_id or (sess.session_id if sess else None)
        if session_id is None:
            session_id = _gun_session_of_order(s, o)
        # by gun only with the order named: the gateway stops no session of another's
        payload: dict[str, Any] = (
            {"session_id": session_id} if session_id else {"gun": o.gun, "order_id": o.order_id}
        )
        sid = o.sid
    try:
        reply = send(sid, "stop", payload)
    except CommandTimeout:
        reply = None
    except (CommandPublishError, OSError) as e:
        raise ChargingError("stop_failed", f"the broker did not take the stop: {e}") from None
    if reply is not None and not reply.ok:
        raise ChargingError("stop_failed", f"the station refused the stop: {reply.error}")
    with transactions() as s:
        return order_view(s, driver_id, order_id)


def _gun_session_of_order(s: Session, o: Order) -> str | None:
    """Before a stop by gun (an order with no session known yet): the session the gun's
    latest telemetry shows, if its records say it is this order's; ChargingError
    `order_not_running` if they say it is another's (a stop by gun would end it)."""
    entry = stations.live_gun(s, o.sid, o.gun)
    shown = entry.get("session_id") if entry else None
    if not isinstance(shown, str):
        return None
    row = s.get(ChargingSession, shown)
    if row is None:
        return None  # no record of it yet: nothing says whose it is
    if row.order_id != o.order_id:
        raise ChargingError("order_not_running", f"the gun's session {shown} is not this order's")
    return shown


def rate(transactions: Transactions, *, driver_id: int, order_id: Any, stars: Any, comment: Any = None) -> dict[str, Any]:
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise InvalidField("stars: an integer 1..5", field="stars")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 500):
        raise InvalidField("comment: text of at most 500 characters", field="comment")
    with transactions() as s:
        write_lock(s)
        o = _own(s, driver_id, order_id)
        if o.state != State.SETTLED.value:
            raise ChargingError("order_not_settled", f"order is {o.state}")
        from cloud.db import insert_or_ignore

        added = insert_or_ignore(s, OrderRating.__table__, [{
            "order_id": o.order_id, "driver_id": o.driver_id, "stars": stars,
            "comment": (comment.strip() or None) if comment else None, "created_at": now_ms()}],
            returning=[OrderRating.__table__.c.order_id])
        if not added:
            raise ChargingError("already_rated", "this order is rated already")
        from cloud.charging import progress

        progress.mark(s, [o.order_id])
        return _view(s, o, now_ms())


# Register the pay-per-session handler with the wallet, when it is installed.
try:
    from cloud.wallet.service import PAID_HANDLERS  # type: ignore[import-not-found, unused-ignore]
except ImportError:
    PAID_HANDLERS = None
else:
    PAID_HANDLERS["session"] = on_prepay_paid
