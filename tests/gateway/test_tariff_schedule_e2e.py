"""A scheduled price change end to end: the cloud's push job sends it ahead of its time over
the real broker to a provisioned `jc-gateway run` process (simulator at 10x, the gateway's
clock as fast), the broker goes away before the change, and a session started after the
change while the gateway has no cloud link is priced with the new tariff; once the link is
back the cloud judges the session with the same version and the same cost."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from cloud.billing import service as billing
from cloud.billing.judge import Bill
from cloud.db import take_write_lock
from cloud.jobs import push_tariffs
from cloud.jobs.context import JobContext, JobSettings
from cloud.models import RawRecord
from cloud.tariffs import service as tariffs
from cloud.tariffs.models import StationTariff
from jcproto.tariff import CostMeter, Tariff
from tests.gateway.test_sync_e2e import SID, provision, wait_for
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

OLD = {"currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 6000, "service_price_e4": 4000}]}
NEW = {"currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_price_e4": 15000, "service_price_e4": 5000}]}
AC7 = 1  # the simulator's unit of pile P1


def gateway_now_ms(gw: GatewayProcess) -> int:
    assert gw.test_clock is not None
    anchor, start, speed = gw.test_clock
    return int((start + (time.time() - anchor) * speed) * 1000)


def test_a_change_pushed_ahead_prices_a_session_started_after_it_while_offline(tmp_path):
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test", speed=10) as sim:
        gw = GatewayProcess(sim, tmp_path / "gw", cards=["C1"])
        tok = cloud.token(SID)
        done = provision(gw, cloud, tok["token"], tok["ca_sha256"])
        assert done.returncode == 0, done.stderr
        try:
            gw.start()
            gw.wait(lambda s: s["sync"]["connected"], what="connected")
            wait_for(lambda: cloud.rows("station_state", sid=SID)
                     and cloud.rows("station_state", sid=SID)[0]["online"], what="online at the cloud")
            change = gateway_now_ms(gw) + 50_000  # 50 s of the gateway's clock: 5 s real
            with Session(cloud.engine) as s, s.begin():
                take_write_lock(s)  # beside ingest's writers (SQLite)
                old = tariffs.create(s, OLD, code="std").tariff_id
                new = tariffs.create(s, NEW, code="std").tariff_id
                tariffs.assign(s, SID, old, effective_from=change - 86_400_000, backdate=True)
                tariffs.assign(s, SID, new, effective_from=change)
            ctx = JobContext(cloud.engine, "jobs", JobSettings(command_timeout_s=10), send=cloud.send)
            assert push_tariffs.run(ctx) == 2
            with Session(cloud.engine) as s:
                assert all(a.pushed_at is not None for a in s.query(StationTariff))
            held = [tuple(r) for r in gw._query("SELECT tariff_id, effective_from FROM tariffs ORDER BY 2")]
            assert held == [(old, change - 86_400_000), (new, change)]

            broker.stop()  # no cloud link from before the change until after the session's start
            gw.wait(lambda s: not s["sync"]["connected"], what="link lost")
            sim.control("POST", f"/piles/{AC7}/guns/1/plug")
            gw.wait(lambda s: GatewayProcess.gun(s, "P1-1")["state"] == "plugged", what="plugged")
            while gateway_now_ms(gw) <= change + 2_000:
                time.sleep(0.2)
            code, body = gw.post("/api/sessions/start", {"gun": "P1-1", "card": "C1"})
            assert code == 200, body
            gw.wait(lambda s: GatewayProcess.gun(s, "P1-1")["state"] == "charging", what="charging")
            assert not gw.status()["sync"]["connected"]  # changed and started without a link
            broker.start()  # the gateway comes back when its backoff lets it: meanwhile it charges
            time.sleep(3)  # half a simulated minute at 7 kW
            sim.control("POST", f"/piles/{AC7}/guns/1/unplug")
            gw.wait(lambda s: GatewayProcess.gun(s, "P1-1")["session"] is None, what="ended")
            gw.wait(lambda s: s["sync"]["connected"] and s["outbox"]["depth"] == 0, timeout=40, what="drained")

            def at_cloud(type_: str) -> list[dict]:
                with Session(cloud.engine) as s:
                    return [r.payload for r in s.query(RawRecord).filter_by(sid=SID, type=type_).order_by(RawRecord.seq)]

            [ended] = at_cloud("session_ended")
            assert ended["started_at"] > change and ended["tariff_id"] == new
            sid_ = ended["session_id"]
            points = [(r["ts"], r["energy_wh"]) for r in at_cloud("session_progress") if r["session_id"] == sid_]
            wait_for(lambda: [r for r in cloud.rows("sessions", session_id=sid_) if r["status"] == "ended"],
                     what="ended at the cloud")
            with Session(cloud.engine) as s:
                verdict = billing.assess_session(s, sid_)
            assert verdict is not None and verdict.tariff is not None and verdict.tariff.id == new
            assert isinstance(verdict.verdict, Bill), verdict.verdict
            assert verdict.verdict.total_fen == ended["cost_fen"] > 0
            # the old price would have given less: the change really priced it
            at_old = CostMeter.replay(Tariff.from_dict({**OLD, "id": old}), ended["started_at"],
                                      ended["energy_start_wh"],
                                      [*points, (ended["ended_at"], ended["energy_stop_wh"])]).cost_fen
            assert at_old < ended["cost_fen"]
        finally:
            gw.stop()
            gw.kill()
