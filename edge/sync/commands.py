"""Commands from the cloud (spec/mqtt-v1.md): each answered once, idempotent by id, refused
when expired. Handlers are registered by decorator, one small function per command type
(the shape of mobilityhouse/ocpp's `@on`):

    @handles("stop")
    async def stop(station, cmd: Stop) -> Reply: ...

A command seen again gets the reply it got the first time, from the store, and is not carried
out twice; a `start` whose reply was lost in a crash is recognised by its order id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from edge.cache import Card, SessionRow
from edge.config import StationConfig
from edge.drivers.base import CommandResult
from edge.drivers.errors import BusError
from edge.gunstate import GunState, StopReason
from edge.loadctl import Policy, PolicyError, rated_kva_from_command
from edge.reservations import (
    ReservationHost,
    cloud_now_ms,
    expire,
    forget,
    remember,
    reservation_for,
    reservation_tag,
    reservations,
)
from edge.sessions import StartError
from jcproto import (
    CancelReservation,
    CancelTariff,
    Command,
    ErrorCode,
    ProtocolError,
    Reply,
    Reserve,
    ResetFault,
    SetAuthList,
    SetConfig,
    SetLoadPolicy,
    SetTariff,
    Start,
    Stop,
    parse_command,
)
from jcproto.codec import encode
from jcproto.tariff import Tariff, TariffError

log = logging.getLogger(__name__)


class OpenSessions(Protocol):
    def session_on(self, gun: str) -> SessionRow | None: ...


class PolicyHolder(Protocol):
    @property
    def policy(self) -> Policy: ...


class ConfigListener(Protocol):
    def config_changed(self, cfg_rev: int) -> None: ...


@runtime_checkable
class CommandHost(ReservationHost, Protocol):
    """What the cloud's commands need of the station: beside the store, guns and piles that
    reservations need, its config (the station id), open sessions, starting and stopping,
    the load policy in force and changing it, and the cloud link to tell of a new config."""

    @property
    def config(self) -> StationConfig: ...

    @property
    def sessions(self) -> OpenSessions: ...

    @property
    def control(self) -> PolicyHolder: ...

    @property
    def rated_kva(self) -> float: ...

    @property
    def sync(self) -> ConfigListener | None: ...

    async def start_session(self, gun_id: str, *, auth: str, **kw: Any) -> dict[str, Any]: ...

    async def stop_gun(self, gun_id: str, reason: StopReason) -> bool: ...

    def set_policy(self, policy: Policy, rated_kva: float | None = None) -> None: ...

    def apply_overrides(self, overrides: dict[str, Any]) -> None: ...


Handler = Callable[[CommandHost, Any], Awaitable[Reply]]
HANDLERS: dict[str, Handler] = {}
REPLY_KEEP_MS = 24 * 3600 * 1000  # a command seen again within a day gets the same answer

_RESULT_ERRORS = {
    CommandResult.NOT_PLUGGED: ErrorCode.NOT_PLUGGED,
    CommandResult.FAULTED: ErrorCode.FAULTED,
    CommandResult.BUSY: ErrorCode.BUSY,
    CommandResult.RESERVED: ErrorCode.RESERVED,
    CommandResult.UNAVAILABLE: ErrorCode.UNAVAILABLE,
    CommandResult.NONE: ErrorCode.UNAVAILABLE,
}


def handles(type_: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[type_] = fn
        return fn
    return register


class CommandProcessor:
    def __init__(self, station: CommandHost, send_reply: Callable[[str], bool]) -> None:
        self.station = station
        self.send_reply = send_reply
        self.handled = 0
        self.refused = 0

    async def handle(self, payload: bytes) -> Reply | None:
        """Carry out one command and send its reply; None when it could not be answered."""
        store = self.station.store
        now = cloud_now_ms()
        try:
            raw = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            log.warning("command is not JSON: dropped")
            return None
        cid = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(cid, str) or not cid:
            log.warning("command without an id: dropped")
            return None
        previous = store.settings.reply_for(cid, now)
        if previous is not None:
            # Seen before: same answer, nothing carried out again.
            log.info("command %s seen again: repeating its reply", cid)
            self.send_reply(json.dumps(previous))
            return Reply.from_dict(previous)
        try:
            cmd = parse_command(raw)
        except ProtocolError as exc:
            self.refused += 1
            return self._finish(Reply.failure(cid, ErrorCode.INVALID, {"message": str(exc)}), now + REPLY_KEEP_MS)
        if cmd.expires_at < now:
            self.refused += 1
            return self._finish(Reply.failure(cid, ErrorCode.EXPIRED, {"expired_at": cmd.expires_at}),
                                now + REPLY_KEEP_MS)
        handler = HANDLERS[cmd.TYPE]
        try:
            reply = await handler(self.station, cmd)
        except Exception as exc:  # noqa: BLE001 — every command gets an answer
            log.exception("command %s (%s) failed", cid, cmd.TYPE)
            reply = Reply.failure(cid, ErrorCode.UNAVAILABLE, {"message": f"the gateway failed: {exc}"})
        self.handled += 1
        return self._finish(reply, max(now, cmd.expires_at) + REPLY_KEEP_MS)

    def _finish(self, reply: Reply, keep_until: int) -> Reply:
        body = reply.to_dict()
        body["sid"] = self.station.config.station.id
        # Remembered durably before it is sent: a redelivered command gets this same answer.
        self.station.store.settings.remember_reply(reply.id, body, keep_until)
        self.send_reply(json.dumps(body))
        return reply


def _fail(cmd: Command, code: ErrorCode, message: str, **detail: Any) -> Reply:
    return Reply.failure(cmd.id, code, {"message": message, **detail})


def _gun(station: CommandHost, cmd: Command, gun: str | None) -> Any:
    if gun is None or gun not in station.guns:
        return None
    return station.guns[gun]


@handles("start")
async def start(station: CommandHost, cmd: Start) -> Reply:
    # A start carried out before a crash, whose reply was lost: same order, same session.
    for row in station.store.sessions.recent(200, gun=cmd.gun):
        if row.order_id == cmd.order_id and row.auth == "remote":
            return Reply.success(cmd.id, {"session_id": row.session_id, "power_cap_w": row.power_cap_w})
    if _gun(station, cmd, cmd.gun) is None:
        return _fail(cmd, ErrorCode.UNKNOWN_GUN, f"no gun {cmd.gun} at this station")
    try:
        tariff = Tariff.from_dict(encode(cmd.tariff))
    except TariffError as exc:
        return _fail(cmd, ErrorCode.INVALID, f"tariff: {exc}")
    # A reservation whose `until` passed before the housekeeping round released it would make
    # the pile refuse this start (`reserved`) while the cloud counts the gun free: release first.
    await expire(station)
    reservation = reservation_for(station, cmd.gun)
    try:
        extra = {"departure_at": cmd.departure_at} if cmd.departure_at is not None else {}
        detail = await station.start_session(cmd.gun, auth="remote", order_id=cmd.order_id, limit=cmd.limit,
                                             tariff=tariff, tag=reservation["tag"] if reservation else None,
                                             **extra)
    except StartError as exc:
        # The reply's codes are the protocol's closed list; a refusal of the gateway's own
        # (no_tariff) goes out as `invalid` with the reason in the detail.
        known = exc.code in ErrorCode._value2member_map_
        return _fail(cmd, ErrorCode(exc.code) if known else ErrorCode.INVALID, str(exc), reason=exc.code)
    if reservation:
        forget(station, reservation["reservation_id"])
    return Reply.success(cmd.id, detail)


@handles("stop")
async def stop(station: CommandHost, cmd: Stop) -> Reply:
    gun = cmd.gun
    if cmd.session_id is not None:
        row = station.store.sessions.get(cmd.session_id)
        if row is None:
            return _fail(cmd, ErrorCode.INVALID, f"no session {cmd.session_id} at this station")
        if row.state == "ended":
            return Reply.success(cmd.id, {"session_id": row.session_id, "already_ended": True})
        gun = row.gun
    if _gun(station, cmd, gun) is None:
        return _fail(cmd, ErrorCode.UNKNOWN_GUN, f"no gun {gun} at this station")
    row = station.sessions.session_on(gun)
    if row is None:
        return _fail(cmd, ErrorCode.INVALID, f"{gun} has no session to stop")
    if cmd.session_id is None and cmd.order_id is not None and row.order_id != cmd.order_id:
        # the order's start may not have reached the pile: whatever runs there is someone else's
        return _fail(cmd, ErrorCode.INVALID, f"the session on {gun} is not order {cmd.order_id}'s",
                     reason="not_this_order")
    if not await station.stop_gun(gun, StopReason.REMOTE):
        return _fail(cmd, ErrorCode.UNAVAILABLE, f"{gun}: the pile did not take the stop")
    return Reply.success(cmd.id, {"session_id": row.session_id})


@handles("reserve")
async def reserve(station: CommandHost, cmd: Reserve) -> Reply:
    gun = _gun(station, cmd, cmd.gun)
    if gun is None:
        return _fail(cmd, ErrorCode.UNKNOWN_GUN, f"no gun {cmd.gun} at this station")
    if cmd.until <= cloud_now_ms():
        return _fail(cmd, ErrorCode.INVALID, "`until` is in the past")
    await expire(station)  # one whose time is up still holds the pile until released
    other = reservation_for(station, cmd.gun)
    if other and other["reservation_id"] != cmd.reservation_id:
        return _fail(cmd, ErrorCode.RESERVED, f"{cmd.gun} is reserved until {other['until']}")
    tag = reservation_tag(cmd.reservation_id)
    try:
        result = await station.piles[gun.pile_id].driver.reserve(gun.n, tag)
    except BusError as exc:
        return _fail(cmd, ErrorCode.UNAVAILABLE, f"{cmd.gun}: {exc}")
    if not result.ok:
        return _fail(cmd, _RESULT_ERRORS.get(result, ErrorCode.UNAVAILABLE), f"{cmd.gun}: the pile refused: {result.value}")
    remember(station, cmd.reservation_id, cmd.gun, cmd.until, tag)
    return Reply.success(cmd.id, {"reservation_id": cmd.reservation_id, "until": cmd.until})


@handles("cancel_reservation")
async def cancel_reservation(station: CommandHost, cmd: CancelReservation) -> Reply:
    r = reservations(station).get(cmd.reservation_id)
    if r is None:
        return Reply.success(cmd.id, {"reservation_id": cmd.reservation_id, "already_gone": True})
    gun = station.guns.get(r["gun"])
    if gun is not None:
        try:
            await station.piles[gun.pile_id].driver.cancel_reservation(gun.n)
        except BusError as exc:
            return _fail(cmd, ErrorCode.UNAVAILABLE, f"{r['gun']}: {exc}")
    forget(station, cmd.reservation_id)
    return Reply.success(cmd.id, {"reservation_id": cmd.reservation_id})


@handles("set_load_policy")
async def set_load_policy(station: CommandHost, cmd: SetLoadPolicy) -> Reply:
    """Changes only the keys the command carries (docs/load-control.md); the stored policy
    keeps every key set before, so a restart comes back to the same policy."""
    fields = {k: v for k, v in encode(cmd).items() if k in LOAD_POLICY_KEYS}
    base = station.control.policy
    block = fields.get("block_above_pct", base.block_above_pct)
    if "share_target_pct" not in fields and base.share_target_pct > block:
        # The share target lives below the block threshold: follow a lowered threshold.
        fields["share_target_pct"] = block
    try:
        policy = Policy.from_command(fields, base)
        rated = rated_kva_from_command(fields)
    except PolicyError as exc:
        return _fail(cmd, ErrorCode.INVALID, str(exc), problems=list(exc.problems))
    stored = {**(station.store.settings.load_policy() or {}), **fields}
    station.store.settings.set_load_policy(stored)
    station.set_policy(policy, rated)
    return Reply.success(cmd.id, {"mode": policy.mode, "rated_kva": station.rated_kva,
                                  "changed": sorted(fields)})


# The keys set_load_policy may carry (jcproto/schemas/cmd_set_load_policy.json).
LOAD_POLICY_KEYS = ("rated_kva", "cap_above_pct", "block_above_pct", "cap_power_pct", "hysteresis_pct", "mode",
                    "share_target_pct", "dwell_s", "emergency_above_pct", "pile_sessions")


def _tariff_schedule(station: CommandHost) -> dict[str, Any]:
    """What the station now holds: the tariff in force and the changes pending, soonest first."""
    settings = station.store.settings
    now = station.store.now_ms()
    current = settings.tariff_entry(now)
    return {"in_force": current.summary() if current else None,
            "pending": [e.summary() for e in settings.pending_tariffs(now)]}


@handles("set_tariff")
async def set_tariff(station: CommandHost, cmd: SetTariff) -> Reply:
    """Without effective_from: in force from now. With it: kept for that instant (a future one
    pending until then, switched to by the gateway's clock; one for the same instant replaced)."""
    try:
        tariff = Tariff.from_dict(encode(cmd.tariff))
    except TariffError as exc:
        return _fail(cmd, ErrorCode.INVALID, f"tariff: {exc}")
    stored = station.store.settings.set_tariff(tariff.to_dict(), cmd.effective_from)
    return Reply.success(cmd.id, {"tariff_id": tariff.id, "effective_from": stored.effective_from,
                                  **_tariff_schedule(station)})


@handles("cancel_tariff")
async def cancel_tariff(station: CommandHost, cmd: CancelTariff) -> Reply:
    """Withdraw a scheduled change. Nothing there (already withdrawn, or replaced by another
    version when tariff_id is given) is a success too: the cloud's intent holds either way."""
    gone = station.store.settings.cancel_tariff(cmd.effective_from, cmd.tariff_id)
    detail: dict[str, Any] = {"effective_from": cmd.effective_from, "cancelled": gone is not None,
                              **_tariff_schedule(station)}
    if gone is not None:
        detail["tariff_id"] = gone.tariff_id
        # Too late: it was in force already; sessions started since keep it (their records name it).
        detail["was_in_force"] = gone.effective_from <= station.store.now_ms()
    return Reply.success(cmd.id, detail)


@handles("set_auth_list")
async def set_auth_list(station: CommandHost, cmd: SetAuthList) -> Reply:
    try:
        n = station.store.cards.set_auth_list([Card(card_id=c) for c in cmd.cards], rev=cmd.id)
    except ValueError as exc:
        return _fail(cmd, ErrorCode.INVALID, str(exc))
    return Reply.success(cmd.id, {"cards": n})


@handles("reset_fault")
async def reset_fault(station: CommandHost, cmd: ResetFault) -> Reply:
    if cmd.gun is not None and cmd.gun not in station.guns:
        return _fail(cmd, ErrorCode.UNKNOWN_GUN, f"no gun {cmd.gun} at this station")
    guns = [station.guns[cmd.gun]] if cmd.gun else [g for g in station.guns.values() if g.state == GunState.FAULTED]
    results: dict[str, str] = {}
    for g in guns:
        try:
            results[g.id] = (await station.piles[g.pile_id].driver.reset_fault(g.n)).value
        except BusError as exc:
            results[g.id] = f"unavailable: {exc}"
    if cmd.gun and results.get(cmd.gun) != CommandResult.ACCEPTED.value:
        code = ErrorCode.FAULTED if results.get(cmd.gun) == "faulted" else ErrorCode.UNAVAILABLE
        return _fail(cmd, code, f"{cmd.gun}: {results.get(cmd.gun)} (a fault whose cause remains stays latched)")
    return Reply.success(cmd.id, {"results": results})


# set_config: the settings that may change while the gateway runs, each with its check.
CONFIG_KEYS: dict[str, Callable[[Any], bool]] = {
    "cloud.telemetry_s": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 1 <= v <= 300,
    "load_policy.dwell_s": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 3600,
    "load_policy.share_target_pct": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 100,
}


@handles("set_config")
async def set_config(station: CommandHost, cmd: SetConfig) -> Reply:
    problems = []
    for key, value in cmd.values.items():
        check = CONFIG_KEYS.get(key)
        if check is None:
            problems.append(f"{key}: not settable remotely; settable: {', '.join(sorted(CONFIG_KEYS))}")
        elif not check(value):
            problems.append(f"{key}: {value!r} is out of range")
    if problems:
        return _fail(cmd, ErrorCode.INVALID, "; ".join(problems))
    overrides = dict(station.store.settings.get("config_overrides") or {})
    overrides.update(cmd.values)
    rev = int(station.store.settings.get("cfg_rev") or 0) + 1
    with station.store.transaction(durable=True):
        station.store.settings.set("config_overrides", overrides)
        station.store.settings.set("cfg_rev", rev)
    station.apply_overrides(overrides)
    if station.sync is not None:
        station.sync.config_changed(rev)
    return Reply.success(cmd.id, {"cfg_rev": rev, "values": cmd.values})
