"""factory-boy factories for the reports' seeded data, and a seeded day set: drivers,
stations with guns and live state, charging sessions, and orders that move through the real
order service and ledger (top-up, hold, settle) at chosen times."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy.orm import Session

from cloud.drivers.models import Driver
from cloud.ledger import service as ledger
from cloud.models import ChargingSession, Gun, Station, StationState
from cloud.orders import service as orders
from cloud.orders.machine import Event
from cloud.orders.service import Line

SH = ZoneInfo("Asia/Shanghai")
# The reports' "now" in the tests: mid-month, mid-morning, in Shanghai.
NOW_DT = datetime(2026, 3, 15, 10, 30, tzinfo=SH)
NOW = int(NOW_DT.timestamp() * 1000)


def ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"


class DriverFactory(_Base):
    class Meta:
        model = Driver

    appid = "wx-reports"
    openid = factory.Sequence(lambda n: f"openid-{n}")
    nickname = factory.Sequence(lambda n: f"司机{n}")
    created_at = NOW
    updated_at = factory.SelfAttribute("created_at")
    last_login_at = factory.SelfAttribute("created_at")


class StationFactory(_Base):
    class Meta:
        model = Station

    sid = factory.Sequence(lambda n: f"ST{n:03d}")
    name = factory.LazyAttribute(lambda o: f"电站 {o.sid}")


class StationStateFactory(_Base):
    class Meta:
        model = StationState

    sid = "ST000"
    online = True
    claimed_online = True


class GunFactory(_Base):
    class Meta:
        model = Gun

    sid = "ST000"
    gun_id = factory.Sequence(lambda n: f"P{n}-1")
    pile_id = factory.LazyAttribute(lambda o: o.gun_id.split("-")[0])
    state = "idle"


class SessionFactory(_Base):
    class Meta:
        model = ChargingSession

    session_id = factory.Sequence(lambda n: f"sess-{n:06d}")
    sid = "ST000"
    gun = "P0-1"
    status = "ended"
    energy_start_wh = 1_000_000
    energy_stop_wh = factory.LazyAttribute(lambda o: o.energy_start_wh + 12_345)
    energy_wh = factory.SelfAttribute("energy_stop_wh")
    started_at = NOW - 3_600_000
    ended_at = factory.LazyAttribute(lambda o: o.started_at + 1_800_000)


@dataclass
class Clock:
    """The ledger's clock in the tests (it stamps its transactions with now_ms())."""

    t: int = NOW

    def __call__(self) -> int:
        return self.t


@dataclass
class Seeded:
    sids: list[str]
    drivers: list[str] = field(default_factory=list)
    topups: list[tuple[int, int]] = field(default_factory=list)  # (at, fen)
    settled: list[tuple[str, str, int, dict[str, int]]] = field(default_factory=list)  # order, sid, at, fees


def bind(s: Session) -> None:
    for f in (DriverFactory, StationFactory, StationStateFactory, GunFactory, SessionFactory):
        f._meta.sqlalchemy_session = s


def settle_order(s: Session, clock: Clock, *, order_id: str, driver: str, sid: str, at: int,
                 fees: dict[str, int], energy_wh: int) -> None:
    """An order through the real service: created, started, ended and billed at `at`."""
    clock.t = at
    orders.create(s, order_id=order_id, driver_id=driver, sid=sid, gun="P0-1", limit_mode="amount",
                  limit_value=5000, hold_fen=5000, now=at - 3_600_000)
    for e in (Event.START_SENT, Event.SESSION_STARTED, Event.SESSION_ENDED):
        orders.apply(s, order_id, e, now=at - 1_000)
    lines = [Line("electricity", fees["electricity"], "平", energy_wh),
             Line("service", fees["service"], "平", energy_wh)]
    if fees["idle"]:
        lines.append(Line("idle", fees["idle"]))
    orders.apply(s, order_id, Event.BILLED, lines=lines, now=at)


