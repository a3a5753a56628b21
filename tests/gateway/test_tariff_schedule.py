"""Scheduled tariffs at the gateway (docs/protocol.md "Scheduled tariffs"), through the real
command path (JSON in, CommandProcessor, handler, SQLite store, remembered reply) and the
real session manager, on a fake clock and with no cloud link at all: a change received ahead
takes over exactly at its instant, survives restarts, prices only sessions that start after
it, and can be replaced or withdrawn."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import pytest

from edge.clock import FakeClock
from edge.gunstate import GunState
from edge.sync.commands import CommandProcessor
from jcproto import Limit
from jcproto.tariff import CostMeter, Tariff
from tests.gateway.money_support import WALL0, Pile, Rig

OLD = {"id": "std-v1", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 4000}]}
NEW = {"id": "std-v2", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 9000, "service_price_e4": 6000}]}
T0 = int(WALL0 * 1000)  # 2026-06-01 08:00 +08:00
CHANGE = T0 + 2 * 3_600_000  # 10:00


@pytest.fixture
def rig(tmp_path):
    r = Rig(tmp_path / "s.db", FakeClock(start_wall=WALL0, autoadvance=True), Pile())
    yield r
    if not r.store.closed:
        r.store.close()


class Gateway:
    """The command side of a station over the rig's store: what `CommandHost` offers to
    set_tariff and cancel_tariff."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.sent: list[dict] = []

    async def send(self, type_: str, cid: str | None = None, **fields) -> dict:
        station = SimpleNamespace(store=self.rig.store, config=SimpleNamespace(station=SimpleNamespace(id="S1")))
        proc = CommandProcessor(station, lambda text: self.sent.append(json.loads(text)) or True)
        cmd = {"v": 1, "id": cid or str(uuid.uuid4()), "type": type_,
               "expires_at": int(time.time() * 1000) + 3_600_000, **fields}
        reply = await proc.handle(json.dumps(cmd).encode())
        assert reply is not None and self.sent[-1]["id"] == cmd["id"]
        return self.sent[-1]


def at(rig: Rig, ms: int) -> None:
    rig.clock.set_wall(ms / 1000)


def tariff_id_now(rig: Rig) -> str | None:
    t = rig.sm.station_tariff()
    return None if t is None else t.id


async def session(rig: Rig, minutes: int) -> dict:
    """A local card session started now, charging 100 Wh a minute, then ended."""
    await rig.start(Limit(mode="full"))
    rig.charge(minutes)
    rig.pile.state, rig.pile.tag = GunState.FINISHING, None
    rig.poll()
    ended = rig.records("session_ended")[-1]
    rig.pile.state = GunState.PLUGGED
    rig.poll()
    return ended


def replay(tariff: dict, rig: Rig, ended: dict) -> int:
    points = [(p["ts"], p["energy_wh"]) for p in rig.records("session_progress")
              if p["session_id"] == ended["session_id"]]
    return CostMeter.replay(Tariff.from_dict(tariff), ended["started_at"], ended["energy_start_wh"],
                            [*points, (ended["ended_at"], ended["energy_stop_wh"])]).cost_fen


async def test_a_change_received_ahead_takes_over_exactly_at_its_instant_without_a_link(rig):
    gw = Gateway(rig)
    first = await gw.send("set_tariff", tariff=OLD)
    assert first["ok"] and first["detail"]["effective_from"] == T0  # no effective_from: from receipt
    reply = await gw.send("set_tariff", tariff=NEW, effective_from=CHANGE)
    assert reply["ok"], reply
    assert reply["detail"] == {"tariff_id": "std-v2", "effective_from": CHANGE,
                               "in_force": {"tariff_id": "std-v1", "effective_from": T0},
                               "pending": [{"tariff_id": "std-v2", "effective_from": CHANGE}]}
    # by the gateway's own clock, to the millisecond
    assert rig.sm.station_tariff(CHANGE - 1).id == "std-v1" and rig.sm.station_tariff(CHANGE).id == "std-v2"
    at(rig, (CHANGE - 1000))
    assert tariff_id_now(rig) == "std-v1"
    at(rig, CHANGE)
    assert tariff_id_now(rig) == "std-v2"
    assert rig.store.settings.pending_tariffs() == []


