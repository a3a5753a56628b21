"""The status view: the station's live picture as one JSON-ready dict (the local status page,
`/api/status`, `jc-gateway status` and the cloud telemetry all read it).

    view = StatusView(config, clock, control, meter_rt, piles, guns, sessions, store, loops, sync=..., started_at=clock.time())
    view.status()
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.cache import Store
from edge.clock import Clock
from edge.config import StationConfig
from edge.control import LoadController
from edge.pairing import recent_codes
from edge.runtime import BusLoop, GunRuntime, MeterRuntime, PileRuntime
from edge.sessions import SessionManager
from jcproto.tariff import Tariff, TariffError

VERSION = "0.1.0"


class StatusView:
    def __init__(
        self,
        config: StationConfig,
        clock: Clock,
        control: LoadController,
        meter_rt: MeterRuntime,
        piles: dict[str, PileRuntime],
        guns: dict[str, GunRuntime],
        sessions: SessionManager,
        store: Store,
        loops: dict[str, BusLoop],
        sync: Callable[[], Any],
        started_at: float,
    ) -> None:
        self.config = config
        self.clock = clock
        self.started_at = started_at
        self.control = control
        self.meter_rt = meter_rt
        self.piles = piles
        self.guns = guns
        self.sessions = sessions
        self.store = store
        self.loops = loops
        self._sync = sync  # the cloud link is attached after the station is built

    def now_ms(self) -> int:
        return int(self.clock.time() * 1000)

    def status(self) -> dict[str, Any]:
        d = self.control.decision
        m = self.meter_rt
        now = self.clock.monotonic()
        sync = self._sync()
        guns = []
        for g in self.guns.values():
            r = g.reading
            guns.append(
                {
                    "id": g.id,
                    "pile": g.pile_id,
                    "state": g.state.value,
                    "faults": sorted(g.faults),
                    "power_w": g.power_w,
                    "limit_w": g.limit_written_w,
                    "rated_power_w": g.rated_power_w,
                    "energy_wh": r.energy_total_wh if r else None,
                    "soc": r.soc_pct if r else None,
                    "free_vend": g.free_vend,
                    "age_s": round(now - g.read_at, 1) if g.read_at is not None else None,
                    "session": self.sessions.summary(g.id),
                    "idle": self.sessions.release.summary(g.id),
                }
            )
        ob = self.store.outbox
        return {
            "station": {
                "id": self.config.station.id,
                "name": self.config.station.name,
                "version": VERSION,
                "started_at": int(self.started_at * 1000),
                "uptime_s": int(self.clock.time() - self.started_at),
                "time": self.now_ms(),
            },
            "load": {
                "level": d.level.value if d else "failsafe",
                "load_pct": round(d.load_pct, 2) if d and d.load_pct is not None else None,
                "may_start": d.may_start if d else False,
                "reason": d.reason if d else "starting",
                "rated_kva": self.control.rated_kva,
                "policy": self.control.policy.mode,
                "cap_above_pct": self.control.policy.cap_above_pct,
                "block_above_pct": self.control.policy.block_above_pct,
                "emergency_above_pct": self.control.policy.emergency_above_pct,
                "shed_w": dict(d.shed) if d else {},
            },
            "meter": {
                "s_total_va": m.s_total_va,
                "age_s": round(now - m.good_at, 1) if m.good_at is not None else None,
                "lost": m.lost,
                "error": m.last_error,
                "p_total_w": m.reading.p_total_w if m.reading else None,
                "voltages_v": list(m.reading.voltages_v) if m.reading else None,
                "currents_a": list(m.reading.currents_a) if m.reading else None,
                "frequency_hz": m.reading.frequency_hz if m.reading else None,
                "pf_total": m.reading.pf_total if m.reading else None,
                "energy_import_wh": m.reading.energy_import_wh if m.reading else None,
            },
            "guns": guns,
            "piles": [
                {
                    "id": p.id,
                    "unit": p.config.unit,
                    "bus": p.config.bus,
                    "lost": p.lost,
                    "profile": p.config.profile,
                    "serial": p.info.serial if p.info else None,
                    "firmware": p.info.firmware if p.info else None,
                }
                for p in self.piles.values()
            ],
            "outbox": {"depth": ob.depth(), "last_seq": ob.last_seq(), "acked_seq": ob.acked_seq()},
            "sync": sync.status() if sync is not None else {"configured": False},
            "alarms": [
                {"key": a.key, "message": a.message, "since": a.raised_at}
                for a in self.store.alarms.active()
            ],
            "tariffs": self.tariffs(),
            "pairing_codes": recent_codes(self.store, self.now_ms()),
            "buses": [
                {
                    "name": name,
                    "address": b.config.address,
                    "cycles": b.cycles,
                    "last_cycle_ms": round(b.last_cycle_s * 1000, 1),
                    "max_cycle_ms": round(b.max_cycle_s * 1000, 1),
                    **b.bus.stats(),
                }
                for name, b in self.loops.items()
            ],
        }

    def tariffs(self) -> dict[str, Any]:
        """The tariff in force and the scheduled ones still to come (store schema v4), each
        with the instant it takes effect as epoch ms and as the station's local time."""
        settings, now = self.store.settings, self.now_ms()
        tz = self.config.station.timezone
        zone = ZoneInfo(tz)
        entry = settings.tariff_entry(now)
        if entry is not None:
            in_force = tariff_view(entry.body, entry.effective_from, zone)
        else:  # none scheduled, or a store salvaged from before v4 with its one tariff
            body = settings.tariff(now)
            in_force = tariff_view(body, None, zone) if body is not None else None
        return {
            "timezone": tz,
            "in_force": in_force,
            "pending": [
                tariff_view(e.body, e.effective_from, zone) for e in settings.pending_tariffs(now)
            ],
        }


def tariff_view(body: dict[str, Any], effective_from: int | None, zone: ZoneInfo) -> dict[str, Any]:
    """A stored tariff for people: its id, when it takes effect (local "YYYY-MM-DD HH:MM"),
    its periods with the electricity and service prices in CNY per kWh × 10,000."""
    local = (
        None
        if effective_from is None
        else datetime.fromtimestamp(effective_from / 1000, zone).strftime("%Y-%m-%d %H:%M")
    )
    try:
        t = Tariff.from_dict(body)
        periods = [
            {
                "name": p.name,
                "start": p.start,
                "end": p.end,
                "energy_price_e4": p.energy_price_e4,
                "service_price_e4": p.service_price_e4,
            }
            for p in t.periods
        ]
    except (TariffError, TypeError, ValueError, KeyError):  # kept as given; the page still names it
        periods = []
    return {
        "tariff_id": str(body.get("id", "")),
        "effective_from": effective_from,
        "effective_local": local,
        "periods": periods,
    }
