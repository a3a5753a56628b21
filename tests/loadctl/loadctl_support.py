"""Builders for load control tests: a 400 kVA transformer, guns in W, loads in %."""

from __future__ import annotations

from edge.gunstate import GunState
from edge.loadctl import GunSnapshot, Level, LoadState, MeterSample, Policy, StationSnapshot

RATED_KVA = 400.0
NOW = 100.0


def va(pct: float, rated_kva: float = RATED_KVA) -> int:
    """S total (VA) for a load in % of the transformer's rating."""
    return round(pct * rated_kva * 10)


def meter(pct: float, age: float = 0.5, now: float = NOW) -> MeterSample:
    s = va(pct)
    return MeterSample(taken_at=now - age, s_total_va=s, p_total_w=int(s * 0.98))


def idle(
    gun: str = "P1-1", rated: int = 60_000, minimum: int = 0, priority: int = 0
) -> GunSnapshot:
    return GunSnapshot(
        gun=gun,
        state=GunState.PLUGGED,
        rated_power_w=rated,
        min_power_w=minimum,
        power_w=0,
        session_active=False,
        priority=priority,
    )


def running(
    gun: str = "P1-1",
    rated: int = 60_000,
    minimum: int = 0,
    power: int = 0,
    cap: int | None = None,
    priority: int = 0,
    started_at: float | None = None,
    starting: bool = False,
) -> GunSnapshot:
    return GunSnapshot(
        gun=gun,
        state=GunState.PLUGGED if starting else GunState.CHARGING,
        rated_power_w=rated,
        min_power_w=minimum,
        power_w=power,
        session_active=not starting,
        session_cap_w=cap,
        priority=priority,
        starting=starting,
        started_at=started_at,
    )


def state(
    level: Level = Level.NORMAL,
    band: Level | None = None,
    since: float = 0.0,
    relax_since: float | None = None,
    limits: dict[str, int] | None = None,
) -> LoadState:
    return LoadState(
        level=level,
        since=since,
        band=band if band is not None else (level if level != Level.FAILSAFE else Level.NORMAL),
        relax_since=relax_since,
        limits=tuple(sorted((limits or {}).items())),
    )


def station(
    pct: float | None,
    guns: tuple[GunSnapshot, ...] = (),
    previous: LoadState | None = None,
    age: float = 0.5,
    rated_kva: float = RATED_KVA,
    now: float = NOW,
) -> StationSnapshot:
    """A station whose meter read `pct` `age` seconds before `now` (None: never read)."""
    return StationSnapshot(
        rated_kva=rated_kva,
        meter=None if pct is None else meter(pct, age, now),
        guns=guns,
        previous=previous if previous is not None else state(),
    )


def policy(**changes: object) -> Policy:
    """The default policy without dwell, unless a test asks for it."""
    changes.setdefault("dwell_s", 0.0)
    return Policy(**changes)  # type: ignore[arg-type]
