"""Shared by the gateway benches: a gateway config with the product's defaults, process CPU
and memory from /proc, percentiles, markdown tables.

    from harness import BenchGateway, proc_cpu_s, proc_rss_kb, percentile, table

`BenchGateway(sim, tmp, rtu=False, load_policy={...}, free_vend=True)` is the tests' gateway
harness (tests/support/gateway.py: `jc-gateway run` as a process, status API, store access)
with the config an installer gets from `jc-gateway example-config`: poll period 1 s, 0.5 s
timeout, the meter's S total read every 0.25 s (TCP) or 0.1 s (RTU at 9600 baud), heartbeat every 5 s; piles P1..Pn on one bus.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.gateway import GatewayProcess  # noqa: E402
from tests.support.sim import SimProcess  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def gateway_toml(sim: SimProcess, gw: GatewayProcess, *, rtu: bool, poll_period_s: float = 1.0,
                 load_policy: dict[str, Any] | None = None, free_vend: bool = False,
                 watchdog: dict[str, Any] | None = None, meter_fast_period_s: float | None = None) -> str:
    bus = (f'port = "{sim.rtu}"\nbaud = {sim.info.get("baud") or 9600}' if rtu
           else f'host = "{sim.tcp[0]}:{sim.tcp[1]}"')
    lines = ["[station]", 'id = "ST-BENCH-01"', "",
             "[[bus]]", 'name = "line"', bus, f"poll_period_s = {poll_period_s}", ""]
    for pid, unit in gw.piles.items():
        lines += ["[[pile]]", f'id = "{pid}"', 'bus = "line"', f"unit = {unit}",
                  f"free_vend = {'true' if free_vend else 'false'}", ""]
    lines += ["[meter]", 'bus = "line"', f"unit = {sim.meter_unit}",
              *([f"fast_period_s = {meter_fast_period_s}"] if meter_fast_period_s is not None else []), "",
              "[transformer]", f"rated_kva = {sim.info.get('rated_kva', 160)}", "",
              "[load_policy]", *[f"{k} = {json.dumps(v)}" for k, v in (load_policy or {}).items()], "",
              "[watchdog]", *[f"{k} = {json.dumps(v)}" for k, v in (watchdog or {}).items()], "",
              "[store]", f'path = "{gw.store_path}"', "",
              "[status]", f'listen = "127.0.0.1:{gw.port}"', "",
              "[cloud]", f'credentials_dir = "{gw.tmp / "credentials"}"', ""]
    return "\n".join(lines)


class BenchGateway(GatewayProcess):
    """GatewayProcess with the product's default settings instead of the tests' fast ones."""

    def __init__(self, sim: SimProcess, tmp: Path, *, rtu: bool = False, poll_period_s: float = 1.0,
                 load_policy: dict[str, Any] | None = None, free_vend: bool = False,
                 watchdog: dict[str, Any] | None = None, meter_fast_period_s: float | None = None) -> None:
        super().__init__(sim, tmp, rtu=rtu)
        self.config_path.write_text(gateway_toml(sim, self, rtu=rtu, poll_period_s=poll_period_s,
                                                 load_policy=load_policy, free_vend=free_vend,
                                                 watchdog=watchdog, meter_fast_period_s=meter_fast_period_s))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


# ---- /proc ----------------------------------------------------------------------------------


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def proc_rss_kb(pid: int) -> dict[str, int]:
    """{"VmRSS": kB now, "VmHWM": peak kB} of a process."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


# ---- figures --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return s[k]


def table(headers: list[str], rows: list[list[Any]], align: str | None = None) -> str:
    """A markdown table; `align` is one character per column, 'l' or 'r' (default: l, then r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def code_version() -> str:
    """The commit measured, and whether edge/ or firmware_sim/ differ from it
    (JC_BENCH_CODE overrides, e.g. when running from an exported tree)."""
    if os.environ.get("JC_BENCH_CODE"):
        return os.environ["JC_BENCH_CODE"]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "edge", "firmware_sim")
    return head + (" + uncommitted changes in edge/ or firmware_sim/" if dirty else "")