async def test_a_session_that_straddles_the_change_keeps_its_start_tariff_the_next_one_gets_the_new(rig):
    gw = Gateway(rig)
    await gw.send("set_tariff", tariff=OLD)
    await gw.send("set_tariff", tariff=NEW, effective_from=CHANGE)
    at(rig, CHANGE - 30 * 60_000)
    straddling = await session(rig, 60)  # 09:30 .. 10:30
    assert straddling["started_at"] < CHANGE < straddling["ended_at"]
    assert straddling["tariff_id"] == "std-v1"
    assert straddling["cost_fen"] == replay(OLD, rig, straddling) == 600  # 6 kWh at 1.00 CNY, whole
    after = await session(rig, 60)
    assert after["started_at"] > CHANGE and after["tariff_id"] == "std-v2"
    assert after["cost_fen"] == replay(NEW, rig, after) == 900  # 6 kWh at 1.50 CNY


@pytest.mark.parametrize("down_until", [CHANGE - 600_000, CHANGE + 600_000], ids=["back-before", "back-after"])
async def test_a_restart_between_receipt_and_instant_keeps_the_schedule(rig, down_until):
    gw = Gateway(rig)
    await gw.send("set_tariff", tariff=OLD)
    await gw.send("set_tariff", tariff=NEW, effective_from=CHANGE)
    rig.restart(down_s=(down_until - T0) / 1000)  # power off, back after a while (the store is all it has)
    assert tariff_id_now(rig) == ("std-v1" if down_until < CHANGE else "std-v2")
    at(rig, CHANGE + 1)
    assert tariff_id_now(rig) == "std-v2"
    ended = await session(rig, 10)
    assert ended["tariff_id"] == "std-v2" and ended["cost_fen"] == replay(NEW, rig, ended)


async def test_a_push_for_the_same_instant_replaces_and_a_cancel_withdraws_only_its_version(rig):
    gw = Gateway(rig)
    await gw.send("set_tariff", tariff=OLD)
    await gw.send("set_tariff", tariff=NEW, effective_from=CHANGE)
    corrected = {**NEW, "id": "std-v3"}
    reply = await gw.send("set_tariff", tariff=corrected, effective_from=CHANGE)
    assert reply["detail"]["pending"] == [{"tariff_id": "std-v3", "effective_from": CHANGE}]
    # a cancel of the version replaced meanwhile leaves the replacement
    stale = await gw.send("cancel_tariff", effective_from=CHANGE, tariff_id="std-v2")
    assert stale["ok"] and stale["detail"]["cancelled"] is False
    assert [e.tariff_id for e in rig.store.settings.pending_tariffs()] == ["std-v3"]
    cid = str(uuid.uuid4())
    gone = await gw.send("cancel_tariff", cid, effective_from=CHANGE, tariff_id="std-v3")
    assert gone["ok"] and gone["detail"]["cancelled"] is True and gone["detail"]["was_in_force"] is False
    assert gone["detail"]["pending"] == [] and rig.sm.station_tariff(CHANGE + 1).id == "std-v1"
    # scheduled again; the same cancel command seen again gets its answer and does nothing
    await gw.send("set_tariff", tariff=corrected, effective_from=CHANGE)
    again = await gw.send("cancel_tariff", cid, effective_from=CHANGE, tariff_id="std-v3")
    assert again == gone
    assert [e.tariff_id for e in rig.store.settings.pending_tariffs()] == ["std-v3"]
    # every tariff the station held as in force stays on record
    assert [(e.tariff_id, e.effective_from) for e in rig.store.settings.tariff_history()] == \
        [("std-v1", T0), ("std-v3", CHANGE)]


async def test_a_past_instant_is_the_clouds_schedule_as_it_is(rig):
    gw = Gateway(rig)
    at(rig, CHANGE + 3_600_000)
    await gw.send("set_tariff", tariff=NEW, effective_from=CHANGE)
    late = await gw.send("set_tariff", tariff=OLD, effective_from=T0)  # older: does not displace the newer
    assert late["detail"]["in_force"] == {"tariff_id": "std-v2", "effective_from": CHANGE}
    assert rig.sm.station_tariff(T0 + 1).id == "std-v1"
    # a cancel that comes after its instant still withdraws it, and says it was in force
    gone = await gw.send("cancel_tariff", effective_from=CHANGE)
    assert gone["detail"]["was_in_force"] is True and tariff_id_now(rig) == "std-v1"


async def test_bad_effective_from_is_refused_as_invalid_and_nothing_changes(rig):
    gw = Gateway(rig)
    await gw.send("set_tariff", tariff=OLD)
    bad = await gw.send("set_tariff", tariff=NEW, effective_from="tomorrow")
    assert not bad["ok"] and bad["error"] == "invalid"
    bad = await gw.send("cancel_tariff", tariff_id="std-v1")
    assert not bad["ok"] and bad["error"] == "invalid"
    assert [e.tariff_id for e in rig.store.settings.tariff_history()] == ["std-v1"]
