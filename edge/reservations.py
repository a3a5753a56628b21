"""Reservations the cloud made (`reserve` / `cancel_reservation`), kept in the store so they
outlive restarts, and ended at their `until` also while the cloud is unreachable."""

from __future__ import annotations

import hashlib
import time
from typing import Any, Protocol, runtime_checkable

from edge.cache import Store
from edge.drivers.errors import BusError
from edge.gunstate import GunState
from edge.runtime import GunRuntime, PileRuntime

RESERVATIONS_KEY = "reservations"


@runtime_checkable
class ReservationHost(Protocol):
    """What reservations need of the station: the store they are kept in, its guns, and the
    piles to cancel a reservation on."""

    @property
    def store(self) -> Store: ...

    @property
    def guns(self) -> dict[str, GunRuntime]: ...

    @property
    def piles(self) -> dict[str, PileRuntime]: ...


def cloud_now_ms() -> int:
    """The cloud's idea of now, for command expiry and reservations: real wall time, also when
    a demo runs the station's own clock faster."""
    return int(time.time() * 1000)


def reservation_tag(reservation_id: str) -> int:
    """The pile's session tag for a reservation: stable, non-zero, 32 bits."""
    return int.from_bytes(hashlib.sha256(reservation_id.encode()).digest()[:4], "big") or 1


def reservations(station: ReservationHost) -> dict[str, dict[str, Any]]:
    return dict(station.store.settings.get(RESERVATIONS_KEY) or {})


def reservation_for(station: ReservationHost, gun: str) -> dict[str, Any] | None:
    """The reservation holding `gun` now: while now < `until`, as the cloud counts it (at
    `until` the cloud lets any driver start and books a no-show)."""
    now = cloud_now_ms()
    for r in reservations(station).values():
        if r["gun"] == gun and r["until"] > now:
            return r
    return None


def remember(station: ReservationHost, reservation_id: str, gun: str, until: int, tag: int) -> None:
    res = reservations(station)
    res[reservation_id] = {"reservation_id": reservation_id, "gun": gun, "until": until, "tag": tag}
    station.store.settings.set(RESERVATIONS_KEY, res, durable=True)


def forget(station: ReservationHost, reservation_id: str) -> None:
    res = reservations(station)
    if res.pop(reservation_id, None) is not None:
        station.store.settings.set(RESERVATIONS_KEY, res, durable=True)


async def expire(station: ReservationHost) -> None:
    """Cancel reservations whose time is up (the station's housekeeping, online or not)."""
    now = cloud_now_ms()
    for r in list(reservations(station).values()):
        if r["until"] > now:
            continue
        gun = station.guns.get(r["gun"])
        if gun is not None and gun.state == GunState.RESERVED:
            try:
                await station.piles[gun.pile_id].driver.cancel_reservation(gun.n)
            except BusError:
                continue  # try again next time
        forget(station, r["reservation_id"])