def seed(s: Session, patch_clock: Callable[[Clock], None], *, seed_no: int = 7) -> Seeded:
    """Three stations (one offline), 40 drivers, their top-ups, 60 settled orders and some
    open or cancelled ones, 150 sessions: times around today, the same day a month and a year
    ago, and anywhere over the last 14 months (a few after `NOW`, which no figure may count)."""
    rnd = random.Random(seed_no)
    bind(s)
    clock = Clock()
    patch_clock(clock)
    sids = ["ST000", "ST001", "ST002"]
    for i, sid in enumerate(sids):
        StationFactory(sid=sid)
        StationStateFactory(sid=sid, online=i != 2)
        for g, state in enumerate(["idle", "charging", "faulted", None][: 2 + i]):
            GunFactory(sid=sid, gun_id=f"P{g}-1", state=state)
    anchors = [NOW_DT, NOW_DT - timedelta(days=28), datetime(2026, 2, 15, 9, tzinfo=SH),
               datetime(2025, 3, 15, 8, tzinfo=SH), datetime(2026, 3, 1, 0, 0, tzinfo=SH),
               datetime(2026, 2, 1, 0, 0, tzinfo=SH)]

    def when() -> int:
        if rnd.random() < 0.6:
            base = rnd.choice(anchors)
            return ms(base) + rnd.randint(-12 * 3_600_000, 12 * 3_600_000)
        return NOW - rnd.randint(-2 * 86_400_000, 430 * 86_400_000)

    out = Seeded(sids)
    for _ in range(40):
        d = DriverFactory(created_at=when())
        out.drivers.append(str(d.id))
    for i in range(60):
        driver = rnd.choice(out.drivers)
        at = when()
        clock.t = at - 7_200_000
        amount = rnd.randint(10, 30) * 1000
        ledger.top_up(s, driver, amount, key=f"topup-{i}")
        out.topups.append((clock.t, amount))
        fees = {"electricity": rnd.randint(0, 4000), "service": rnd.randint(0, 2000),
                "idle": rnd.choice([0, 0, 300])}
        sid = rnd.choice(sids)
        settle_order(s, clock, order_id=f"ord-{i:04d}", driver=driver, sid=sid, at=at, fees=fees,
                     energy_wh=rnd.randint(100, 60_000))
        out.settled.append((f"ord-{i:04d}", sid, at, fees))
    for i in range(6):  # open and cancelled orders: in no revenue figure
        driver = rnd.choice(out.drivers)
        clock.t = when()
        ledger.top_up(s, driver, 5000, key=f"topup-open-{i}")
        out.topups.append((clock.t, 5000))
        orders.create(s, order_id=f"open-{i}", driver_id=driver, sid=rnd.choice(sids), gun="P0-1",
                      limit_mode="amount", limit_value=5000, hold_fen=5000, now=clock.t)
        if i % 2:
            orders.apply(s, f"open-{i}", Event.CANCEL, now=clock.t + 1000)
    for i in range(150):
        end = when()
        start = end - rnd.randint(60_000, 5 * 3_600_000)
        kw = {}
        if i % 10 == 0:
            kw = {"energy_stop_wh": None, "energy_wh": 1_000_000 + rnd.randint(0, 5000)}
        SessionFactory(sid=rnd.choice(sids), started_at=start, ended_at=end,
                       energy_start_wh=1_000_000, **({"energy_stop_wh": 1_000_000 + rnd.randint(0, 80_000)}
                                                     | kw))
    for _ in range(5):  # still running: no end, in no figure
        SessionFactory(sid=sids[0], status="running", ended_at=None, energy_stop_wh=None)
    s.flush()
    return out


def patch_ledger_clock(mp) -> Callable[[Clock], None]:  # noqa: ANN001  (pytest.MonkeyPatch)
    def apply(clock: Clock) -> None:
        mp.setattr(ledger, "now_ms", clock)
    return apply
