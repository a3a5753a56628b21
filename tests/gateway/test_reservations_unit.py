"""The gateway's reservations on a real SQLite store: kept across a reopen of the store, and
holding the gun exactly while now < `until`, as the cloud counts it (cloud.reservations:
`live_on_gun`, the expiry at `until`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from edge import reservations
from edge.cache import Store
from edge.clock import FakeClock
from edge.gunstate import GunState

UNTIL = 1_767_225_600_000


@dataclass
class _Pile:
    cancelled: list[int] = field(default_factory=list)

    async def cancel_reservation(self, gun: int) -> Any:
        self.cancelled.append(gun)
        return SimpleNamespace(ok=True)


@dataclass
class _Host:
    store: Store
    pile: _Pile = field(default_factory=_Pile)
    guns: dict[str, Any] = field(default_factory=lambda: {
        "P1-1": SimpleNamespace(state=GunState.RESERVED, pile_id="P1", n=1)})

    @property
    def piles(self) -> dict[str, Any]:
        return {"P1": SimpleNamespace(driver=self.pile)}


@pytest.fixture
def host(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "s.db"
    s = Store.open(path, clock=FakeClock())
    reservations.remember(_Host(s), "rv1", "P1-1", UNTIL, 7)
    s.close()
    s = Store.open(path, clock=FakeClock())  # a restart: the reservation is still there
    yield _Host(s)
    s.close()


async def test_a_reservation_holds_its_gun_until_until_and_not_at_it(host, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(reservations, "cloud_now_ms", lambda: UNTIL - 1)
    assert reservations.reservation_for(host, "P1-1")["tag"] == 7
    await reservations.expire(host)
    assert host.pile.cancelled == [] and "rv1" in reservations.reservations(host)
    monkeypatch.setattr(reservations, "cloud_now_ms", lambda: UNTIL)
    assert reservations.reservation_for(host, "P1-1") is None  # over at `until`, as in the cloud
    await reservations.expire(host)
    assert host.pile.cancelled == [1] and reservations.reservations(host) == {}
