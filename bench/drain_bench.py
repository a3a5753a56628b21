"""Outbox drain after an outage: N records (default 100,000) waiting in a gateway's store are
sent to a loopback Mosquitto (the project's config: TLS, client certificates, ACL), stored by
one `jc-cloud ingest` process (SQLite) and acknowledged; the outbox is empty at the end.

Reported: records per second from the connection to the last acknowledgement (target ≥ 10,000),
beside the rate of appending the same records to the store in the same run (a baseline of
what the gateway's disk does), and the batches and resends the drain needed.

    python bench/drain_bench.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.cache import Store  # noqa: E402
from edge.clock import SystemClock  # noqa: E402
from edge.sync.drain import Drain  # noqa: E402
from edge.sync.link import LinkSettings, MqttLink  # noqa: E402
from jcproto import Ack, parse_topic  # noqa: E402
from tests.cloud.support import IngestProcess  # noqa: E402
from tests.support.broker import Broker  # noqa: E402

SID = "ST-BENCH-01"


def fill(store: Store, n: int) -> float:
    """n records as an offline day would leave them: mostly events and minute samples."""
    t0 = time.perf_counter()
    ts = 1_767_225_600_000
    done = 0
    while done < n:
        with store.transaction():
            for _ in range(min(1000, n - done)):
                done += 1
                if done % 3:
                    store.outbox.append("event", {"kind": "gun_state", "gun": "P1-1",
                                                  "detail": {"from": "charging", "to": "finishing"}}, ts + done)
                else:
                    store.outbox.append("meter_minute", {"p_avg_w": 120000, "p_max_w": 130000, "load_pct_max": 61.5,
                                                         "energy_import_wh": 1000 * done}, ts + done)
    return time.perf_counter() - t0


async def drain(store: Store, broker: Broker, n: int) -> dict:
    ident = broker.station(SID)
    inbox: asyncio.Queue = asyncio.Queue()
    link = MqttLink(LinkSettings(sid=SID, host=broker.host, port=broker.port, ca_file=str(broker.ca_file),
                                 cert_file=str(ident.cert_file), key_file=str(ident.key_file)),
                    asyncio.get_running_loop(), inbox)
    d = Drain(store, SystemClock(), lambda p: link.publish("up", p, qos=1), SID)
    link.start()
    t_connect = None
    try:
        while d.acked < n:
            try:
                kind, topic_, payload = await asyncio.wait_for(inbox.get(), 0.05)
            except TimeoutError:
                kind = None
            if kind == "connected":
                t_connect = time.perf_counter()
                d.rewind("connected")
            elif kind == "message" and parse_topic(topic_)[1] == "ack":
                d.on_ack(Ack.from_json(payload).seq)
            if link.connected:
                d.pump()
        took = time.perf_counter() - (t_connect or time.perf_counter())
    finally:
        link.stop()
    return {"seconds": took, "batches": d.batches, "resends": d.resends, "left": store.outbox.depth()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        store = Store.open(tmpd / "station.db")
        fill_s = fill(store, args.records)
        with Broker(tmpd / "broker") as broker:
            ingest = IngestProcess(broker, f"sqlite:///{tmpd / 'cloud.sqlite'}", tmpd, batch_max=5000)
            from cloud.db import make_engine
            from cloud.migrate import upgrade
            upgrade(make_engine(f"sqlite:///{tmpd / 'cloud.sqlite'}"))
            ingest.start()
            try:
                res = asyncio.run(drain(store, broker, args.records))
            finally:
                ingest.stop()
        store.close()
    rate = args.records / res["seconds"]
    fill_rate = args.records / fill_s
    out = {"records": args.records, "drain_s": round(res["seconds"], 2), "drain_rate": round(rate),
           "target": 10_000, "ok": rate >= 10_000, "append_rate_baseline": round(fill_rate),
           "batches": res["batches"], "resends": res["resends"], "left_in_outbox": res["left"]}
    if args.json:
        print(json.dumps(out))
        return
    print("| records | drained and acknowledged in | rate | target | met | store append rate (same run) | batches | resends | left |")
    print("|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    print(f"| {args.records} | {out['drain_s']} s | {out['drain_rate']} rec/s | ≥ 10,000 rec/s | {'yes' if out['ok'] else 'NO'} "
          f"| {out['append_rate_baseline']} rec/s | {out['batches']} | {out['resends']} | {out['left_in_outbox']} |")


if __name__ == "__main__":
    main()
