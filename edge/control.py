"""Transformer load control in the loop: snapshot → `loadctl.decide` → limits to write.

The decision itself is pure (edge/loadctl); this module builds its input from the live
picture, keeps its state from tick to tick, carries out what the decision says about
sessions (a pile session's cap fixed, a pile session to stop), turns changes into events,
and says which power limit each gun should hold. Idle guns hold the cap a new session would
get (0 while starts are refused), so a session that starts at the pile itself is capped
from its first second too; once adopted, it keeps the level's cap (or waits at 0 W).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edge.cache import SessionRow
from edge.clock import Clock
from edge.gunstate import GunState
from edge.loadctl import (
    ACCEPTANCE_KEYS,
    ALARM_METER_IMPLAUSIBLE,
    Decision,
    GunSnapshot,
    Level,
    LoadState,
    MeterSample,
    Policy,
    StationSnapshot,
    decide,
    orderly,
)
from edge.loadctl.acceptance import Acceptance, AcceptanceRules
from edge.loadctl.caps import rule_start_cap
from edge.runtime import GunRuntime, MeterRuntime, StationEvent
from edge.sessions import SessionManager, departure_of, limit_of
from jcproto import Orderly
from jcproto.tariff import Tariff

REFRESH_S = 60.0  # rewrite an unchanged limit this often (a pile may have rebooted)
STOP_RETRY_S = 10.0  # a refused pile session still running is told to stop again after this


@dataclass(frozen=True)
class LimitWrite:
    gun: GunRuntime
    watts: int


def policy_from_config(config: Any) -> Policy:
    """The load policy a station config asks for (edge/config.py has checked it)."""
    lp = config.load_policy
    return Policy(mode=lp.mode, cap_above_pct=lp.cap_above_pct, block_above_pct=lp.block_above_pct,
                  cap_power_pct=lp.cap_power_pct, hysteresis_pct=lp.hysteresis_pct,
                  share_target_pct=min(lp.share_target_pct, lp.block_above_pct), dwell_s=lp.dwell_s,
                  emergency_above_pct=lp.emergency_above_pct, pile_sessions=lp.pile_sessions,
                  meter_tolerance_pct=lp.meter_tolerance_pct, meter_implausible_s=lp.meter_implausible_s,
                  orderly_margin_pct=lp.orderly_margin_pct, orderly_replan_pct=lp.orderly_replan_pct,
                  orderly_replan_s=lp.orderly_replan_s, **{k: getattr(lp, k) for k in ACCEPTANCE_KEYS},
                  meter_timeout_s=config.meter.timeout_s if config.meter else 3.0)


class LoadController:
    def __init__(self, policy: Policy, rated_kva: float, meter: MeterRuntime, guns: list[GunRuntime],
                 sessions: SessionManager, clock: Clock, tz: str = "Asia/Shanghai") -> None:
        self.policy = policy
        self.rated_kva = rated_kva
        self.meter = meter
        self.guns = guns
        self.sessions = sessions
        self.clock = clock
        self.tz = tz
        self.state = LoadState.initial(clock.monotonic())
        self.decision: Decision | None = None
        self.alarms: set[str] = set()
        # The level last recorded as an event, kept across restarts (the station persists
        # it), so that a restart does not record the same level change again.
        self.recorded_level: str | None = None
        self._implausible = False
        self._shedding = False
        self._stops: dict[str, str] = {}  # pile sessions to end (pile_sessions = "stop") → why
        self._stop_asked: dict[str, float] = {}  # session id → when its stop was last asked for
        self._idle_offers: dict[str, int | None] = {}  # idle gun → start cap last offered (None: none)
        self.slot_ms = orderly.SLOT_MS
        # Orderly sessions' plans: session id → (plan, headroom it was made with, when (mono),
        # energy still wanted then)
        self.plans: dict[str, tuple[orderly.Plan, int | None, float, int]] = {}
        # … and what each one's car takes, learned from its gun's readings (in memory: after a
        # restart it is learned again)
        self.acceptance: dict[str, Acceptance] = {}
        sessions.pile_session_cap = self.pile_session_cap

    def snapshot(self) -> StationSnapshot:
        m = self.meter
        sample = None
        if m.good_at is not None and m.s_total_va is not None:
            p = m.reading.p_total_w if m.reading and m.reading.p_total_w is not None else m.s_total_va
            sample = MeterSample(taken_at=m.good_at, s_total_va=m.s_total_va, p_total_w=p)
        plans = self._orderly_plans(sample)
        guns = []
        for g in self.guns:
            row = self.sessions.session_on(g.id)
            live = self.sessions.live(row.session_id) if row else None
            plan_w = plans.get(row.session_id) if row else None
            guns.append(GunSnapshot(plan_w=plan_w,
                gun=g.id, state=g.state, rated_power_w=g.rated_power_w, min_power_w=g.min_power_w,
                power_w=g.power_w, session_active=self.sessions.active_on(g.id),
                session_cap_w=row.power_cap_w if row else None, priority=g.priority,
                starting=self.sessions.starting_on(g.id),
                started_at=live.started_mono if live else None,
                cap_pending=self.sessions.cap_pending_on(g.id),
                limit_active_w=g.reading.power_limit_active_w if g.reading else None))
        return StationSnapshot(rated_kva=self.rated_kva, meter=sample, guns=tuple(guns), previous=self.state,
                               wall_now=self.clock.time(), tz=self.tz)

    # ---- orderly charging --------------------------------------------------------------

    def _base_headroom(self, sample: MeterSample | None) -> int | None:
        """The W the orderly sessions may draw together in the hours ahead: the target
        (share_target_pct of rated kVA) less the load measured now without them, less the
        margin (orderly_margin_pct), × power factor. None without a good reading (the plans are then kept)."""
        if sample is None or not self.rated_kva or self.rated_kva <= 0:
            return None
        pf = self.policy.power_factor
        rated_va = self.rated_kva * 1000.0
        target_va = rated_va * self.policy.share_target_pct / 100.0
        own_w = sum(max(0, g.power_w) for g in self.guns
                    if (row := self.sessions.session_on(g.id)) is not None and departure_of(row) is not None)
        base_va = max(0.0, sample.s_total_va - own_w / pf)
        return max(0, int((target_va - base_va - rated_va * self.policy.orderly_margin_pct / 100.0) * pf))

    def _orderly_plans(self, sample: MeterSample | None) -> dict[str, int | None]:
        """Each orderly session's power for now (session id → W, None: not limited by a
        plan). Planned oldest session first, each under what the earlier ones leave; made
        again at a slot's end, when the headroom moves, and every orderly_replan_s (load policy)."""
        rows = sorted((r for r in self.sessions.open.values() if departure_of(r) is not None),
                      key=lambda r: (r.started_at or 0, r.session_id))
        live_ids = {r.session_id for r in rows}
        self.plans = {k: v for k, v in self.plans.items() if k in live_ids}
        self.acceptance = {k: v for k, v in self.acceptance.items() if k in live_ids}
        if not rows:
            return {}
        now_ms = int(self.clock.time() * 1000)
        mono = self.clock.monotonic()
        base = self._base_headroom(sample)
        tolerance = (self.rated_kva or 0) * 1000.0 * self.policy.orderly_replan_pct / 100.0
        out: dict[str, int | None] = {}
        made: list[orderly.Plan] = []
        replan_rest = False
        for row in rows:
            wanted = limit_of(row).value
            left = wanted - ((row.energy_last_wh or 0) - (row.energy_start_wh or 0))
            kept = self.plans.get(row.session_id)
            accept = self._observe_car(row)
            stale = (kept is None or replan_rest
                     or kept[0].accept_w != accept  # the car takes other than planned
                     or bool(kept[0].slots) and now_ms >= kept[0].slots[0].end_ms  # a slot ended
                     or mono - kept[2] >= self.policy.orderly_replan_s
                     or (left <= 0) != (kept[3] <= 0)  # the energy is in
                     or base is not None and (kept[1] is None or abs(base - kept[1]) > tolerance))
            if stale:
                p = self._plan_one(row, left, base, made, now_ms, accept)
                self.plans[row.session_id] = (p, base, mono, left)
                replan_rest = True  # the sessions after it plan under this one's new plan
            else:
                p = kept[0]
            made.append(p)
            power = p.power_now_w if p.status in (orderly.ON_TRACK, orderly.CANNOT_MEET) else None
            out[row.session_id] = power
            delivered = wanted - left
            self.sessions.orderly_slots[row.session_id] = [
                {"start": sl.start_ms, "end": sl.end_ms, "power_w": w, "price_e4": sl.price_e4, "energy_wh": e}
                for sl, w, e in zip(p.slots, p.power_w, p.energy_wh, strict=True)]
            self.sessions.orderly_accept[row.session_id] = accept
            self.sessions.orderly[row.session_id] = Orderly(
                departure_at=departure_of(row) or 0, energy_wh=wanted, status=p.status,
                expected_wh=max(0, min(wanted, delivered + p.expected_wh)) if p.status != orderly.DONE else delivered,
                finish_at=p.finish_ms, power_w=power, acceptance_w=accept)
        return out

    def _observe_car(self, row: SessionRow) -> int | None:
        """Hand the gun's latest reading to the session's acceptance learner; what the car
        takes (W), or None while not known. The limit it is measured against is the one the
        pile holds: the lower of the one written and the one it reports obeying."""
        learner = self.acceptance.get(row.session_id)
        if learner is None:
            learner = self.acceptance[row.session_id] = Acceptance(rules=AcceptanceRules.of(self.policy))
        gun = self.sessions.guns.get(row.gun)
        if gun is None or gun.read_at is None:
            return learner.accept_w
        limits = [w for w in (gun.limit_written_w, gun.reading.power_limit_active_w if gun.reading else None)
                  if w is not None]
        learner.observe(gun.read_at, min(limits) if limits else None, gun.power_w, gun.state == GunState.CHARGING)
        return learner.accept_w

    def _plan_one(self, row: SessionRow, left: int, base: int | None, others: list[orderly.Plan],
                  now_ms: int, accept_w: int | None = None) -> orderly.Plan:
        gun = self.sessions.guns.get(row.gun)
        rated = gun.rated_power_w if gun else 0
        max_w = rated if row.power_cap_w is None else min(rated, row.power_cap_w)
        live = self.sessions.live(row.session_id)
        return self.plan_for(left, departure_of(row) or now_ms, max_w, gun.min_power_w if gun else 0,
                             base, others, now_ms, live.cost.tariff if live is not None and live.cost else None,
                             accept_w)

    def plan_for(self, energy_wh: int, departure_ms: int, max_w: int, min_w: int, base: int | None,
                 others: list[orderly.Plan], now_ms: int, tariff: Tariff | None = None,
                 accept_w: int | None = None) -> orderly.Plan:
        """A plan for `energy_wh` by `departure_ms` on a gun of `max_w`, under `base`
        headroom (None: the gun's own power) less the `others`' plans, at the prices of
        `tariff` (the session's; default the station's), for a car taking `accept_w`."""
        tariff = tariff or self.sessions.station_tariff()

        def price_at(t: int) -> int:
            return tariff.period_at(t).price_e4 if tariff else 0

        def headroom(t: int) -> int:
            room = max_w if base is None else base
            probe = orderly.Slot(t, t + 1, 0, 0)
            return orderly.remaining_headroom(room, others, probe)

        slots = orderly.make_slots(now_ms, departure_ms, price_at,
                                   tariff.next_boundary if tariff else (lambda t: None), headroom, self.slot_ms)
        return orderly.plan(slots, energy_wh, max_w, min_w, accept_w)

    def first_orderly_limit(self, gun_id: str, cap: int, energy_wh: int, departure_ms: int,
                            tariff: Tariff | None = None) -> Orderly:
        """The plan of an orderly session about to start on `gun_id` with session cap `cap`:
        its first limit is at most the plan's power now (0 in a slot it waits through)."""
        snap_meter = self.snapshot().meter
        base = self._base_headroom(snap_meter)
        now_ms = int(self.clock.time() * 1000)
        others = [p for p, *_ in self.plans.values()]
        gun = self.sessions.guns.get(gun_id)
        p = self.plan_for(energy_wh, departure_ms, cap, gun.min_power_w if gun else 0, base, others, now_ms, tariff)
        power = p.power_now_w if p.status in (orderly.ON_TRACK, orderly.CANNOT_MEET) else None
        return Orderly(departure_at=departure_ms, energy_wh=energy_wh, status=p.status,
                       expected_wh=min(energy_wh, p.expected_wh), finish_at=p.finish_ms, power_w=power)

    def pile_session_cap(self, gun_id: str) -> int | None:
        """The cap a session the pile started on this gun gets: the start cap the last decision
        offered the idle gun (the level's, when the pile started it: its own draw, already in
        the meter's reading, must not count against it), or None while the level (or
        shedding) admits no start. A gun not seen idle since the gateway started (a session
        found running after a restart): the level's start cap now, decided afresh."""
        if gun_id in self._idle_offers:
            return self._idle_offers[gun_id]
        snap = self.snapshot()
        d = decide(snap, self.policy, self.clock.monotonic())
        gun = next((g for g in snap.guns if g.gun == gun_id), None)
        if gun is None or not d.level.admits_starts or d.shed:
            return None
        cap = rule_start_cap(gun, d.level, self.policy)
        return cap if cap > 0 else None

    def decide(self) -> tuple[Decision, list[StationEvent]]:
        snap = self.snapshot()
        d = decide(snap, self.policy, self.clock.monotonic())
        events: list[StationEvent] = []
        self.state = d.state
        self.decision = d
        self._idle_offers = {g.gun: d.start_caps.get(g.gun) for g in snap.guns if not g.planned}
        pct = round(d.load_pct, 2) if d.load_pct is not None else None
        if d.level.value != self.recorded_level:
            events.append(StationEvent("load_level", None, {"level": d.level.value, "load_pct": pct,
                                                             "from": self.recorded_level, "reason": d.reason}))
            self.recorded_level = d.level.value
        for gun, cap in d.fixed_caps.items():
            if self.sessions.fix_cap(gun, cap) is not None:
                events.append(StationEvent("session_cap_fixed", gun, {"power_cap_w": cap, "level": d.level.value}))
        now = self.clock.monotonic()
        for gun, why in d.refused.items():
            row = self.sessions.session_on(gun)
            if row is None:
                continue
            asked = self._stop_asked.get(row.session_id)
            if asked is None:
                events.append(StationEvent("start_refused", gun, {
                    "reason": why, "origin": "pile", "session_id": row.session_id,
                    "level": d.level.value, "load_pct": pct}))
            if asked is None or now - asked >= STOP_RETRY_S:
                self._stops[gun] = why
                self._stop_asked[row.session_id] = now
        if self._stop_asked:
            live = {r.session_id for r in self.sessions.open.values()}
            self._stop_asked = {k: v for k, v in self._stop_asked.items() if k in live}
        events += self._meter_events(d)
        events += self._shed_events(d, pct)
        return d, events

    def _meter_events(self, d: Decision) -> list[StationEvent]:
        implausible = ALARM_METER_IMPLAUSIBLE in d.alarms
        if implausible == self._implausible:
            return []
        self._implausible = implausible
        if implausible:
            check = d.state.meter_check
            return [StationEvent("meter_implausible", None, {
                "reason": check.implausible if check else d.reason,
                "s_total_va": self.meter.s_total_va,
                "guns_w": sum(g.power_w for g in self.guns)})]
        return [StationEvent("meter_back", None, {"after": "meter_implausible"})]

    def _shed_events(self, d: Decision, pct: float | None) -> list[StationEvent]:
        if d.level == Level.FAILSAFE:
            return []
        shedding = bool(d.shed)
        if shedding == self._shedding:
            return []
        self._shedding = shedding
        # "from" as every load_level record has it: the level does not change here, so a
        # chain of load_level records stays unbroken (each starts where the previous ended).
        detail = {"level": d.level.value, "from": self.recorded_level, "load_pct": pct, "shed": shedding,
                  "emergency_above_pct": self.policy.emergency_above_pct,
                  "ceilings_w": dict(d.shed), "reason": d.reason}
        # Local history with the ceilings, and a load_level record for the cloud.
        return [StationEvent("load_shed" if shedding else "load_shed_ended", None, detail),
                StationEvent("load_level", None, detail)]

    def take_stops(self) -> dict[str, str]:
        """Pile sessions to end now (`pile_sessions = "stop"`), each once."""
        stops, self._stops = self._stops, {}
        return stops

    def targets(self, d: Decision) -> dict[str, int]:
        """The power limit every gun should hold under decision `d`."""
        out: dict[str, int] = {}
        for g in self.guns:
            if g.id in d.limits:
                out[g.id] = d.limits[g.id]
            elif self.sessions.session_on(g.id) is not None:
                continue  # a session load control did not plan (e.g. ending): leave it
            else:
                out[g.id] = d.start_limits.get(g.id, d.start_caps.get(g.id, 0))
        return out

    def writes(self, d: Decision, guns: list[GunRuntime] | None = None, force: bool = False,
               refresh: bool = True) -> list[LimitWrite]:
        """Limits that differ from what was last written (or, with `refresh`, are due for a
        refresh)."""
        now = self.clock.monotonic()
        wanted = self.targets(d)
        out = []
        for g in guns if guns is not None else self.guns:
            w = wanted.get(g.id)
            if w is None:
                continue
            if force or g.limit_written_w != w or (refresh and now - g.limit_written_at >= REFRESH_S):
                out.append(LimitWrite(g, w))
        # Decreases first: while limits move, the sum must never exceed what was decided.
        out.sort(key=lambda lw: lw.watts - (lw.gun.limit_written_w if lw.gun.limit_written_w is not None else 0))
        return out

    def start_cap(self, d: Decision, gun_id: str) -> tuple[int | None, int | None]:
        """(session cap, first limit) for a session starting now on this gun, or (None, None).
        `d` must be decided now, with every start under way marked as starting."""
        if not d.may_start or gun_id not in d.start_caps:
            return None, None
        cap = d.start_caps[gun_id]
        return cap, d.start_limits.get(gun_id, cap)

    def refusal_reason(self, d: Decision) -> str:
        """Why a start is refused under `d`, as `start_refused` events say it."""
        return "failsafe" if d.level == Level.FAILSAFE else "blocked_by_load"

    @property
    def level(self) -> Level:
        return self.state.level
