"""`jc-cloud swap …` on the app's CLI: a station made a swap station, its bay, a pack type and
packs set (audited as `cli`), a bad value refused with nothing changed, `show` as JSON."""

from __future__ import annotations

import json

from flask import Flask
from sqlalchemy import select

from cloud.audit.models import AuditEntry
from cloud.db import db
from cloud.stations import service as stations
from cloud.swap.models import SwapPack


def test_swap_cli_sets_the_stock(app: Flask) -> None:
    runner = app.test_cli_runner()
    with app.app_context(), db.transaction() as s:
        stations.set_station(s, "SWC", name="换电站C", lat=31.2, lng=121.4)
    for args in (["swap", "station", "SWC"], ["swap", "bay", "SWC", "B1", "free"],
                 ["swap", "pack-type", "NIO-75", "--name", "75 kWh", "--kwh", "75"],
                 ["swap", "pack", "SWC", "P1", "--type", "NIO-75", "--state", "ready"],
                 ["swap", "pack", "SWC", "P2", "--type", "NIO-75", "--state", "charging", "--soc", "20",
                  "--ready-in", "30"]):
        r = runner.invoke(args=args)
        assert r.exit_code == 0, (args, r.output)
    r = runner.invoke(args=["swap", "pack", "SWC", "P3", "--type", "NOPE", "--state", "ready"])
    assert r.exit_code != 0 and "type_code" in r.output
    r = runner.invoke(args=["swap", "station", "NOPE"])
    assert r.exit_code != 0 and "no station NOPE" in r.output
    r = runner.invoke(args=["swap", "show", "SWC"])
    assert r.exit_code == 0, r.output
    shown = json.loads(r.output)
    assert [(p["pack_id"], p["state"]) for p in shown["packs"]] == [("P1", "ready"), ("P2", "charging")]
    assert shown["pack_types"][0]["ready"] == 1 and shown["bays"]["free"] == 1
    with app.app_context():
        assert db.session.get(SwapPack, "P3") is None
        assert {e.action for e in db.session.scalars(select(AuditEntry).where(AuditEntry.actor == "cli"))} == {
            "swap.station", "swap.bay", "swap.pack_type", "swap.pack"}
