"""Charging sessions at the edge: started, watched, limited and closed here, cloud or not.

A session is written to the store before the pile is told to start (so a crash between the
two is resolved by the pile's counter and tag on restart), it is judged on every poll by
`reconcile.judge` against the pile's registers, its energy comes from the lifetime register
and its cost from the station tariff in force when it started (a scheduled change
prices the sessions that start after it, never a running one), and it ends in one durable transaction with its
signed `session_ended` record. Limits by energy, time and amount hold while the cloud is
unreachable: they are written to the pile's limit registers where it has them, and enforced
here too; a time limit counts on the monotonic clock, so a wall-clock jump neither ends nor
extends it.

An amount session stops at the last whole Wh whose bill (each line rounded as on the bill) is
within the amount (`jcproto.tariff.amount_limit_wh`, docs/money.md "Charging by amount"): the
pile holds that as its energy limit, rewritten every bus tick as the session moves through the
tariff's periods, and the gateway stops the session itself when the pile has no such limit.

No session is priced silently at 0: an `amount` limit with no tariff is refused (`no_tariff`,
with a `start_refused` event), a session that runs without a tariff keeps the `no_tariff`
alarm raised (and is priced from its start as soon as a station tariff arrives), and a cost
state that cannot be read after a restart is recomputed from the session's recorded
progress readings. After the end, `edge.release` watches the gun until the car leaves.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.cache import SessionRow, SessionState, Store
from edge.clock import Clock
from edge.drivers.base import CommandResult, GunReading
from edge.drivers.errors import BusError
from edge.gunstate import GunState, StopReason
from edge.reconcile import KnownSession, Outcome, judge, newest_session_start, sessions_since
from edge.records import (
    SessionEnded,
    SessionProgress,
    SessionStarted,
    Signer,
    append,
    append_signed_end,
)
from edge.release import ReleaseWatch, idle_of
from edge.runtime import GunRuntime, PileRuntime
from jcproto import Event, Limit, Orderly
from jcproto.tariff import CostMeter, EnergyRegisterError, Tariff, TariffError, amount_limit_wh

log = logging.getLogger(__name__)

PROGRESS_EVERY_MS = 60_000
START_CONFIRM_S = 3.0  # how long `start` waits for the pile to show the session (spec: < 2 s)
START_TIMEOUT_S = 10.0  # a start the pile has not shown by then did not happen (spec: < 2 s)
STOP_RETRY_MS = 10_000
FREE_VEND_RETRY_S = 30.0
PILE_AUTH = "pile"  # a session the pile started by itself, adopted (spec Revision 1.1)
# Amount sessions: an energy limit written now holds until the next bus tick that rewrites it, up
# to two ticks after the reading it was computed from; a period boundary within that time may
# split the energy either way, so the limit then covers any split (amount_limit_wh's guard).
AMOUNT_GUARD_TICKS = 2
AMOUNT_GUARD_SLACK_S = 0.5
DEFAULT_TICK_S = 1.0  # until the bus loop tells its own (poll_period_s's default)
PRICING_CHECK_S = 5.0  # how often an unpriced session looks for a station tariff
NO_TARIFF = "no_tariff"  # the alarm, the start error and the start_refused reason


def limit_of(row: SessionRow) -> Limit:
    """The session's limit as the protocol has it (the stored dict may also hold its
    departure: orderly charging)."""
    raw = row.limit or {}
    return Limit(mode=raw.get("mode", "full"), value=int(raw.get("value", 0)))


def departure_of(row: SessionRow) -> int | None:
    """An orderly session's departure (epoch ms), stored with its energy limit; else None."""
    dep = (row.limit or {}).get("departure_at")
    return int(dep) if isinstance(dep, int) and not isinstance(dep, bool) else None


class StartError(Exception):
    """A start refused; `code` is the protocol's error code (spec/mqtt-v1.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Live:
    """What the manager keeps in memory beside a session's row."""

    cost: CostMeter | None
    last_progress_ms: int
    next_boundary_ms: int | None
    power_w: int = 0
    stop_requested_ms: int | None = None
    pile_energy_limit_wh: int | None = None
    started_mono: float | None = None
    created_mono: float = 0.0  # when this process created or resumed the session
    # Charging time for a time limit: elapsed_base_ms at created_mono, then the monotonic clock.
    elapsed_base_ms: int = 0
    last_reading: GunReading | None = None  # the reading the cost meter last took
    tick_s: float = DEFAULT_TICK_S  # how often the bus loop rewrites this gun's energy limit


_COMMAND_ERRORS = {
    CommandResult.NOT_PLUGGED: "not_plugged",
    CommandResult.FAULTED: "faulted",
    CommandResult.BUSY: "busy",
    CommandResult.RESERVED: "reserved",
    CommandResult.UNAVAILABLE: "unavailable",
    CommandResult.NONE: "unavailable",
}


