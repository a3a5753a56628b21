"""Ingest throughput and mass-reconnect ack latency, against a real broker and `jc-cloud ingest`.

    python bench/ingest_bench.py [--stations 1000] [--records 200] [--db sqlite|postgres]

Starts our Mosquitto config on a free port (tests/support/broker.py), one `jc-cloud ingest`
process on a fresh SQLite file or PostgreSQL schema (database `test` at 127.0.0.1:5432), and
simulated stations (paho clients, TLS, one certificate each) in this process:

1. throughput: every station publishes its backlog (`--records`, in `up` batches of
   `--batch`) at once; the clock runs from the first publish to the last station's ack that
   covers everything. Records are a realistic mix (sessions, meter minutes, events).
2. mass reconnect: every station disconnects, then all reconnect at the same moment and send
   one batch each; per station the time from its connect call (and from its publish) to the
   ack is measured; p50/p99/max are reported.

Prints a markdown table. Everything runs on this machine (loopback only) and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from cloud.db import make_engine  # noqa: E402
from cloud.migrate import upgrade  # noqa: E402
from cloud.models import RawRecord  # noqa: E402
from tests.support.broker import Broker  # noqa: E402

NOW = 1_767_225_600_000


def records(start: int, n: int) -> list[dict[str, Any]]:
    """A station's outbox: sessions (started, progress..., ended), meter minutes, events."""
    out: list[dict[str, Any]] = []
    seq = start
    session: str | None = None
    while len(out) < n:
        i = len(out)
        if i % 10 == 0:
            out.append({"seq": seq, "type": "meter_minute", "ts": NOW + seq, "p_avg_w": 120000, "p_max_w": 150000,
                        "load_pct_max": 48.5, "energy_import_wh": 10**7 + seq})  # fmt: skip
        elif i % 10 == 5:
            out.append({"seq": seq, "type": "event", "ts": NOW + seq, "kind": "gun_state", "gun": "P1-1",
                        "detail": {"from": "plugged", "to": "charging"}})  # fmt: skip
        elif session is None:
            session = str(uuid.uuid4())
            out.append({"seq": seq, "type": "session_started", "ts": NOW + seq, "session_id": session, "gun": "P1-1",
                        "order_id": f"o{seq}", "auth": "remote", "energy_start_wh": 1000,
                        "limit": {"mode": "full", "value": 0}, "power_cap_w": 60000})  # fmt: skip
        elif i % 10 == 9:
            out.append({"seq": seq, "type": "session_ended", "ts": NOW + seq, "session_id": session, "gun": "P1-1",
                        "energy_start_wh": 1000, "energy_stop_wh": 1000 + seq, "started_at": NOW, "ended_at": NOW + seq,
                        "stop_reason": "ev_full", "cost_fen": seq, "signature": "AAAAAAAAAAAA"})  # fmt: skip
            session = None
        else:
            out.append({"seq": seq, "type": "session_progress", "ts": NOW + seq, "session_id": session,
                        "energy_wh": 1000 + seq, "power_w": 30000, "voltage_v": 400.0, "current_a": 75.0,
                        "soc": 50, "cost_fen": seq})  # fmt: skip
        seq += 1
    return out


