"""A session manager on a fake clock and a real store, with a pile whose registers the test
sets: the rig of the session money tests."""

from __future__ import annotations

from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric import ec

from edge.cache import Store
from edge.clock import FakeClock
from edge.drivers.base import CommandResult, GunReading
from edge.gunstate import GunState
from edge.records import KeySigner
from edge.runtime import GunRuntime, PileRuntime
from edge.sessions import SessionManager
from jcproto import Limit, parse_record
from jcproto.tariff import Tariff

WALL0 = 1_780_272_000.0  # 2026-06-01 08:00 +08:00
TARIFF = {"id": "t-e4", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "12:00", "name": "flat", "energy_price_e4": 6855, "service_price_e4": 4000},
    {"start": "12:00", "end": "24:00", "name": "peak", "energy_price_e4": 10_555, "service_price_e4": 4000}],
    "idle": {"grace_min": 10, "step_min": 15, "fen_per_step": 150, "cap_fen": 1_000}}


KEY = KeySigner(ec.generate_private_key(ec.SECP256R1()))


class Pile:
    """The pile seen through its driver: one gun whose registers the test sets."""

    def __init__(self) -> None:
        self.counter, self.energy, self.state = 7, 500_000, GunState.PLUGGED
        self.tag: int | None = None
        self.stops = 0

    def reading(self, **kw) -> GunReading:
        values = dict(gun=1, state=self.state, energy_total_wh=self.energy, session_counter=self.counter,
                      session_tag=self.tag, power_w=7_000 if self.state == GunState.CHARGING else 0)
        return GunReading(**{**values, **kw})

    async def start(self, n, *, tag, energy_limit_wh, time_limit_s, power_limit_w):
        self.counter, self.tag, self.state = self.counter + 1, tag, GunState.CHARGING
        self.limits = (energy_limit_wh, time_limit_s)
        return CommandResult.ACCEPTED

    async def read_gun(self, n):
        return self.reading()


class Rig:
    def __init__(self, path, clock: FakeClock, pile: Pile) -> None:
        self.path, self.clock, self.pile = path, clock, pile
        self.gun = GunRuntime(id="P1-1", pile_id="P1", n=1, rated_power_w=7000, min_power_w=1400)
        self.open()

    def open(self) -> None:
        """(Re)start the gateway's session side on the same store: a restart."""
        self.store = Store.open(self.path, clock=self.clock)
        pr = PileRuntime(SimpleNamespace(id="P1"), self.pile)  # type: ignore[arg-type]
        pr.guns = [self.gun]
        self.sm = SessionManager(self.store, self.clock, {"P1": pr}, KEY)
        self.sm.load()

    def restart(self, down_s: float = 0.0) -> None:
        self.store.close()
        self.clock.advance(down_s)
        self.open()

    def poll(self) -> list:
        r = self.pile.reading()
        self.gun.apply(r, self.clock.monotonic())
        return self.sm.observe(self.gun, r)

    async def start(self, limit: Limit, tariff: dict | None = None):
        r = self.pile.reading()
        self.gun.apply(r, self.clock.monotonic())
        return await self.sm.start("P1-1", auth="card:C1", limit=limit,
                                   tariff=Tariff.from_dict(tariff) if tariff else None,
                                   cap_w=7000, start_limit_w=7000)

    def charge(self, minutes: int, wh_per_min: int = 100) -> None:
        for _ in range(minutes):
            self.clock.advance(60)
            self.pile.energy += wh_per_min
            self.poll()

    def records(self, type_: str) -> list[dict]:
        return [parse_record(r.to_wire()).to_dict() for r in self.store.outbox.batch(after_seq=0, limit=10_000)
                if r.type == type_]

    def alarm(self) -> bool:
        a = self.store.alarms.get("no_tariff")
        return a is not None and a.active
