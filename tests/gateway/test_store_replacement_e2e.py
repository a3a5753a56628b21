"""A station's gateway replaced mid-life, then an old backup of its first store restored, with
real processes: `jc-gateway provision` / `run`, the simulator, Mosquitto, the cloud and ingest.

The new machine (new key, empty store, same station id) learns `high_seq` at provisioning
and numbers its first record above it; the restored store numbers new records with seqs the
cloud already holds, gets `conflicts`/`high` in its acks, renumbers and raises `seq_conflict`.
Every session of all three reaches the cloud once, each with a verified signature.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from tests.gateway.test_sync_e2e import SID, TARIFF, provision
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess


def charge(sim: SimProcess, gw: GatewayProcess) -> None:
    """One free-vend session on P2-1, from plug to unplug, until the cloud acknowledged all."""
    sim.control("POST", "/piles/2/guns/1/plug")
    gw.wait(lambda s: GatewayProcess.gun(s, "P2-1")["state"] == "charging", 20, "charging")
    time.sleep(1.5)
    sim.control("POST", "/piles/2/guns/1/unplug")
    gw.wait(lambda s: GatewayProcess.gun(s, "P2-1")["session"] is None and s["outbox"]["depth"] == 0
            and s["sync"]["connected"], 40, "session ended and acknowledged")


def test_replaced_gateway_and_restored_backup_lose_nothing_and_count_once(tmp_path: Path) -> None:
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test", speed=10) as sim:
        def gateway(name: str) -> GatewayProcess:
            return GatewayProcess(sim, tmp_path / name, free_vend={"P2": [1]}, tariff=TARIFF)

        # The first machine: two sessions; a backup of its store after the first.
        gw1 = gateway("gw1")
        tok = cloud.token(SID)
        assert provision(gw1, cloud, tok["token"], tok["ca_sha256"]).returncode == 0
        assert json.loads((gw1.tmp / "credentials" / "cloud.json").read_text())["high_seq"] == 0
        gw1.start()
        charge(sim, gw1)
        gw1.stop()
        backup = tmp_path / "backup"
        backup.mkdir()
        for f in gw1.tmp.glob("station.db*"):
            shutil.copy2(f, backup / f.name)
        gw1.start()
        charge(sim, gw1)
        gw1.stop()
        high1 = max(r["seq"] for r in cloud.rows("raw_records", sid=SID))

        # The replacement: new key, new empty store, same station id.
        gw2 = gateway("gw2")
        tok = cloud.token(SID)
        done = provision(gw2, cloud, tok["token"], tok["ca_sha256"])
        assert done.returncode == 0, done.stderr
        assert json.loads((gw2.tmp / "credentials" / "cloud.json").read_text())["high_seq"] == high1
        assert (gw2.tmp / "credentials" / "station.key").read_bytes() != \
            (gw1.tmp / "credentials" / "station.key").read_bytes()
        gw2.start()
        charge(sim, gw2)
        gw2.stop()
        mine = [r for r in cloud.rows("raw_records", sid=SID) if r["seq"] > high1]
        assert mine and min(r["seq"] for r in mine) == high1 + 1
        high2 = max(r["seq"] for r in cloud.rows("raw_records", sid=SID))

        # The old backup of the first store restored on the new machine.
        gw3 = gateway("gw3")
        for f in gw3.tmp.glob("station.db*"):
            f.unlink()
        for f in backup.iterdir():
            shutil.copy2(f, gw3.tmp / f.name)
        shutil.copytree(gw2.tmp / "credentials", gw3.tmp / "credentials")
        gw3.start()
        charge(sim, gw3)
        events = gw3.events("seq_conflict")
        assert gw3.status()["sync"]["seq_conflicts"] > 0
        gw3.stop()

        raw = cloud.rows("raw_records", sid=SID)
        seqs = sorted(r["seq"] for r in raw)
        assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > high2
        assert not [r for r in raw if r["flagged"]], "a record was flagged"
        assert cloud.rows("seq_conflicts", sid=SID), "the restored store's seqs never conflicted"
        assert events or any(r["type"] == "event" and "seq_conflict" in json.dumps(r["payload"]) for r in raw)
        sessions = cloud.rows("sessions", sid=SID)
        assert len(sessions) == 4, sessions
        assert all(s["status"] == "ended" and s["signature_ok"] in (1, True) for s in sessions), sessions
        ends = [r for r in raw if r["type"] == "session_ended"]
        assert len(ends) == 4  # one end per session: nothing stored twice
