"""Transformer load control in the loop: snapshot → `loadctl.decide` → limits to write.

The decision itself is pure (edge/loadctl); this module builds its input from the live
picture, keeps its state from tick to tick, and says which power limit each gun should hold.
Idle guns hold the cap a new session would get (0 while starts are blocked), so a session
that starts at the pile itself is capped from its first second too.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.clock import Clock
from edge.loadctl import (
    Decision,
    GunSnapshot,
    Level,
    LoadState,
    MeterSample,
    Policy,
    StationSnapshot,
    decide,
)
from edge.runtime import GunRuntime, MeterRuntime, StationEvent
from edge.sessions import SessionManager

REFRESH_S = 60.0  # rewrite an unchanged limit this often (a pile may have rebooted)


@dataclass(frozen=True)
class LimitWrite:
    gun: GunRuntime
    watts: int


class LoadController:
    def __init__(self, policy: Policy, rated_kva: float, meter: MeterRuntime, guns: list[GunRuntime],
                 sessions: SessionManager, clock: Clock) -> None:
        self.policy = policy
        self.rated_kva = rated_kva
        self.meter = meter
        self.guns = guns
        self.sessions = sessions
        self.clock = clock
        self.state = LoadState.initial(clock.monotonic())
        self.decision: Decision | None = None
        self.alarms: set[str] = set()
        # The level last recorded as an event, kept across restarts (the station persists
        # it), so that a restart does not record the same level change again.
        self.recorded_level: str | None = None

    def snapshot(self) -> StationSnapshot:
        m = self.meter
        sample = None
        if m.good_at is not None and m.s_total_va is not None:
            p = m.reading.p_total_w if m.reading and m.reading.p_total_w is not None else m.s_total_va
            sample = MeterSample(taken_at=m.good_at, s_total_va=m.s_total_va, p_total_w=p)
        guns = []
        for g in self.guns:
            row = self.sessions.session_on(g.id)
            live = self.sessions.live(row.session_id) if row else None
            guns.append(GunSnapshot(
                gun=g.id, state=g.state, rated_power_w=g.rated_power_w, min_power_w=g.min_power_w,
                power_w=g.power_w, session_active=self.sessions.active_on(g.id),
                session_cap_w=row.power_cap_w if row else None, priority=g.priority,
                starting=self.sessions.starting_on(g.id),
                started_at=live.started_mono if live else None))
        return StationSnapshot(rated_kva=self.rated_kva, meter=sample, guns=tuple(guns), previous=self.state)

    def decide(self) -> tuple[Decision, list[StationEvent]]:
        d = decide(self.snapshot(), self.policy, self.clock.monotonic())
        events: list[StationEvent] = []
        self.state = d.state
        self.decision = d
        if d.level.value != self.recorded_level:
            pct = round(d.load_pct, 2) if d.load_pct is not None else None
            events.append(StationEvent("load_level", None, {"level": d.level.value, "load_pct": pct,
                                                             "from": self.recorded_level, "reason": d.reason}))
            self.recorded_level = d.level.value
        return d, events

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

    def writes(self, d: Decision, guns: list[GunRuntime] | None = None, force: bool = False) -> list[LimitWrite]:
        """Limits that differ from what was last written (or are due for a refresh)."""
        now = self.clock.monotonic()
        wanted = self.targets(d)
        out = []
        for g in guns if guns is not None else self.guns:
            w = wanted.get(g.id)
            if w is None:
                continue
            if force or g.limit_written_w != w or now - g.limit_written_at >= REFRESH_S:
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

    @property
    def level(self) -> Level:
        return self.state.level
