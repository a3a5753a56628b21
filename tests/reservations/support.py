"""Helpers of the reservation tests: a station with guns, live state and a tariff; a station
side answering commands as the gateway does (commands checked against the protocol)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandTimeout
from cloud.ledger import service as ledger
from cloud.models import StationState
from cloud.reservations import service
from cloud.stations import service as stations
from cloud.tariffs import service as tariffs
from jcproto import ErrorCode, Reply, build_command

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
MIN = 60_000
IDLE = {"grace_min": 15, "step_min": 10, "fen_per_step": 50, "cap_fen": 300}
TARIFF = {"currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 2000}],
    "idle": IDLE}  # fmt: skip
SETTINGS = service.ReservationSettings(offline_after_ms=90_000, pending_grace_ms=120_000, release_grace_ms=120_000)


def transactions(engine: Engine) -> Callable[[], Any]:
    return sessionmaker(engine).begin


def seed_station(s: Session, sid: str, guns: dict[str, str], *, last_seen: int = T0, online: bool = True,
                 rule: dict[str, Any] | None = None, lat: float = 31.23, lng: float = 121.47) -> None:
    stations.set_station(s, sid, name=f"站{sid}", lat=lat, lng=lng)
    for gun in guns:
        stations.set_gun(s, sid, gun, code=f"{sid}-{gun}", name=f"{gun} 号枪", kind="dc")
    set_telemetry(s, sid, guns, ts=last_seen, online=online)
    t = tariffs.create(s, TARIFF, code=f"t{sid}".replace("-", "")[:40])
    tariffs.assign(s, sid, t.tariff_id, effective_from=0, backdate=True)
    if rule is not None:
        service.set_rule(s, sid, rule, actor="test")


def set_telemetry(s: Session, sid: str, guns: dict[str, str], *, ts: int, online: bool = True) -> None:
    st = s.get(StationState, sid) or StationState(sid=sid)
    st.online, st.claimed_online, st.last_seen, st.telemetry_ts = online, online, ts, ts
    st.telemetry = {"v": 1, "ts": ts, "transformer": None,
                    "guns": [{"id": g, "state": state, "power_w": 0, "limit_w": None, "energy_wh": 0,
                              "session_id": None, "soc": None} for g, state in guns.items()]}
    s.add(st)
    s.flush()


def top_up(s: Session, driver: str, fen: int, key: str | None = None) -> None:
    ledger.top_up(s, driver, fen, key or f"test:{driver}:{fen}")


@dataclass
class Gateway:
    """The station side of `send`: each command is built through jcproto (a payload the
    protocol refuses fails the test) and answered by `answer` (default: ok), recorded."""

    answer: Callable[[str, dict[str, Any]], Reply | None] | None = None
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, sid: str, type_: str, payload: Any) -> Reply:
        cmd = build_command(type_, dict(payload), expires_at=T0 + 10**9).to_dict()
        with self.lock:
            self.commands.append((sid, cmd))
        reply = self.answer(sid, cmd) if self.answer else None
        if reply is None:
            return Reply.success(cmd["id"], {"reservation_id": cmd.get("reservation_id")})
        return reply


def refuse(code: str) -> Callable[[str, dict[str, Any]], Reply]:
    return lambda _sid, cmd: Reply.failure(cmd["id"], ErrorCode(code), None)


def silent(_sid: str, cmd: dict[str, Any]) -> Reply:
    raise CommandTimeout(f"no reply to {cmd['type']}")


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as s:
        yield s