class SimStation:
    """One simulated gateway: a paho client with its own certificate (CN = sid)."""

    def __init__(self, sid: str, conn: dict[str, Any]) -> None:
        self.sid = sid
        self.conn = conn
        self.acked = 0
        self.want = 0
        self.done = threading.Event()
        self.connected = threading.Event()
        self.t_connect = self.t_publish = self.t_ack = 0.0
        self.pending: list[bytes] = []
        ctx = ssl.create_default_context(cafile=conn["ca_file"])
        ctx.load_cert_chain(conn["certs"][sid][0], conn["certs"][sid][1])
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{sid}", protocol=mqtt.MQTTv5
        )
        self.client.tls_set_context(ctx)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    def _on_connect(self, c: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any = None) -> None:
        c.subscribe([(f"jc/v1/st/{self.sid}/ack", SubscribeOptions(qos=1))])
        self.connected.set()
        if self.pending:  # a gateway sends its unacknowledged batch as soon as it is back
            self.t_publish = time.perf_counter()
            for p in self.pending:
                c.publish(f"jc/v1/st/{self.sid}/up", p, qos=1)
            self.pending = []

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        seq = json.loads(msg.payload)["seq"]
        self.acked = max(self.acked, seq)
        if self.want and self.acked >= self.want and not self.done.is_set():
            self.t_ack = time.perf_counter()
            self.done.set()

    def connect(self) -> None:
        self.t_connect = time.perf_counter()
        self.client.connect_async(self.conn["host"], self.conn["port"], keepalive=60)
        self.client.loop_start()

    def publish(self, payloads: list[bytes], want: int) -> None:
        self.want = want
        self.done.clear()
        self.t_publish = time.perf_counter()
        for p in payloads:
            self.client.publish(f"jc/v1/st/{self.sid}/up", p, qos=1)

    def disconnect(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.connected.clear()


def publisher(sids: list[str], conn: dict[str, Any], pipe: Any) -> None:
    """A child process driving up to ~300 stations (paho's select() caps a process near 1000 fds)."""
    stations = [SimStation(sid, conn) for sid in sids]
    while True:
        cmd, arg = pipe.recv()
        if cmd == "connect":
            for wave in range(0, len(stations), 50):  # set-up, not measured: in waves
                for st in stations[wave : wave + 50]:
                    st.connect()
                for st in stations[wave : wave + 50]:
                    if not st.connected.wait(60):
                        raise RuntimeError(f"{st.sid} did not connect")
            pipe.send("ok")
        elif cmd == "throughput":
            n, batch = arg
            payloads = {
                st.sid: [
                    json.dumps({"v": 1, "records": r[i : i + batch]}).encode()
                    for r in [records(1, n)]
                    for i in range(0, n, batch)
                ]
                for st in stations
            }
            pipe.send("ready")
            pipe.recv()  # go
            for st in stations:
                st.publish(payloads[st.sid], n)
            for st in stations:
                if not st.done.wait(conn["timeout"]):
                    raise RuntimeError(f"{st.sid}: acked {st.acked} of {n}")
            pipe.send([(st.t_publish, st.t_ack) for st in stations])
        elif cmd == "reconnect":
            first, n, spread = arg
            for st in stations:
                st.disconnect()
                st.pending = [json.dumps({"v": 1, "records": records(first, n)}).encode()]
                st.want = first + n - 1
                st.done.clear()
            # Gateways reconnect with jittered backoff: spread the reconnects over `spread` s
            # (0: all at the same moment, the worst case).
            import random

            rng = random.Random(len(stations))
            plan = sorted((rng.uniform(0, spread), i) for i in range(len(stations)))
            pipe.send("ready")
            pipe.recv()  # go
            t0 = time.monotonic()
            for offset, i in plan:
                delay = t0 + offset - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                stations[i].connect()
            for st in stations:
                if not st.done.wait(conn["timeout"]):
                    raise RuntimeError(f"{st.sid}: not acked after reconnect")
            pipe.send([(st.t_connect, st.t_publish, st.t_ack) for st in stations])
        elif cmd == "quit":
            for st in stations:
                st.disconnect()
            pipe.send("bye")
            return


class Publishers:
    def __init__(self, broker: Broker, n_stations: int, per_process: int, timeout: float) -> None:
        sids = [f"B{i:05d}" for i in range(n_stations)]
        certs = {
            sid: (str(broker.station(sid).cert_file), str(broker.station(sid).key_file))
            for sid in sids
        }
        conn = {
            "host": broker.host,
            "port": broker.port,
            "ca_file": str(broker.ca_file),
            "certs": certs,
            "timeout": timeout,
        }
        ctx = mp.get_context("spawn")
        self.pipes = []
        self.procs = []
        for i in range(0, n_stations, per_process):
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=publisher, args=(sids[i : i + per_process], conn, child), daemon=True
            )
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def all(self, cmd: str, arg: Any = None) -> list[Any]:
        for p in self.pipes:
            p.send((cmd, arg))
        return [p.recv() for p in self.pipes]

    def go(self) -> list[Any]:
        for p in self.pipes:
            p.send(("go", None))
        out: list[Any] = []
        for p in self.pipes:
            out.extend(p.recv())
        return out

    def close(self) -> None:
        try:
            self.all("quit")
        finally:
            for proc in self.procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()


@contextmanager
def database(kind: str, workdir: Path):
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite'}"
        return
    import psycopg

    conn = psycopg.connect(
        "host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True, connect_timeout=3
    )
    schema = f"jc_bench_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
    finally:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        conn.close()


