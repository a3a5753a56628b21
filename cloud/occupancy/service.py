"""The occupancy forecast kept in the database (plain functions, no Flask request objects):
`refresh` reads the recent sessions and stores every station's profile and the network's
(`cloud/occupancy/forecast.py` does the arithmetic); `profiles` reads them back for a set of
stations in one query. The jobs call `refresh_if_due` every round (job `occupancy`); it works
once per hour.

    refresh(session, now_ms())                       # every station; returns how many
    profs = profiles(session, ["S1", "S2"])          # {sid: Profile}; {} before any refresh
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.orm import Session

from cloud.models import ChargingSession, Gun, Station
from cloud.occupancy.forecast import WEEK_MS, Observed, Profile, Shape, forecast, network, observe
from cloud.occupancy.models import NETWORK, OccupancyProfile

TZ = "Asia/Shanghai"  # the stations' zone (as the console's reports)
SHAPE = Shape()


def refresh(s: Session, now: int, tz: str = TZ, shape: Shape = SHAPE) -> int:
    """Every station's forecast from its sessions of the last `shape.weeks` weeks, stored
    (replacing the previous ones) with the network's. Returns the number of stations.

    The sessions are streamed in station order and folded into each station's 168 shares as
    they come, so memory holds one station's sessions at a time."""
    window = now - shape.weeks * WEEK_MS
    created = dict(s.execute(select(Station.sid, Station.created_at)).all())
    guns = dict(s.execute(select(Gun.sid, func.count()).group_by(Gun.sid)).all())
    first = dict(s.execute(select(ChargingSession.sid, func.min(ChargingSession.started_at))
                           .where(ChargingSession.started_at.is_not(None)).group_by(ChargingSession.sid)).all())

    def since(sid: str) -> int:
        known = [x for x in (created.get(sid), first.get(sid)) if x is not None]
        return min(known) if known else now

    # a session that started before the window may still run into it
    stream = s.execute(
        select(ChargingSession.sid, ChargingSession.gun, ChargingSession.started_at, ChargingSession.ended_at)
        .where(ChargingSession.started_at.is_not(None), ChargingSession.started_at < now,
               ChargingSession.started_at >= window - shape.max_session_ms,
               or_(ChargingSession.ended_at.is_(None), ChargingSession.ended_at > window))
        .order_by(ChargingSession.sid).execution_options(yield_per=5_000))
    observed: dict[str, tuple[Observed, int, int]] = {}
    for sid, group in groupby(stream, key=lambda r: r[0]):
        sessions = [(r[1], r[2], r[3]) for r in group]
        n_guns = guns.get(sid) or len({g for g, _, _ in sessions}) or 1
        obs = observe(((a, b) for _, a, b in sessions), n_guns, since(sid), now, tz, shape)
        observed[sid] = (obs, n_guns, len(sessions))
    for sid in created.keys() - observed.keys():
        n_guns = guns.get(sid) or 1
        observed[sid] = (observe((), n_guns, since(sid), now, tz, shape), n_guns, 0)
    net = network([o for o, _, _ in observed.values()], tz, shape)
    rows = [{"sid": NETWORK, "tz": tz, "slot_s": shape.slot_s, "share": _r(net.share), "evidence": _r(net.evidence),
             "guns": sum(g for _, g, _ in observed.values()), "sessions": sum(n for _, _, n in observed.values()),
             "computed_at": now}]
    for sid in sorted(observed):
        obs, n_guns, n = observed[sid]
        p = forecast(obs, net, shape)
        rows.append({"sid": sid, "tz": tz, "slot_s": shape.slot_s, "share": _r(p.share), "evidence": _r(p.evidence),
                     "guns": n_guns, "sessions": n, "computed_at": now})
    s.execute(delete(OccupancyProfile))
    s.execute(insert(OccupancyProfile), rows)
    return len(observed)


def _r(xs: Sequence[float]) -> list[float]:
    return [round(x, 4) for x in xs]


def computed_at(s: Session) -> int | None:
    return s.scalar(select(OccupancyProfile.computed_at).where(OccupancyProfile.sid == NETWORK))


def refresh_if_due(s: Session, now: int, tz: str = TZ, shape: Shape = SHAPE) -> int:
    """Refresh when the stored forecast is from an earlier hour (or there is none); 0 if not."""
    at = computed_at(s)
    if at is not None and at // 3_600_000 == now // 3_600_000 and at <= now:
        return 0
    return refresh(s, now, tz, shape)


def profiles(s: Session, sids: Sequence[str], *, evidence: bool = False) -> dict[str, Profile]:
    """The stored forecasts of `sids` in one query: a station without a row of its own (new
    since the last refresh) gets the network's, with no evidence of its own. Empty when the
    forecast was never computed. The evidence is read only when asked for (the rankings do
    not need it; decoding it would double the cost)."""
    cols = [OccupancyProfile.sid, OccupancyProfile.tz, OccupancyProfile.slot_s, OccupancyProfile.share]
    if evidence:
        cols.append(OccupancyProfile.evidence)
    rows = {r[0]: r for r in s.execute(select(*cols).where(OccupancyProfile.sid.in_([*sids, NETWORK])))}
    net = rows.get(NETWORK)
    if net is None:
        return {}
    none = (0.0,) * len(net[3])
    out = {}
    for sid in sids:
        r = rows.get(sid)
        if r is not None:
            out[sid] = Profile(tuple(r[3]), tuple(r[4]) if evidence else none, r[1], r[2])
        else:
            out[sid] = Profile(tuple(net[3]), none, net[1], net[2])
    return out