class SessionManager:
    def __init__(self, store: Store, clock: Clock, piles: dict[str, PileRuntime],
                 signer: Signer | None = None) -> None:
        self.store = store
        self.clock = clock
        self.piles = piles
        self.guns: dict[str, GunRuntime] = {g.id: g for p in piles.values() for g in p.guns}
        self.signer = signer
        self.open: dict[str, SessionRow] = {}  # gun → its open session
        self.default_tz = "Asia/Shanghai"  # for a stored tariff that names no zone
        self._live: dict[str, _Live] = {}  # session_id → live state
        # Orderly sessions: how each one's plan stands (session id → Orderly), kept up to
        # date by load control (edge/control.py), carried by the session's records.
        self.orderly: dict[str, Orderly] = {}
        self.orderly_slots: dict[str, list[dict[str, int]]] = {}  # … and its plan's slots
        self.orderly_accept: dict[str, int | None] = {}  # … and what its car takes (W), if learned
        # The cap a session the pile starts by itself gets now (load control's level), None
        # while the level admits no start: it then waits at 0 W until `fix_cap`.
        self.pile_session_cap: Callable[[str], int | None] = lambda gun: None
        self.release = ReleaseWatch(store, clock)
        # Raises/clears an alarm (key, active, message); the station hands in its own.
        self.alarm: Callable[[str, bool, str], None] = self._store_alarm
        self._refused_no_tariff = False  # a start was refused for want of a tariff
        self._alarm_seen: dict[str, tuple[bool, str, float]] = {}  # key → (active, message, when)
        self._pricing_checked = -PRICING_CHECK_S

    # ---- state -----------------------------------------------------------------------

    def load(self) -> None:
        """Pick up the sessions that were open when the gateway last stopped."""
        for row in self.store.sessions.open_sessions():
            self.open[row.gun] = row
            live = self._live[row.session_id] = self._restore_live(row)
            live.elapsed_base_ms = self._elapsed_before(row)
        station = self.station_tariff()
        self.release.load(station.idle if station else None)
        if self.open:
            log.info("resuming %d open session(s): %s", len(self.open), ", ".join(sorted(self.open)))
        self._pricing_alarm()

    def _elapsed_before(self, row: SessionRow) -> int:
        """Charging time a resumed session had: what was written, plus the time since it was
        written (the gateway was down: only the wall clock spans that)."""
        now = self.now_ms()
        if row.elapsed_ms is not None and row.elapsed_at is not None:
            return row.elapsed_ms + max(0, now - row.elapsed_at)
        return max(0, now - (row.started_at or now))

    def _restore_live(self, row: SessionRow) -> _Live:
        cost = self._restore_cost(row)
        now = self.now_ms()
        return _Live(cost=cost, last_progress_ms=now,
                     next_boundary_ms=cost.tariff.next_boundary(now) if cost else None,
                     created_mono=self.clock.monotonic())

    def _restore_cost(self, row: SessionRow) -> CostMeter | None:
        """The session's cost meter as stored; if that cannot be read, recomputed from the
        session's recorded progress readings under its own tariff (or the station's) —
        never restarted at 0."""
        tariff: Tariff | None = None
        if row.cost_state:
            try:
                return CostMeter.from_dict(row.cost_state)
            except (ValueError, TariffError, TypeError, AttributeError) as exc:
                log.error("session %s: cost state unreadable (%s): recomputing it from the "
                          "recorded progress", row.session_id, exc)
            raw = row.cost_state.get("tariff") if isinstance(row.cost_state, dict) else None
            try:
                tariff = Tariff.from_dict({"tz": self.default_tz, **raw}) if isinstance(raw, dict) else None
            except TariffError:
                tariff = None
        tariff = tariff or self.station_tariff()
        if tariff is None:
            return None
        return self._recompute_cost(row, tariff, "cost state unreadable" if row.cost_state else "no tariff before")

    def _recompute_cost(self, row: SessionRow, tariff: Tariff, why: str) -> CostMeter:
        points = self.store.sessions.points(row.session_id)
        meter = CostMeter.replay(tariff, row.started_at or self.now_ms(), row.energy_start_wh or 0, points)
        with self.store.transaction(durable=True):
            self.store.sessions.update(row.session_id, cost_state=meter.to_dict(), cost_fen=meter.cost_fen)
            self.store.events.add("cost_recomputed", row.gun,
                                  {"session_id": row.session_id, "why": why, "tariff_id": tariff.id,
                                   "readings": len(points), "energy_wh": meter.energy_wh,
                                   "cost_fen": meter.cost_fen}, self.now_ms())
        row.cost_state, row.cost_fen = meter.to_dict(), meter.cost_fen
        log.warning("%s: session %s cost recomputed from %d recorded reading(s) (%s): %d Wh, %d fen",
                    row.gun, row.session_id, len(points), why, meter.energy_wh, meter.cost_fen)
        return meter

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def session_on(self, gun: str) -> SessionRow | None:
        return self.open.get(gun)

    def active_on(self, gun: str) -> bool:
        row = self.open.get(gun)
        return row is not None and row.state == SessionState.ACTIVE

    def cap_pending_on(self, gun: str) -> bool:
        """A session the pile started whose cap is not fixed yet (held at 0 W meanwhile)."""
        row = self.open.get(gun)
        return row is not None and row.auth == PILE_AUTH and row.power_cap_w is None

    def fix_cap(self, gun: str, cap_w: int) -> SessionRow | None:
        """Load control fixed the cap of a session the pile started: it is its cap from now
        on, across restarts too."""
        row = self.open.get(gun)
        if row is None or row.power_cap_w is not None:
            return None
        with self.store.transaction(durable=True):
            row = self.store.sessions.update(row.session_id, power_cap_w=cap_w)
            self.store.events.add("session_cap_fixed", gun,
                                  {"session_id": row.session_id, "power_cap_w": cap_w}, self.now_ms())
        self.open[gun] = row
        log.info("%s: session %s may draw up to %d W from now on", gun, row.session_id, cap_w)
        return row

    def starting_on(self, gun: str) -> bool:
        row = self.open.get(gun)
        return row is not None and row.state == SessionState.STARTING

    def live(self, session_id: str) -> _Live | None:
        return self._live.get(session_id)

    def station_tariff(self, at_ms: int | None = None) -> Tariff | None:
        """The station's tariff in force at `at_ms` (default now, by the session clock): a
        change scheduled ahead (set_tariff with effective_from) prices the sessions that
        start from its instant on; a running session keeps the tariff it started with."""
        raw = self.store.settings.tariff(self.now_ms() if at_ms is None else at_ms)
        if not raw:
            return None
        try:
            return Tariff.from_dict({"tz": self.default_tz, **raw})
        except TariffError as exc:
            log.error("the stored tariff is unusable: %s", exc)
            return None

    # ---- starting --------------------------------------------------------------------

    async def start(self, gun_id: str, *, auth: str, order_id: str | None = None,
                    limit: Limit | None = None, tariff: Tariff | None = None,
                    cap_w: int | None, start_limit_w: int | None, tag: int | None = None,
                    departure_at: int | None = None, orderly: Orderly | None = None) -> SessionRow:
        """Start a session now. Raises StartError with a protocol error code when refused.
        `departure_at` (epoch ms) with an energy limit makes it an orderly session, `orderly`
        its first plan's standing."""
        gun = self.guns.get(gun_id)
        if gun is None:
            raise StartError("unknown_gun", f"no gun {gun_id}")
        pile = self.piles[gun.pile_id]
        limit = limit or Limit(mode="full")
        if departure_at is not None:
            check_departure(limit, departure_at, self.now_ms())
        if gun_id in self.open:
            raise StartError("busy", f"{gun_id} already has session {self.open[gun_id].session_id}")
        if cap_w is None or start_limit_w is None:
            raise StartError("blocked_by_load", "the transformer load does not allow a new session now")
        r = gun.reading
        if pile.lost or r is None or gun.state == GunState.UNAVAILABLE:
            raise StartError("unavailable", f"{gun_id} is not reachable")
        if gun.state == GunState.FAULTED:
            raise StartError("faulted", f"{gun_id} is faulted: {', '.join(sorted(gun.faults)) or 'fault'}")
        if gun.state == GunState.AVAILABLE:
            raise StartError("not_plugged", f"no vehicle is plugged into {gun_id}")
        if gun.state.in_session:
            raise StartError("busy", f"{gun_id} is already charging")
        if r.energy_total_wh is None:
            raise StartError("unavailable", f"{gun_id}: the energy register cannot be read now")
        tariff = tariff or self.station_tariff()
        if tariff is None and limit.mode == "amount":
            self._refuse_no_tariff(gun_id, limit)
        now = self.now_ms()
        tag = tag if tag is not None else (secrets.randbits(32) or 1)
        row = SessionRow(
            session_id=str(uuid.uuid4()), gun=gun_id, state=SessionState.STARTING, auth=auth,
            order_id=order_id, power_cap_w=cap_w,
            limit={"mode": limit.mode, "value": limit.value,
                   **({"departure_at": departure_at} if departure_at is not None else {})},
            energy_start_wh=r.energy_total_wh, energy_last_wh=r.energy_total_wh, started_at=now,
            pile_session_counter=r.session_counter, session_tag=str(tag),
            cost_state=CostMeter(tariff, now, r.energy_total_wh).to_dict() if tariff else None,
        )
        # Durable before the pile hears of it: a crash in between is settled on restart by
        # the pile's session counter and tag.
        row = self.store.sessions.upsert(row)
        self.open[gun_id] = row
        if orderly is not None:
            self.orderly[row.session_id] = orderly
        live = self._live[row.session_id] = self._restore_live(row)
        energy_limit, time_limit = self._pile_limits(row, live)
        try:
            result = await pile.driver.start(gun.n, tag=tag, energy_limit_wh=energy_limit,
                                             time_limit_s=time_limit, power_limit_w=start_limit_w)
        except BusError as exc:
            # The start may or may not have reached the pile: polls settle it (counter, tag).
            log.warning("%s: start command failed on the line: %s", gun_id, exc)
            raise StartError("unavailable", f"{gun_id}: the pile did not answer the start: {exc}") from exc
        if not result.ok:
            self._discard(row, f"pile refused the start: {result.value}")
            raise StartError(_COMMAND_ERRORS.get(result, "unavailable"), f"{gun_id}: the pile refused: {result.value}")
        gun.limit_written_w = start_limit_w
        gun.limit_written_at = self.clock.monotonic()
        # Wait briefly for the pile to show the session, so the reply can say it runs.
        deadline = self.clock.monotonic() + START_CONFIRM_S
        while self.clock.monotonic() < deadline and self.open.get(gun_id) is row:
            try:
                reading = await pile.driver.read_gun(gun.n)
            except BusError:
                await self.clock.sleep(0.2)
                continue
            if self._confirm(row, reading):
                break
            await self.clock.sleep(0.2)
        return self.open.get(gun_id, row)

    def _refuse_no_tariff(self, gun_id: str, limit: Limit) -> None:
        """An amount limit needs a price: refuse, record why, and raise the alarm."""
        now = self.now_ms()
        detail = {"reason": NO_TARIFF, "limit": {"mode": limit.mode, "value": limit.value}}
        with self.store.transaction(durable=True):
            append(self.store, Event(seq=0, ts=now, kind="start_refused", gun=gun_id, detail=detail))
            self.store.events.add("start_refused", gun_id, detail, now)
        self._refused_no_tariff = True
        self._pricing_alarm()
        raise StartError(NO_TARIFF, f"{gun_id}: a start limited by amount ({limit.value} fen) needs a tariff "
                                    "to price it, and this station has none: the cloud must send set_tariff "
                                    "(or start with the tariff in the command)")

    def _pile_limits(self, row: SessionRow, live: _Live) -> tuple[int, int]:
        mode, value = (row.limit or {}).get("mode", "full"), int((row.limit or {}).get("value", 0))
        if mode == "energy":
            return value, 0
        if mode == "time":
            return 0, value
        if mode == "amount" and live.cost is not None:
            left = amount_limit_wh(live.cost, value, self.amount_guard_ms(live), self._rated_w(row))
            if left is not None:
                # 0 on the register means "no limit": 1 Wh is the least a start can ask for.
                live.pile_energy_limit_wh = max(1, left)
                return live.pile_energy_limit_wh, 0
        return 0, 0

    def _rated_w(self, row: SessionRow) -> int | None:
        gun = self.guns.get(row.gun)
        return gun.rated_power_w if gun is not None and gun.rated_power_w else None

    def amount_guard_ms(self, live: _Live) -> int:
        """Wall-clock ms an amount limit computed from the last reading stays written (the
        scaled clocks of tests and the demo run the wall clock faster)."""
        speed = getattr(self.clock, "speed", 1.0)
        return int((AMOUNT_GUARD_TICKS * live.tick_s + AMOUNT_GUARD_SLACK_S) * 1000 * speed)

    def _discard(self, row: SessionRow, why: str) -> None:
        """A start that never happened: no record was sent for it, none will be."""
        with self.store.transaction(durable=True):
            self.store.sessions.discard(row.session_id)
            # Local history only: the protocol's event kinds are a closed list.
            self.store.events.add("start_failed", row.gun, {"session_id": row.session_id, "reason": why},
                                  self.now_ms())
        self.open.pop(row.gun, None)
        self._live.pop(row.session_id, None)
        self.orderly.pop(row.session_id, None)
        log.info("%s: start of %s dropped: %s", row.gun, row.session_id, why)

    def _confirm(self, row: SessionRow, reading: GunReading) -> bool:
        """A starting session is real once the pile counts it with our tag."""
        if self.open.get(row.gun) is not row or row.state != SessionState.STARTING:
            # Confirmed already (the poll loop and a start waiting on its own read may both
            # see it), or dropped: one session_started per session.
            return self.open.get(row.gun) is not None
        counter_ok = (reading.session_counter is not None and row.pile_session_counter is not None
                      and sessions_since(row.pile_session_counter, reading.session_counter) >= 1)
        tag_ok = reading.session_tag is None or str(reading.session_tag) == row.session_tag
        if reading.session_counter is None and reading.state.in_session:
            counter_ok = True  # a pile without a session counter: charging is the sign
        if not (counter_ok and tag_ok):
            return False
        now = self.now_ms()
        counter = reading.session_counter
        # Energy from the start: if the pile was quick and already counts, the session's own
        # register tells where it began.
        energy_start = row.energy_start_wh or 0
        derived = newest_session_start(reading)
        if derived is not None and sessions_since(row.pile_session_counter or 0, counter or 0) == 1:
            energy_start = max(energy_start, min(derived, reading.energy_total_wh or derived))
        live = self._live[row.session_id]
        if live.cost is not None and energy_start != live.cost.start_wh:
            live.cost = CostMeter(live.cost.tariff, row.started_at or now, energy_start)
        with self.store.transaction(durable=True):
            updated = self.store.sessions.update(
                row.session_id, state=SessionState.ACTIVE, pile_session_counter=counter,
                energy_start_wh=energy_start, energy_last_wh=max(energy_start, reading.energy_total_wh or 0),
                cost_state=live.cost.to_dict() if live.cost else None)
            append(self.store, SessionStarted(
                seq=0, ts=row.started_at or now, session_id=row.session_id, gun=row.gun,
                order_id=row.order_id, auth=row.auth, energy_start_wh=energy_start,
                limit=limit_of(row), power_cap_w=row.power_cap_w, orderly=self.orderly_of(row)))
        self.open[row.gun] = updated
        live.started_mono = self.clock.monotonic()
        log.info("%s: session %s started (%s)", row.gun, row.session_id, row.auth)
        return True

    def adopt(self, gun: GunRuntime, reading: GunReading, note: str) -> SessionRow:
        """A session the pile runs that the gateway did not start (button, a card the gateway
        never saw, free vend at the pile, or one that began while the gateway could not see
        the pile): record it so no kWh goes missing, as `auth: pile`, with the cap load
        control gives a session starting now, or none yet (it waits at 0 W for the level)."""
        now = self.now_ms()
        start_wh = newest_session_start(reading)
        if start_wh is None:
            start_wh = reading.energy_total_wh or 0
        started = now - (reading.session_seconds or 0) * 1000
        tariff = self.station_tariff(max(started, 0))
        cost = CostMeter(tariff, started, start_wh) if tariff else None
        cap = self.pile_session_cap(gun.id)
        row = SessionRow(
            session_id=str(uuid.uuid4()), gun=gun.id, state=SessionState.ACTIVE, auth=PILE_AUTH,
            order_id=None, limit={"mode": "full", "value": 0}, power_cap_w=cap,
            energy_start_wh=start_wh, energy_last_wh=start_wh, started_at=started,
            pile_session_counter=reading.session_counter,
            session_tag=str(reading.session_tag) if reading.session_tag is not None else None,
            cost_state=cost.to_dict() if cost else None)
        with self.store.transaction(durable=True):
            row = self.store.sessions.upsert(row)
            append(self.store, SessionStarted(
                seq=0, ts=started, session_id=row.session_id, gun=gun.id, order_id=None, auth=PILE_AUTH,
                energy_start_wh=start_wh, limit=Limit(mode="full"), power_cap_w=cap))
            self.store.events.add("session_adopted", gun.id,
                                  {"session_id": row.session_id, "note": note, "power_cap_w": cap,
                                   "pile_session_counter": reading.session_counter}, now)
        self.open[gun.id] = row
        self._live[row.session_id] = _Live(cost=cost, last_progress_ms=now,
                                           next_boundary_ms=tariff.next_boundary(now) if tariff else None,
                                           started_mono=self.clock.monotonic(),
                                           created_mono=self.clock.monotonic())
        log.info("%s: adopted a session the pile runs (%s), %s", gun.id, note,
                 f"cap {cap} W" if cap is not None else "waiting for load at 0 W")
        return row

    # ---- watching ----------------------------------------------------------------------

    def observe(self, gun: GunRuntime, reading: GunReading) -> list[tuple[str, StopReason]]:
        """Judge the gun's session against a fresh reading. Returns stops the loop must send
        (gun, reason) because an edge-enforced limit was reached. Also watches the car of an
        ended session until it leaves the gun (gun_released)."""
        self._price_unpriced()
        stops = self._observe_session(gun, reading)
        self.release.observe(gun.id, reading, self.open.get(gun.id))
        self._pricing_alarm()
        return stops

    def _price_unpriced(self) -> None:
        """A session running without a tariff is priced from its start (from its recorded
        readings) as soon as the station has one. Looked at every PRICING_CHECK_S."""
        if not any(self._unpriced()) and not self._refused_no_tariff:
            return
        mono = self.clock.monotonic()
        if mono - self._pricing_checked < PRICING_CHECK_S:
            return
        self._pricing_checked = mono
        tariff = self.station_tariff()
        if tariff is None:
            return
        self._refused_no_tariff = False
        for row in self._unpriced():
            live = self._live[row.session_id]
            live.cost = self._recompute_cost(row, tariff, "priced with the station tariff set since")
            now = self.now_ms()
            live.cost.feed(max(now, live.cost.last_ts_ms), max(live.cost.last_wh, row.energy_last_wh or 0))
            live.next_boundary_ms = tariff.next_boundary(now)
        self._pricing_alarm()

    def _unpriced(self) -> list[SessionRow]:
        return [row for row in self.open.values()
                if (live := self._live.get(row.session_id)) is not None and live.cost is None]

    def _pricing_alarm(self) -> None:
        unpriced = self._unpriced()
        if unpriced:
            self.alarm(NO_TARIFF, True, "session(s) without a tariff on " + ", ".join(sorted(r.gun for r in unpriced))
                       + ": their cost cannot be computed until the cloud sends set_tariff")
        elif self._refused_no_tariff:
            self.alarm(NO_TARIFF, True, "a start limited by amount was refused: this station has no tariff; "
                                        "the cloud must send set_tariff")
        else:
            self.alarm(NO_TARIFF, False, "")

    def _store_alarm(self, key: str, active: bool, message: str) -> None:
        """The alarm straight in the store (when no station hands in its own): written when
        it changes, and again every PRICING_CHECK_S (someone may have cleared it by hand)."""
        mono = self.clock.monotonic()
        seen = self._alarm_seen.get(key)
        if seen is not None and seen[:2] == (active, message) and mono - seen[2] < PRICING_CHECK_S:
            return
        now = self.now_ms()
        if active:
            self.store.alarms.raise_(key, message, now)
        else:
            self.store.alarms.clear(key, now)
        self._alarm_seen[key] = (active, message, mono)

    def _observe_session(self, gun: GunRuntime, reading: GunReading) -> list[tuple[str, StopReason]]:
        row = self.open.get(gun.id)
        now = self.now_ms()
        if row is None:
            if reading.state.in_session and reading.energy_total_wh is not None:
                self.adopt(gun, reading, "running on the pile with no session known to the gateway")
            return []
        if row.state == SessionState.STARTING:
            # Timed on the monotonic clock from when this process took the session on: after a
            # restart the pile gets the same grace to show a start sent just before the crash.
            live = self._live[row.session_id]
            if self._confirm(row, reading):
                return []
            if reading.state in (GunState.FAULTED, GunState.AVAILABLE):
                # Faulted or unplugged before charging began: this start is dead.
                self._discard(row, f"the gun became {reading.state.value} before the session began")
            elif self.clock.monotonic() - live.created_mono > START_TIMEOUT_S:
                self._discard(row, "the pile never showed the session")
            return []
        known = KnownSession(
            session_counter=row.pile_session_counter if row.pile_session_counter is not None else -1,
            energy_start_wh=row.energy_start_wh or 0, energy_last_wh=row.energy_last_wh or 0,
            started_at_ms=row.started_at or now, last_seen_ms=row.updated_at or now)
        if row.pile_session_counter is None:
            # A pile with no counter: the state alone tells.
            known = KnownSession(reading.session_counter or 0, known.energy_start_wh, known.energy_last_wh,
                                 known.started_at_ms, known.last_seen_ms)
        verdict = judge(known, reading, now)
        live = self._live[row.session_id]
        if verdict.outcome is Outcome.UNKNOWN:
            return []
        if verdict.outcome is Outcome.ENDED:
            self._close(row, verdict.energy_stop_wh or row.energy_last_wh or 0,
                        verdict.ended_at_ms or now, verdict.stop_reason or StopReason.LOCAL,
                        uncertain=verdict.uncertain, note=verdict.note,
                        plugged_now=reading.state.has_vehicle)
            if verdict.newer_sessions and reading.state.in_session:
                self.adopt(gun, reading, "started on the pile after the previous session")
            return []
        # Running.
        energy = reading.energy_total_wh
        assert energy is not None
        live.power_w = reading.power_w or 0
        if energy > (row.energy_last_wh or 0):
            row.energy_last_wh = energy
        if live.cost is not None:
            self._record_straddle(row, live, now)
            try:
                live.cost.feed(now, energy)
            except EnergyRegisterError as exc:
                log.error("%s: %s", gun.id, exc)
            live.last_reading = reading
        due = now - live.last_progress_ms >= PROGRESS_EVERY_MS or (
            live.next_boundary_ms is not None and now >= live.next_boundary_ms)
        if due:
            self._progress(row, live, reading, now)
        return self._limit_reached(gun, row, live, now)

    def _record_straddle(self, row: SessionRow, live: _Live, upto_ms: int) -> None:
        """Put the cost meter's last reading on record when a tariff period boundary lies
        between it and `upto_ms` (the next reading, or the end). The cloud bills by replaying
        the recorded readings (start, progress, end: docs/money.md); energy between two readings
        is split across a boundary in proportion to time, so both sides must split the same
        interval, or their costs differ by a fen."""
        cost = live.cost
        if cost is None or live.last_reading is None or cost.last_ts_ms <= live.last_progress_ms:
            return  # nothing read since the last record
        boundary = cost.tariff.next_boundary(cost.last_ts_ms)
        if boundary is None or boundary > upto_ms:
            return
        self._progress(row, live, live.last_reading, cost.last_ts_ms, energy_wh=cost.last_wh)

    def _progress(self, row: SessionRow, live: _Live, reading: GunReading, now: int,
                  energy_wh: int | None = None) -> None:
        cost = live.cost.cost_fen if live.cost else 0
        energy = (row.energy_last_wh or 0) if energy_wh is None else energy_wh
        with self.store.transaction(durable=True):
            self.store.sessions.update(row.session_id, energy_last_wh=row.energy_last_wh, cost_fen=cost,
                                       cost_state=live.cost.to_dict() if live.cost else None,
                                       elapsed_ms=self.elapsed_ms(live), elapsed_at=now)
            # The reading a lost cost state is recomputed from.
            self.store.sessions.add_point(row.session_id, now, energy)
            append(self.store, SessionProgress(
                seq=0, ts=now, session_id=row.session_id, energy_wh=energy,
                power_w=reading.power_w or 0, voltage_v=reading.voltage_v, current_a=reading.current_a,
                soc=reading.soc_pct, cost_fen=cost, orderly=self.orderly_of(row)))
        row.cost_fen = cost
        live.last_progress_ms = now
        live.next_boundary_ms = live.cost.tariff.next_boundary(now) if live.cost else None

    def _limit_reached(self, gun: GunRuntime, row: SessionRow, live: _Live, now: int) -> list[tuple[str, StopReason]]:
        mode, value = (row.limit or {}).get("mode", "full"), int((row.limit or {}).get("value", 0))
        reached = False
        if mode == "energy" and value > 0:
            reached = (row.energy_last_wh or 0) - (row.energy_start_wh or 0) >= value
        elif mode == "time" and value > 0:
            reached = self.elapsed_ms(live) >= value * 1000
        elif mode == "amount" and live.cost is not None:
            reached = amount_limit_wh(live.cost, value, self.amount_guard_ms(live), self._rated_w(row)) == 0
        if not reached:
            return []
        if live.stop_requested_ms is not None and now - live.stop_requested_ms < STOP_RETRY_MS:
            return []
        live.stop_requested_ms = now
        return [(gun.id, StopReason.LIMIT)]

    def elapsed_ms(self, live: _Live) -> int:
        """Charging time so far on the monotonic clock (scaled like the wall clock when a
        test or the demo runs the day faster)."""
        speed = getattr(self.clock, "speed", 1.0)
        return live.elapsed_base_ms + max(0, int((self.clock.monotonic() - live.created_mono) * 1000 * speed))

    def pile_energy_limit_update(self, gun: GunRuntime, tick_s: float | None = None) -> int | None:
        """Amount sessions: the energy limit (session Wh) the pile should hold now, or None
        when the one written is still right. Every Wh counts: a limit left a few Wh off
        after a period boundary bills a fen over or under. 0 lifts the limit (a free period
        far from a priced one). `tick_s`: how often the caller comes back to rewrite it."""
        row = self.open.get(gun.id)
        if row is None or row.state != SessionState.ACTIVE or (row.limit or {}).get("mode") != "amount":
            return None
        live = self._live[row.session_id]
        if live.cost is None:
            return None
        if tick_s is not None:
            live.tick_s = tick_s
        # From the cost meter's own reading: the energy and the instant it has counted.
        left = amount_limit_wh(live.cost, int(row.limit["value"]), self.amount_guard_ms(live), self._rated_w(row))
        session_wh = live.cost.last_wh - live.cost.start_wh
        target = 0 if left is None else max(1, session_wh + left)
        if target == live.pile_energy_limit_wh:
            return None
        live.pile_energy_limit_wh = target
        return target

    def pile_energy_limit_failed(self, gun: GunRuntime) -> None:
        """The last limit did not reach the pile: the next tick writes it again."""
        row = self.open.get(gun.id)
        live = self._live.get(row.session_id) if row is not None else None
        if live is not None:
            live.pile_energy_limit_wh = None

    def request_stop(self, gun_id: str, reason: StopReason) -> None:
        """Remember why the gateway stopped the session, so its record says so."""
        row = self.open.get(gun_id)
        if row is not None and row.state == SessionState.ACTIVE:
            row.stop_reason = reason.value
            self.store.sessions.update(row.session_id, stop_reason=reason.value)
            live = self._live.get(row.session_id)
            if live is not None:
                live.stop_requested_ms = self.now_ms()

    # ---- ending ----------------------------------------------------------------------

    def _close(self, row: SessionRow, energy_stop: int, ended_at: int, pile_reason: StopReason,
               *, uncertain: bool = False, note: str = "", plugged_now: bool = False) -> None:
        live = self._live.pop(row.session_id, None)
        energy_stop = max(energy_stop, row.energy_start_wh or 0)
        cost = 0
        tariff_id = None
        if live is not None and live.cost is not None:
            tariff_id = live.cost.tariff.id
            self._record_straddle(row, live, ended_at)
            try:
                if energy_stop >= live.cost.last_wh:
                    live.cost.feed(max(ended_at, live.cost.last_ts_ms), energy_stop)
            except EnergyRegisterError as exc:
                log.error("%s: %s", row.gun, exc)
            cost = live.cost.cost_fen
        # The gateway's own stop (limit, remote command) names the reason; the pile just saw
        # a remote stop.
        reason = pile_reason
        if row.stop_reason and pile_reason in (StopReason.REMOTE, StopReason.LOCAL):
            reason = StopReason(row.stop_reason)
        record = SessionEnded(
            seq=0, ts=ended_at, session_id=row.session_id, energy_start_wh=row.energy_start_wh or 0,
            energy_stop_wh=energy_stop, started_at=row.started_at or ended_at, ended_at=ended_at,
            stop_reason=reason.value, cost_fen=cost, signature="", gun=row.gun, tariff_id=tariff_id,
            orderly=self.orderly_of(row, ended_wh=energy_stop - (row.energy_start_wh or 0)))
        with self.store.transaction(durable=True):
            seq = append_signed_end(self.store, record, self.signer)
            ended_row = self.store.sessions.update(
                row.session_id, state=SessionState.ENDED, ended_at=ended_at, stop_reason=reason.value,
                energy_last_wh=energy_stop, cost_fen=cost, reported=True, ended_seq=seq,
                cost_state=live.cost.to_dict() if live and live.cost else row.cost_state,
                release_pending=True, plugged_seen_at=ended_at)
            self.store.sessions.drop_points(row.session_id)
            if uncertain:
                self.store.events.add("session_estimated", row.gun,
                                      {"session_id": row.session_id, "note": note}, self.now_ms())
        self.open.pop(row.gun, None)
        self.orderly.pop(row.session_id, None)
        self.orderly_slots.pop(row.session_id, None)
        self.orderly_accept.pop(row.session_id, None)
        station = self.station_tariff() if not ended_row.cost_state else None
        self.release.ended(ended_row, idle_of(ended_row, station.idle if station else None), plugged_now)
        log.info("%s: session %s ended (%s), %d Wh, %d fen", row.gun, row.session_id, reason.value,
                 energy_stop - (row.energy_start_wh or 0), cost)

    def orderly_of(self, row: SessionRow, ended_wh: int | None = None) -> Orderly | None:
        """How an orderly session's plan stands, for its records; None for other sessions.
        At the end (`ended_wh`): `done` if the energy wanted was delivered."""
        departure = departure_of(row)
        if departure is None:
            return None
        wanted = limit_of(row).value
        known = self.orderly.get(row.session_id)
        if ended_wh is not None:
            status = "done" if ended_wh >= wanted else (known.status if known else "cannot_meet")
            return Orderly(departure_at=departure, energy_wh=wanted, status=status,
                           expected_wh=ended_wh, finish_at=known.finish_at if known else None,
                           acceptance_w=known.acceptance_w if known else None)
        if known is not None:
            return known
        delivered = (row.energy_last_wh or 0) - (row.energy_start_wh or 0)
        # Not planned yet (a restart, a start still being confirmed): what is known.
        return Orderly(departure_at=departure, energy_wh=wanted,
                       status="done" if delivered >= wanted else "on_track", expected_wh=delivered)

    def summary(self, gun_id: str) -> dict[str, Any] | None:
        row = self.open.get(gun_id)
        if row is None:
            return None
        live = self._live.get(row.session_id)
        return {
            "session_id": row.session_id, "state": row.state, "auth": row.auth, "order_id": row.order_id,
            # a session the pile started while the level admits no start: held at 0 W
            "waiting_for_load": self.cap_pending_on(gun_id),
            "started_at": row.started_at, "power_cap_w": row.power_cap_w,
            "limit": {"mode": limit_of(row).mode, "value": limit_of(row).value} if row.limit else None,
            "energy_wh": (row.energy_last_wh or 0) - (row.energy_start_wh or 0),
            "cost_fen": live.cost.cost_fen if live and live.cost else row.cost_fen,
            "orderly": _orderly_dict(self.orderly_of(row), self.orderly_slots.get(row.session_id, []),
                                     self.orderly_accept.get(row.session_id)),
        }


