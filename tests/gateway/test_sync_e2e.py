"""Station ↔ cloud end to end: a provisioned `jc-gateway run` process, the simulator, a real
Mosquitto with the project's config (mutual TLS, ACL), the cloud app on HTTPS and ingest."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from jcproto import Reply, topic
from tests.support.broker import Broker
from tests.support.cloud import CloudStack
from tests.support.gateway import GatewayProcess
from tests.support.sim import SimProcess

SID = "ST-TEST-01"
DC, AC7 = 3, 1
TARIFF = {"id": "flat", "currency": "CNY", "periods": [
    {"start": "00:00", "end": "24:00", "name": "flat", "energy_fen_per_kwh": 80, "service_fen_per_kwh": 40}]}


def provision(gw: GatewayProcess, cloud: CloudStack, token: str, fingerprint: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "edge.cli", "provision", "-c", str(gw.config_path),
                           "--url", cloud.url, "--token", token, "--ca-fingerprint", fingerprint],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture
def stack(tmp_path):
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test", speed=10) as sim:
        gw = GatewayProcess(sim, tmp_path / "gw", free_vend={"P2": [1]}, tariff=TARIFF, cards=["C1"])
        tok = cloud.token(SID)
        done = provision(gw, cloud, tok["token"], tok["ca_sha256"])
        assert done.returncode == 0, done.stderr
        yield broker, cloud, sim, gw
        gw.stop()
        gw.kill()


def cloud_seqs(cloud: CloudStack) -> list[int]:
    return sorted(r["seq"] for r in cloud.rows("raw_records", sid=SID))


def wait_for(cond, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout} s")


def test_provisioning_checks_the_ca_before_the_token_and_keeps_the_key_home(tmp_path):
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("test") as sim:
        gw = GatewayProcess(sim, tmp_path / "gw")
        tok = cloud.token(SID)
        wrong = provision(gw, cloud, tok["token"], "00" * 32)
        assert wrong.returncode == 2 and "refusing to send the token" in wrong.stderr
        assert cloud.rows("provisioning_tokens")[0]["used_at"] is None  # never sent: still good
        ok = provision(gw, cloud, tok["token"], tok["ca_sha256"])
        assert ok.returncode == 0, ok.stderr
        creds = gw.tmp / "credentials"
        assert stat.S_IMODE((creds / "station.key").stat().st_mode) == 0o600
        info = json.loads((creds / "cloud.json").read_text())
        assert info["broker"] == {"host": broker.host, "port": broker.port}
        again = provision(gw, cloud, tok["token"], tok["ca_sha256"])
        assert again.returncode == 2 and "token_used" in again.stderr
        other = cloud.token("ST-OTHER")
        mismatch = provision(gw, cloud, other["token"], other["ca_sha256"])
        assert mismatch.returncode == 2 and "not for that station" in mismatch.stderr


def test_records_arrive_once_in_order_and_acks_prune_the_outbox(stack):
    broker, cloud, sim, gw = stack
    gw.start()
    st = gw.wait(lambda s: s["sync"]["connected"], what="connected")
    assert st["sync"]["broker"] == f"{broker.host}:{broker.port}"
    wait_for(lambda: cloud.rows("station_state", sid=SID) and cloud.rows("station_state", sid=SID)[0]["online"],
             what="online at the cloud")
    sim.control("POST", "/piles/2/guns/1/plug")
    gw.wait(lambda s: GatewayProcess.gun(s, "P2-1")["state"] == "charging", what="charging")
    time.sleep(1)
    sim.control("POST", "/piles/2/guns/1/unplug")
    gw.wait(lambda s: s["outbox"]["depth"] == 0 and s["outbox"]["last_seq"] >= 5
            and GatewayProcess.gun(s, "P2-1")["session"] is None, what="everything acknowledged")
    last = gw.status()["outbox"]["last_seq"]
    wait_for(lambda: cloud_seqs(cloud) == list(range(1, last + 1)), what="every record at the cloud")
    session = cloud.rows("sessions", sid=SID)[0]
    assert session["status"] == "ended" and session["stop_reason"] == "unplugged"
    assert session["signature_ok"] in (1, True)  # signed by the station's key, verified by the cloud
    assert session["energy_stop_wh"] > session["energy_start_wh"]
    # the cloud's API, with the stack's API token, says the same
    import ssl
    import urllib.request

    ctx = ssl.create_default_context(cafile=str(broker.ca_file))
    req = urllib.request.Request(f"{cloud.url}/api/v1/stations/{SID}", headers=cloud.auth)
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        assert json.loads(resp.read())["acked_seq"] == last


def test_commands_round_trip_and_are_answered_once(stack):
    broker, cloud, sim, gw = stack
    gw.start()
    gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", what="connected")
    sim.control("POST", f"/piles/{DC}/guns/1/plug")
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "plugged", what="plugged")
    reply = cloud.send(SID, "start", {"gun": "P3-1", "order_id": "o-1", "limit": {"mode": "energy", "value": 500},
                                      "tariff": TARIFF})
    assert reply.ok, reply
    sid_ = reply.detail["session_id"]
    assert reply.detail["power_cap_w"] == 120_000
    assert sim.state()["piles"][2]["guns"][0]["limits"]["energy_limit_wh"] == 500  # held by the pile itself
    bad = cloud.send(SID, "start", {"gun": "P9-9", "order_id": "o-2", "limit": {"mode": "full", "value": 0},
                                    "tariff": TARIFF})
    assert (bad.ok, bad.error) == (False, "unknown_gun")
    busy = cloud.send(SID, "start", {"gun": "P3-1", "order_id": "o-3", "limit": {"mode": "full", "value": 0},
                                     "tariff": TARIFF})
    assert (busy.ok, busy.error) == (False, "busy")
    # a stop by gun naming another order (o-3's start was refused: whatever runs is not its
    # session) stops nothing; naming the session's own order, it stops it
    other = cloud.send(SID, "stop", {"gun": "P3-1", "order_id": "o-3"})
    assert (other.ok, other.error, other.detail["reason"]) == (False, "invalid", "not_this_order"), other
    assert GatewayProcess.gun(gw.status(), "P3-1")["session"]["session_id"] == sid_
    stop = cloud.send(SID, "stop", {"gun": "P3-1", "order_id": "o-1"})
    assert stop.ok and stop.detail["session_id"] == sid_
    wait_for(lambda: [s for s in cloud.rows("sessions", sid=SID) if s["status"] == "ended"], what="ended at cloud")
    row = cloud.rows("sessions", session_id=sid_)[0]
    assert row["order_id"] == "o-1" and row["stop_reason"] == "remote" and row["auth"] == "remote"

    # the load rule holds for remote starts too
    sim.control("PUT", "/base-load", {"kw": 150})
    gw.wait(lambda s: s["load"]["level"] == "blocked", what="blocked")
    sim.control("POST", f"/piles/{AC7}/guns/1/plug")
    blocked = cloud.send(SID, "start", {"gun": "P1-1", "order_id": "o-4", "limit": {"mode": "full", "value": 0},
                                        "tariff": TARIFF})
    assert (blocked.ok, blocked.error) == (False, "blocked_by_load")
    sim.control("PUT", "/base-load", {"kw": 10})

    policy = cloud.send(SID, "set_load_policy", {"rated_kva": 200, "cap_above_pct": 40, "block_above_pct": 70})
    assert policy.ok
    st = gw.wait(lambda s: s["load"]["rated_kva"] == 200 and s["load"]["cap_above_pct"] == 40, what="policy")
    assert st["load"]["block_above_pct"] == 70
    bad_policy = cloud.send(SID, "set_load_policy", {"rated_kva": 200, "cap_above_pct": 90, "block_above_pct": 70})
    assert (bad_policy.ok, bad_policy.error) == (False, "invalid")
    cards = cloud.send(SID, "set_auth_list", {"cards": ["NEWCARD"]})
    assert cards.ok and cards.detail == {"cards": 1}
    code, body = gw.post("/api/sessions/start", {"gun": "P1-1", "card": "C1"})
    assert code == 403  # the old list is gone
    gw.wait(lambda s: s["load"]["level"] == "normal", timeout=15, what="normal again")
    code, body = gw.post("/api/sessions/start", {"gun": "P1-1", "card": "newcard"})
    assert code == 200, body
    tariff = cloud.send(SID, "set_tariff", {"tariff": {**TARIFF, "id": "t2"}})
    assert tariff.ok and tariff.detail["tariff_id"] == "t2" and tariff.detail["in_force"]["tariff_id"] == "t2"
    cfg = cloud.send(SID, "set_config", {"values": {"cloud.telemetry_s": 2}})
    assert cfg.ok and cfg.detail["cfg_rev"] == 1
    wait_for(lambda: str(cloud.rows("station_state", sid=SID)[0]["cfg_rev"]) == "1", what="cfg_rev at the cloud")
    # Telemetry (every 2 s now) carries each gun's rated power and the gateway's active alarms.
    def telemetry() -> dict:
        tel = cloud.rows("station_state", sid=SID)[0]["telemetry"]
        return json.loads(tel) if isinstance(tel, str) else tel
    wait_for(lambda: (telemetry() or {}).get("guns"), what="telemetry at the cloud")
    tel = telemetry()
    assert all(g["rated_power_w"] > 0 for g in tel["guns"])
    assert {a["key"] for a in tel.get("alarms", [])} == {a["key"] for a in gw.status()["alarms"]}
    nocfg = cloud.send(SID, "set_config", {"values": {"station.id": "X"}})
    assert (nocfg.ok, nocfg.error) == (False, "invalid")
    res = cloud.send(SID, "reserve", {"gun": "P3-2", "reservation_id": "r-1", "until": int(time.time() * 1000) + 600_000})
    assert res.ok, res
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-2")["state"] == "reserved", what="reserved")
    cancel = cloud.send(SID, "cancel_reservation", {"reservation_id": "r-1"})
    assert cancel.ok
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-2")["state"] == "available", what="reservation cancelled")
    sim.control("POST", f"/piles/{DC}/faults", {"fault": "emergency_stop", "gun": 2})
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-2")["state"] == "faulted", what="faulted")
    latched = cloud.send(SID, "reset_fault", {"gun": "P3-2"})
    assert (latched.ok, latched.error) == (False, "faulted")  # the cause is still there
    sim.control("DELETE", f"/piles/{DC}/faults/emergency_stop?gun=2")
    assert cloud.send(SID, "reset_fault", {"gun": "P3-2"}).ok


def test_replayed_expired_and_malformed_commands(stack):
    broker, cloud, sim, gw = stack
    gw.start()
    gw.wait(lambda s: s["sync"]["connected"] and s["load"]["level"] == "normal", what="connected")
    sim.control("POST", f"/piles/{DC}/guns/1/plug")
    gw.wait(lambda s: GatewayProcess.gun(s, "P3-1")["state"] == "plugged", what="plugged")
    replies: list[dict] = []
    got = threading.Event()

    def on_message(_c, _u, msg):
        replies.append(json.loads(msg.payload))
        got.set()

    c = broker.connect(broker.cloud, client_id="test-cloud")
    c.on_message = on_message
    c.subscribe(topic(SID, "reply"), qos=1)
    time.sleep(0.3)
    now = int(time.time() * 1000)
    start = {"v": 1, "id": str(uuid.uuid4()), "type": "start", "expires_at": now + 60_000, "gun": "P3-1",
             "order_id": "dup-1", "limit": {"mode": "full", "value": 0}, "tariff": TARIFF}
    for _ in range(3):  # the same command three times: carried out once, answered alike
        c.publish(topic(SID, "cmd"), json.dumps(start), qos=1)
    expired = {**start, "id": str(uuid.uuid4()), "order_id": "late", "expires_at": now - 1000}
    c.publish(topic(SID, "cmd"), json.dumps(expired), qos=1)
    malformed = {"v": 1, "id": str(uuid.uuid4()), "type": "start", "expires_at": now + 60_000, "gun": 5}
    c.publish(topic(SID, "cmd"), json.dumps(malformed), qos=1)
    c.publish(topic(SID, "cmd"), b"\xff not json", qos=1)
    wait_for(lambda: len(replies) >= 5, what="five replies")
    time.sleep(0.5)
    by_id: dict[str, list[dict]] = {}
    for r in replies:
        Reply.from_dict(r)  # every reply is a valid one
        by_id.setdefault(r["id"], []).append(r)
    dup = by_id[start["id"]]
    assert len(dup) == 3 and all(r == dup[0] for r in dup) and dup[0]["ok"]
    assert by_id[expired["id"]][0]["error"] == "expired"
    assert by_id[malformed["id"]][0]["error"] == "invalid"
    assert len(by_id) == 3
    st = gw.status()
    assert GatewayProcess.gun(st, "P3-1")["session"]["session_id"] == dup[0]["detail"]["session_id"]
    sessions = [s for s in gw.sessions() if s["order_id"] == "dup-1"]
    assert len(sessions) == 1


def test_a_day_offline_then_everything_arrives_once_in_order(tmp_path):
    """The demo scenario's whole day (EVs, faults, link cuts, load over 80 %) at 1440x with the
    broker down; then the broker comes back."""
    with Broker(tmp_path / "broker") as broker, CloudStack(broker, tmp_path / "cloud") as cloud, \
            SimProcess("demo", speed=1440) as sim:
        gw = GatewayProcess(sim, tmp_path / "gw", free_vend={"P1": [1], "P2": [1], "P3": [1, 2]}, tariff=TARIFF)
        tok = cloud.token(SID)
        assert provision(gw, cloud, tok["token"], tok["ca_sha256"]).returncode == 0
        broker.stop()  # the cloud is unreachable all day
        with gw:
            # a load crossing the gateway must decide offline, whatever the busy machine lets it
            # see of the day's own evening peak (seconds long at 1440x)
            rated = sim.state()["transformer"]["rated_kva"]
            sim.control("PUT", "/base-load", {"kw": rated * 0.6})  # capped: sessions still start
            gw.wait(lambda s: s["load"]["level"] in ("capped", "blocked"), timeout=20, what="a load crossing")
            sim.control("PUT", "/base-load", {"kw": None})  # the scenario's curve again
            wait_for(lambda: sim.state()["clock"]["day"] >= 1, timeout=75, what="a simulated day")
            st = gw.status()
            assert not st["sync"]["connected"]
            assert st["outbox"]["depth"] == st["outbox"]["last_seq"] >= 50
            offline_sessions = [s for s in gw.sessions() if s["state"] == "ended"]
            # sessions ended offline (how many depends on how much of the day's 1440x traffic a
            # busy machine lets the gateway see; each must reach the cloud once)
            assert len(offline_sessions) >= 1
            broker.start()
            gw.wait(lambda s: s["sync"]["connected"] and s["outbox"]["depth"] == 0, timeout=60, what="drained")
            last = gw.status()["outbox"]["last_seq"]
            wait_for(lambda: cloud_seqs(cloud) == list(range(1, last + 1)), what="all records, once")
            ended = [s for s in cloud.rows("sessions", sid=SID) if s["status"] == "ended"]
            assert len(ended) >= len(offline_sessions)
            assert all(s["signature_ok"] in (1, True) for s in ended)
            details = [json.loads(e["detail"]) if isinstance(e["detail"], str) else e["detail"]
                       for e in cloud.rows("events", sid=SID) if e["kind"] == "load_level"]
            assert {d["level"] for d in details} & {"capped", "blocked"}  # the day crossed a threshold


def test_broker_killed_and_restarted_mid_drain(stack):
    broker, cloud, sim, gw = stack
    broker.stop()
    gw.start()
    gw.wait(lambda s: s["load"]["level"] == "normal", what="running offline")
    # plenty of records: every gun plugged and unplugged a few times
    for _ in range(4):
        for unit, guns in ((1, 1), (2, 1), (3, 2)):
            for g in range(1, guns + 1):
                sim.control("POST", f"/piles/{unit}/guns/{g}/plug")
        time.sleep(0.6)
        for unit, guns in ((1, 1), (2, 1), (3, 2)):
            for g in range(1, guns + 1):
                sim.control("POST", f"/piles/{unit}/guns/{g}/unplug")
        time.sleep(0.6)
    broker.start()
    gw.wait(lambda s: s["sync"]["acked_seq"] > 0, timeout=30, what="draining")
    broker.kill()
    time.sleep(1)
    broker.start()
    gw.wait(lambda s: s["sync"]["connected"] and s["outbox"]["depth"] == 0, timeout=60, what="drained after restart")
    last = gw.status()["outbox"]["last_seq"]
    wait_for(lambda: cloud_seqs(cloud) == list(range(1, last + 1)), what="everything once")
