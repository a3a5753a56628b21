"""cloud.tariffs.service on a migrated database: versions are immutable, the tariff in force
at an instant follows the station's assignments, and the price now/next crosses both period
boundaries and scheduled tariff changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from cloud.models import Station
from cloud.tariffs import service
from cloud.tariffs.service import TariffServiceError

TZ = ZoneInfo("Asia/Shanghai")


def ms(y: int, mo: int, d: int, h: int, mi: int = 0) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp() * 1000)


def body(peak_e4: int = 12000, valley_e4: int = 3500) -> dict:
    return {"currency": "CNY", "periods": [
        {"start": "00:00", "end": "08:00", "name": "valley", "energy_price_e4": valley_e4, "service_price_e4": 4000},
        {"start": "08:00", "end": "22:00", "name": "peak", "energy_price_e4": peak_e4, "service_price_e4": 6000},
        {"start": "22:00", "end": "24:00", "name": "valley", "energy_price_e4": valley_e4, "service_price_e4": 4000},
    ]}


@pytest.fixture
def s(engine: Engine):
    with Session(engine) as session:
        session.add(Station(sid="S1", name="一号站"))
        session.flush()
        yield session


def test_versions_are_numbered_and_bodies_canonical(s: Session) -> None:
    v1 = service.create(s, body(), code="std", name="标准")
    v2 = service.create(s, {**body(13000), "id": "ignored"}, code="std")
    assert (v1.tariff_id, v2.tariff_id) == ("std-v1", "std-v2")
    assert v2.body["id"] == "std-v2" and v2.body["periods"][1]["energy_price_e4"] == 13000
    assert [v.version for v in service.versions(s, "std")] == [1, 2]


@pytest.mark.parametrize("bad", [{"periods": []}, {"periods": "x"}, [], {"periods": [{"start": "00:00"}]},
                                 {**body(), "currency": "USD"}])
def test_invalid_bodies_are_refused(s: Session, bad: object) -> None:
    with pytest.raises(TariffServiceError) as e:
        service.create(s, bad, code="std")  # type: ignore[arg-type]
    assert e.value.code == "invalid_tariff"


def test_the_reservation_fee_is_versioned_and_never_in_the_body_the_gateway_gets(s: Session) -> None:
    from jcproto import build_command

    free = service.create(s, body(), code="std")
    v2 = service.create(s, {**body(), "reservation": {"fee_e4": 20_000, "per_minute_e4": 125}}, code="std")
    v3 = service.create(s, {**body(), "reservation": {"per_minute_e4": 300}}, code="std")
    assert [service.reservation_of(v) for v in (free, v2, v3)] == [
        {"fee_e4": 0, "per_minute_e4": 0}, {"fee_e4": 20_000, "per_minute_e4": 125}, {"fee_e4": 0, "per_minute_e4": 300}]
    for v in (free, v2, v3):  # the protocol's tariff object as before: set_tariff is built and checked by jcproto
        assert "reservation" not in v.body
        build_command("set_tariff", {"tariff": v.body}, expires_at=2_000_000_000_000)
    assert v2.body == {**free.body, "id": v2.tariff_id}
    service.assign(s, "S1", v2.tariff_id, effective_from=ms(2026, 1, 1, 0), backdate=True)
    service.assign(s, "S1", v3.tariff_id, effective_from=ms(2026, 2, 1, 0), backdate=True)
    s.flush()
    s.expire_all()  # read back from the database: a new version left the older ones' fees alone
    old = service.version_in_force(s, "S1", ms(2026, 1, 15, 9))
    new = service.version_in_force(s, "S1", ms(2026, 2, 15, 9))
    assert old is not None and new is not None and (old.tariff_id, new.tariff_id) == (v2.tariff_id, v3.tariff_id)
    assert service.reservation_of(old) == {"fee_e4": 20_000, "per_minute_e4": 125}
    assert service.reservation_of(new) == {"fee_e4": 0, "per_minute_e4": 300}


@pytest.mark.parametrize("bad", [{"fee_e4": -1}, {"per_minute_e4": 1_000_001}, {"fee_e4": 10_000_001},
                                 {"fee_e4": 1.5}, {"fee_e4": True}, {"fen": 100}, [100], "1.00"])
def test_invalid_reservation_fees_are_refused(s: Session, bad: object) -> None:
    with pytest.raises(TariffServiceError) as e:
        service.create(s, {**body(), "reservation": bad}, code="std")
    assert e.value.code == "invalid_reservation_fee"
    assert service.versions(s, "std") == []


def test_in_force_follows_assignments_history_is_kept(s: Session) -> None:
    v1 = service.create(s, body(), code="std")
    v2 = service.create(s, body(15000), code="std")
    service.assign(s, "S1", v1.tariff_id, effective_from=ms(2026, 1, 1, 0), backdate=True)
    service.assign(s, "S1", v2.tariff_id, effective_from=ms(2026, 6, 1, 0), backdate=True)
    assert service.in_force(s, "S1", ms(2025, 12, 31, 23)) is None
    assert service.in_force(s, "S1", ms(2026, 3, 1, 12)).id == "std-v1"
    assert service.in_force(s, "S1", ms(2026, 6, 1, 0)).id == "std-v2"
    with pytest.raises(TariffServiceError) as e:
        service.assign(s, "S1", v2.tariff_id, effective_from=ms(2026, 1, 1, 0), backdate=True)
    assert e.value.code == "history"
    with pytest.raises(TariffServiceError):
        service.assign(s, "S404", v1.tariff_id)
    with pytest.raises(TariffServiceError):
        service.assign(s, "S1", "nope-v1")


def test_prices_now_and_next_cross_boundaries_and_changes(s: Session) -> None:
    v1 = service.create(s, body(), code="std")
    v2 = service.create(s, body(15000), code="std")
    service.assign(s, "S1", v1.tariff_id, effective_from=ms(2026, 1, 1, 0), backdate=True)
    service.assign(s, "S1", v2.tariff_id, effective_from=ms(2026, 6, 1, 9), backdate=True)
    now, nxt = service.prices_at(s, "S1", ms(2026, 3, 1, 7, 30))
    assert (now.period.name, now.end, nxt.period.name, nxt.period.energy_price_e4) == \
        ("valley", ms(2026, 3, 1, 8), "peak", 12000)
    assert nxt.end == ms(2026, 3, 1, 22)
    now, nxt = service.prices_at(s, "S1", ms(2026, 6, 1, 8, 30))  # the change comes first
    assert (now.tariff_id, now.end, nxt.tariff_id, nxt.period.energy_price_e4) == \
        ("std-v1", ms(2026, 6, 1, 9), "std-v2", 15000)
    assert service.prices_at(s, "S404", ms(2026, 6, 1, 8)) is None


def test_due_pushes_newest_in_force_per_station(s: Session) -> None:
    v1 = service.create(s, body(), code="std")
    v2 = service.create(s, body(15000), code="std")
    a1 = service.assign(s, "S1", v1.tariff_id, effective_from=1_000, backdate=True)
    a2 = service.assign(s, "S1", v2.tariff_id, effective_from=2_000, backdate=True)
    assert [r.id for r in service.due_pushes(s, 1_500)] == [a1.id]
    assert [r.id for r in service.due_pushes(s, 2_500)] == [a2.id]
    service.mark_pushed(s, a2.id, 2_600)
    assert service.due_pushes(s, 3_000) == []