def _orderly_dict(o: Orderly | None, slots: list[dict[str, int]], accept_w: int | None = None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"departure_at": o.departure_at, "energy_wh": o.energy_wh, "status": o.status, "slots": slots,
            "acceptance_w": accept_w,  # what the car takes, learned from its readings (None: not known)
            "expected_wh": o.expected_wh, "finish_at": o.finish_at, "power_w": o.power_w,
            # the plan gives it no power in this slot: it waits for a cheaper one (or for room)
            "waiting": o.power_w == 0 and o.status in ("on_track", "cannot_meet")}


# The furthest departure an orderly start may give: the cloud lets a driver give a week, and a
# day more absorbs a clock apart. The plan has a slot each 15 minutes up to the departure and
# is made again every minute, so a departure decades ahead would stall the station's loop.
DEPARTURE_MAX_MS = 8 * 86_400_000


def check_departure(limit: Limit, departure_at: int, now_ms: int) -> None:
    """An orderly start needs the energy wanted (an energy limit) and a departure ahead, at
    most DEPARTURE_MAX_MS."""
    if limit.mode != "energy" or limit.value <= 0:
        raise StartError("invalid", "departure_at needs an energy limit: the energy wanted by then")
    if departure_at <= now_ms:
        raise StartError("invalid", f"departure_at ({departure_at}) is not ahead of now ({now_ms})")
    if departure_at > now_ms + DEPARTURE_MAX_MS:
        raise StartError("invalid", f"departure_at ({departure_at}) is more than "
                                    f"{DEPARTURE_MAX_MS // 86_400_000} days ahead of now ({now_ms})")
