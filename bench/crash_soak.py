"""Crash soak: the kill -9 test (tests/gateway/test_crash.py) 1,000 times.

    python bench/crash_soak.py [--kills 1000] [--per-day 100] [--seed 1] [--keep DIR] [--json]

The crash test SIGKILLs the gateway 100 times at random moments (0.05..1 s apart) through a
scripted day of sessions (free vend on every gun, a fault, the load crossing 50 % and 80 %)
at 240× simulated speed, restarting it on the same store each time, and then checks that
nothing was lost or duplicated: every seq once and gapless, every session the piles ran
recorded once (by the pile's session counter) with the energy of the lifetime registers,
unbroken event chains, an intact store. The soak runs that very day and those very checks
(tests/support/crashday.py: `run_day`, `check_day`) on fresh processes and a fresh store
`--kills / --per-day` times with different random kill moments, about 2 minutes a day.

A day that fails a check, or a restart that fails, is a violation: it is reported with its
message and its directory (store, gateway log, scenario) is kept under --keep; the soak
goes on with the next day. Prints a markdown table; exit code 1 if there was a violation.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("tests.support.crashday")

from harness import code_version, table  # noqa: E402

from tests.support.crashday import RestartFailed, check_day, day_scenario, run_day  # noqa: E402


def soak_day(day: int, kills: int, seed: int, keep: Path) -> dict[str, Any]:
    rng = random.Random(seed * 1_000_003 + day)
    started = time.monotonic()
    out: dict[str, Any] = {"day": day, "kills": 0, "restarts": 0, "records": 0, "sessions": 0, "violation": None}
    with tempfile.TemporaryDirectory(prefix=f"jc-soak-{day}-") as tmp_s:
        tmp = Path(tmp_s)
        scenario = day_scenario(tmp / "crashday.toml")
        try:
            truth, gw, done = run_day(scenario, tmp / "gw", rng, kills)
            out["kills"] = out["restarts"] = done
            summary = check_day(gw, truth, done)
            out["records"], out["sessions"] = summary["records"], summary["sessions"]
        except RestartFailed as exc:
            out["kills"], out["restarts"] = exc.kills, exc.kills - 1
            out["violation"] = str(exc)[:2000]
        except Exception as exc:  # noqa: BLE001 — any failure of the day is the finding
            out["violation"] = "".join(traceback.format_exception_only(type(exc), exc))[:2000]
        if out["violation"] is not None:
            keep.mkdir(parents=True, exist_ok=True)
            dest = keep / f"day{day}-seed{seed}-{time.strftime('%Y%m%dT%H%M%S')}"
            shutil.copytree(tmp, dest, dirs_exist_ok=True)
            out["kept"] = str(dest)
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def markdown(days: list[dict[str, Any]], elapsed: float) -> str:
    total = {k: sum(d[k] for d in days) for k in ("kills", "restarts", "records", "sessions")}
    violations = [d for d in days if d["violation"]]
    head = ["days", "kills", "restarts", "records checked", "sessions checked", "violations", "wall time"]
    summary = table(head, [[len(days), total["kills"], total["restarts"], total["records"], total["sessions"],
                            len(violations), f"{elapsed / 60:.1f} min"]], "lrrrrrr")
    per_day = table(["day", "kills", "restarts", "records", "sessions", "violation", "time"],
                    [[d["day"], d["kills"], d["restarts"], d["records"], d["sessions"],
                      (d["violation"] or "none").splitlines()[0][:120], f"{d['seconds']} s"] for d in days],
                    "lrrrrlr")
    text = summary + "\n\nPer day:\n\n" + per_day
    for d in violations:
        text += f"\n\nDay {d['day']} (kept in {d.get('kept')}):\n\n```\n{d['violation']}\n```"
    return text + f"\n\nCode measured: {code_version()}."


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=1000, help="SIGKILLs in all")
    ap.add_argument("--per-day", type=int, default=100, help="SIGKILLs per scripted day (the test's 100)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "jc-soak-failures",
                    help="where a failed day's files are kept")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--json-out", type=Path, help="also write the JSON to this file")
    args = ap.parse_args()
    n_days = math.ceil(args.kills / args.per_day)
    started = time.monotonic()
    days = []
    for day in range(1, n_days + 1):
        kills = min(args.per_day, args.kills - (day - 1) * args.per_day)
        result = soak_day(day, kills, args.seed, args.keep)
        days.append(result)
        print(f"[soak] day {day}/{n_days}: {result['kills']} kills, {result['records']} records, "
              f"{result['sessions']} sessions, {result['seconds']} s, "
              f"{'VIOLATION: ' + result['violation'].splitlines()[0] if result['violation'] else 'ok'}",
              file=sys.stderr, flush=True)
    elapsed = time.monotonic() - started
    data = {"days": days, "seconds": round(elapsed, 1),
            "totals": {k: sum(d[k] for d in days) for k in ("kills", "restarts", "records", "sessions")},
            "violations": sum(1 for d in days if d["violation"])}
    if args.json_out:
        args.json_out.write_text(json.dumps(data, indent=1))
    if args.json:
        print(json.dumps(data, indent=1))
    else:
        print(markdown(days, elapsed))
    sys.exit(1 if any(d["violation"] for d in days) else 0)


if __name__ == "__main__":
    main()