def start_ingest(
    broker: Broker, url: str, workdir: Path, batch_max: int
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "JC_INSTANCE_PATH": str(workdir / "instance"),
        "JC_DATABASE_URL": url,
        "JC_BROKER_HOST": broker.host,
        "JC_BROKER_PORT": str(broker.port),
        "JC_BROKER_CLOUD_PORT": str(broker.cloud_port),
        "JC_SECRET_KEY": "bench-ingest-process-secret",
        "JC_BROKER_CA_FILE": str(broker.ca_file),
        "JC_CLOUD_CERT_FILE": str(broker.cloud.cert_file),
        "JC_CLOUD_KEY_FILE": str(broker.cloud.key_file),
        "JC_INGEST_BATCH_MAX": str(batch_max),
        "JC_INGEST_BATCH_WAIT_MS": "50",
    }
    log = open(workdir / "ingest.log", "wb")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("jc-cloud")), "ingest"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "ready: subscriptions granted" not in (workdir / "ingest.log").read_text(
        errors="replace"
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                "ingest did not start:\n" + (workdir / "ingest.log").read_text(errors="replace")
            )
        time.sleep(0.05)
    return proc


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="jc-bench-") as tmp,
        Broker(Path(tmp) / "mqtt") as broker,
        database(args.db, Path(tmp)) as url,
    ):
        workdir = Path(tmp)
        engine = make_engine(url, purpose="writer")
        upgrade(engine)
        ingest = start_ingest(broker, url, workdir, args.ingest_batch)
        pubs = Publishers(broker, args.stations, args.per_process, args.timeout)
        try:
            t0 = time.perf_counter()
            pubs.all("connect")
            rows.append(
                (
                    "stations connected (TLS, client certs)",
                    f"{args.stations} in {time.perf_counter() - t0:.1f} s, {len(pubs.pipes)} publisher processes",
                )
            )

            # 1. throughput
            total = args.stations * args.records
            pubs.all("throughput", (args.records, args.batch))
            times = pubs.go()
            elapsed = max(t for _, t in times) - min(t for t, _ in times)
            with engine.connect() as conn:
                stored = conn.execute(select(func.count()).select_from(RawRecord)).scalar_one()
            assert stored == total, (stored, total)
            rows.append(
                (
                    "records stored (all acked)",
                    f"{total:,} ({args.records} per station, {args.batch} per message)",
                )
            )
            rows.append(
                (
                    "throughput, first publish → last ack",
                    f"**{total / elapsed:,.0f} records/s** ({elapsed:.2f} s)",
                )
            )

            # 2. mass reconnect
            spread = args.reconnect_spread
            pubs.all("reconnect", (args.records + 1, args.reconnect_batch, spread))
            times = pubs.go()
            from_connect = [(a - c) * 1000 for c, _, a in times]
            from_publish = [(a - p) * 1000 for _, p, a in times]
            when = f"within {spread:g} s" if spread else "at once"
            rows.append(
                (
                    f"mass reconnect: {args.stations} stations {when}, {args.reconnect_batch} records each",
                    "all acked",
                )
            )
            rows.append(
                (
                    "ack latency from connect, p50 / p99 / max",
                    " / ".join(f"{pct(from_connect, p):,.0f} ms" for p in (50, 99, 100)),
                )
            )
            rows.append(
                (
                    "ack latency from publish, p50 / p99 / max",
                    " / ".join(f"{pct(from_publish, p):,.0f} ms" for p in (50, 99, 100)),
                )
            )
            rows.append(
                ("mean ack latency from publish", f"{statistics.mean(from_publish):,.0f} ms")
            )
        finally:
            pubs.close()
            ingest.terminate()
            ingest.wait(30)
            engine.dispose()
    return rows


def raise_fd_limit() -> None:
    """Each station is a socket here and one at the broker (which inherits this limit)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    raise_fd_limit()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=1000)
    ap.add_argument("--records", type=int, default=200, help="backlog per station")
    ap.add_argument("--batch", type=int, default=100, help="records per up message")
    ap.add_argument("--reconnect-batch", type=int, default=10)
    ap.add_argument("--reconnect-spread", type=float, default=30.0,
                    help="seconds over which the stations reconnect (0: all at once)")
    ap.add_argument("--ingest-batch", type=int, default=5000, help="INGEST_BATCH_MAX")
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument("--per-process", type=int, default=250, help="stations per publisher process")
    args = ap.parse_args()
    rows = run(args)
    print(
        f"\n### ingest bench: {args.stations} stations, {args.db}, one ingest process, {os.cpu_count()} CPUs\n"
    )
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
