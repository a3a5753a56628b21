"""Poll-cycle benchmark: a station of 32 guns plus the transformer meter (the simulator's
`bench32` scenario), read by the gateway's own drivers over Modbus TCP and over the RTU pty
link at 9600 and 115200 baud.

For every cycle it reads what the station loop reads each poll period — every gun's block
(one request per gun) and the meter's cycle registers — and reports:

- cycle time, median and p99, beside the RTU wire-time limit computed from the frames this
  very cycle sent and received (11 bits a character, 3.5-character gaps, plus the simulator's
  configured turnaround): the ratio is the figure to judge (target ≤ 1.2);
- for TCP the absolute cycle time (target < 50 ms for 32 guns);
- CPU seconds per cycle of the gateway side (this process; the simulator runs apart);
- the gateway side's peak RSS (target < 80 MB).

    python bench/poll_bench.py [--cycles 20] [--only tcp|rtu9600|rtu115200] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edge.drivers.bus import Bus, BusSettings  # noqa: E402
from edge.drivers.meter import RegisterMapMeter  # noqa: E402
from edge.drivers.pile import RegisterMapPile  # noqa: E402
from edge.drivers.profile import load_profile  # noqa: E402
from edge.drivers.transport import (  # noqa: E402
    PymodbusTransport,
    SerialSettings,
    rtu_request_bytes,
    rtu_response_bytes,
    wire_time,
)
from tests.support.sim import SimProcess  # noqa: E402

TURNAROUND_S = 0.005  # bench32's [rtu] turnaround_ms


class CountingTransport:
    """Wraps the real transport to add up the frames a cycle puts on the wire."""

    def __init__(self, inner: PymodbusTransport) -> None:
        self.inner = inner
        self.name, self.serial = inner.name, inner.serial
        self.frames: list[tuple[int, int]] = []

    def char_time(self) -> float:
        return self.inner.char_time()

    async def connect(self) -> None:
        await self.inner.connect()

    async def close(self) -> None:
        await self.inner.close()

    async def read(self, unit, function, address, count, timeout):
        self.frames.append((rtu_request_bytes(function), rtu_response_bytes(function, count)))
        return await self.inner.read(unit, function, address, count, timeout)

    async def write(self, unit, address, values, function, timeout):
        self.frames.append((rtu_request_bytes(function, len(values)), rtu_response_bytes(function)))
        return await self.inner.write(unit, address, values, function, timeout)


def wire_limit(frames: list[tuple[int, int]], baud: int) -> float:
    """What the line itself needs: every frame's characters, a 3.5-character gap after each
    frame, and the device's turnaround between request and reply."""
    ct = wire_time(1, baud)
    return sum((req + resp) * ct + 2 * 3.5 * ct + TURNAROUND_S for req, resp in frames)


async def run_case(label: str, sim: SimProcess, baud: int | None, cycles: int) -> dict:
    if baud:
        inner = PymodbusTransport(serial=SerialSettings(sim.rtu, baud=baud))
    else:
        host, port = sim.tcp
        inner = PymodbusTransport(host=host, port=port)
    transport = CountingTransport(inner)
    bus = Bus(transport, BusSettings(timeout_s=0.5, retries=0))
    pile_profile, meter_profile = load_profile("jc-ref-v1"), load_profile("arcm300t")
    piles = [RegisterMapPile(bus, u, pile_profile) for u in sim.pile_units]
    meter = RegisterMapMeter(bus, sim.meter_unit, meter_profile, rated_kva=2000)
    for p in piles:
        await p.identify()
    await meter.identify()
    guns = sum(p.info.gun_count for p in piles)
    times, limits, cpu = [], [], []
    for i in range(cycles + 1):
        transport.frames.clear()
        c0, t0 = time.process_time(), time.perf_counter()
        for p in piles:
            await p.read_guns()
        await meter.read_meter()
        took = time.perf_counter() - t0
        if i == 0:
            continue  # warm-up
        times.append(took)
        cpu.append(time.process_time() - c0)
        limits.append(wire_limit(transport.frames, baud) if baud else 0.0)
    await bus.close()
    med = statistics.median(times)
    p99 = sorted(times)[min(len(times) - 1, int(round(0.99 * (len(times) - 1))))]
    out = {"case": label, "guns": guns, "requests": len(transport.frames), "cycles": cycles,
           "cycle_median_ms": round(med * 1000, 1), "cycle_p99_ms": round(p99 * 1000, 1),
           "cpu_per_cycle_ms": round(statistics.median(cpu) * 1000, 2)}
    if baud:
        lim = statistics.median(limits)
        out["wire_limit_ms"] = round(lim * 1000, 1)
        out["ratio"] = round(med / lim, 3)
        out["target"] = "ratio <= 1.2"
        out["ok"] = med / lim <= 1.2
    else:
        out["target"] = "< 50 ms"
        out["ok"] = med < 0.050
    return out


async def main_async(args: argparse.Namespace) -> list[dict]:
    results = []
    cases = [("tcp", None), ("rtu9600", 9600), ("rtu115200", 115200)]
    for label, baud in cases:
        if args.only and args.only != label:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            kw = {"rtu": os.path.join(tmp, "tty"), "baud": baud, "tcp": False} if baud else {}
            with SimProcess("bench32", **kw) as sim:
                cycles = args.cycles if baud != 9600 else max(3, args.cycles // 4)
                results.append(await run_case(label, sim, baud, cycles))
    return results


def markdown(results: list[dict], rss_mb: float) -> str:
    lines = ["| case | guns | requests/cycle | cycle median | cycle p99 | wire-time limit | ratio | CPU/cycle | target | met |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in results:
        lines.append(f"| {r['case']} | {r['guns']} | {r['requests']} | {r['cycle_median_ms']} ms | {r['cycle_p99_ms']} ms | "
                     f"{str(r.get('wire_limit_ms', '-')) + ' ms' if 'wire_limit_ms' in r else '-'} | {r.get('ratio', '-')} | "
                     f"{r['cpu_per_cycle_ms']} ms | {r['target']} | {'yes' if r['ok'] else 'NO'} |")
    lines.append(f"\nGateway-side peak RSS: {rss_mb:.1f} MB (target < 80 MB).")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cycles", type=int, default=20)
    ap.add_argument("--only", choices=["tcp", "rtu9600", "rtu115200"])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    results = asyncio.run(main_async(args))
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.markdown:
        print(markdown(results, rss_mb))
    else:
        print(json.dumps({"results": results, "rss_mb": round(rss_mb, 1)}, indent=2))


if __name__ == "__main__":
    main()
