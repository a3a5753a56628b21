"""A session's records built the way the gateway builds them (edge/sessions.py, edge/records.py,
edge/release.py), through jcproto's record dataclasses, signed like `append_signed_end`.

The gateway reads the gun every poll; it writes a `session_progress` record every 60 s and at
the first poll at or past each period boundary, the reading of each such record being a point
of the session; its `cost_fen` is the session's tariff replayed over those points from the
start register to the stop register (jcproto `CostMeter.replay`), and the idle fee
jcproto's `idle_fen` from the end to the unplug."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from jcproto import Limit, with_signature
from jcproto.records import GunReleased, SessionEnded, SessionProgress, SessionStarted
from jcproto.tariff import CostMeter, Tariff, idle_fen

PROGRESS_EVERY_MS = 60_000  # edge.sessions.PROGRESS_EVERY_MS


@dataclass
class SimSession:
    session_id: str
    records: list[dict[str, Any]]  # seq order
    started_at: int
    ended_at: int
    energy_start_wh: int
    energy_stop_wh: int
    cost_fen: int
    idle_fen: int
    points: list[tuple[int, int]] = field(default_factory=list)
    live_cost_fen: int = 0  # the gateway's running meter (fed every poll)

    def by_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] == kind]


def simulate(tariff: Tariff, *, start_ts: int, start_wh: int, polls: list[tuple[int, int]],
             seq: int = 1, gun: str = "P1-1", order_id: str | None = None,
             key: ec.EllipticCurvePrivateKey | None = None, release_after_ms: int | None = None,
             session_id: str | None = None) -> SimSession:
    """`polls`: (ms since the previous poll, power W) of each reading until the end."""
    session_id = session_id or str(uuid.uuid4())
    out: list[dict[str, Any]] = []

    def add(rec: Any) -> dict[str, Any]:
        nonlocal seq
        data = {**rec.to_dict(), "seq": seq}
        seq += 1
        out.append(data)
        return data

    add(SessionStarted(seq=0, ts=start_ts, session_id=session_id, gun=gun, order_id=order_id,
                       auth="remote" if order_id else "card", energy_start_wh=start_wh,
                       limit=Limit(mode="full"), power_cap_w=max([p for _, p in polls] + [1])))
    live = CostMeter(tariff, start_ts, start_wh)
    ts, wh, mwh = start_ts, start_wh, 0  # mwh: the register's fraction, in mWh
    last_progress, boundary = start_ts, tariff.next_boundary(start_ts)
    points: list[tuple[int, int]] = []
    for dt, power in polls:
        ts += dt
        mwh += power * dt // 3600  # W × ms / 3600 = mWh
        wh, mwh = wh + mwh // 1000, mwh % 1000
        live.feed(ts, wh)
        if ts - last_progress >= PROGRESS_EVERY_MS or (boundary is not None and ts >= boundary):
            points.append((ts, wh))
            add(SessionProgress(seq=0, ts=ts, session_id=session_id, energy_wh=wh, power_w=power,
                                cost_fen=live.cost_fen))
            last_progress, boundary = ts, tariff.next_boundary(ts)
    ended_at = ts
    cost = CostMeter.replay(tariff, start_ts, start_wh, [*points, (ended_at, wh)]).cost_fen
    end = {**SessionEnded(seq=0, ts=ended_at, session_id=session_id, energy_start_wh=start_wh,
                          energy_stop_wh=wh, started_at=start_ts, ended_at=ended_at,
                          stop_reason="ev_full", cost_fen=cost, signature="", gun=gun).to_dict(),
           "seq": seq}
    seq += 1
    end["signature"] = ""
    out.append(with_signature(end, key) if key is not None else {**end, "signature": "AAAAAAAAAAAA"})
    fee = 0
    if release_after_ms is not None:
        released_at = ended_at + release_after_ms
        fee = idle_fen(tariff.idle, ended_at, released_at)
        add(GunReleased(seq=0, ts=released_at, session_id=session_id, gun=gun,
                        released_at=released_at, idle_fen=fee))
    return SimSession(session_id, out, start_ts, ended_at, start_wh, wh, cost, fee, points,
                      live.cost_fen)
