"""Start the gateway (`jc-gateway run`) as a real process against a simulator, for tests.

    from tests.support.gateway import GatewayProcess

    with SimProcess("test") as sim, GatewayProcess(sim, tmp_path, free_vend={"P1": [1]}) as gw:
        sim.control("POST", "/piles/1/guns/1/plug")
        gw.wait(lambda s: gw.gun(s, "P1-1")["session"] is not None)
        gw.records()            # every outbox record so far, read from its SQLite file
        gw.kill()               # SIGKILL; gw.start() runs it again on the same store

A simulator started with `speed` gets a gateway whose wall clock runs as fast (JC_TEST_CLOCK).
The config names the simulator's piles P1, P2, P3 … (units in order) and its meter; the
store, the credentials and the status port live under the test's tmp directory. `cards`,
`tariff` and `load_policy` are written to the store before the first start.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.ports import free_port
from tests.support.sim import REPO_ROOT, SimProcess

START_TIMEOUT_S = 20.0



class GatewayError(RuntimeError):
    pass


class GatewayProcess:
    def __init__(self, sim: SimProcess, tmp: Path, *, free_vend: dict[str, list[int]] | None = None,
                 cards: list[str] | None = None, tariff: dict | None = None, rtu: bool = False,
                 load_policy: dict | None = None, watchdog: dict | None = None, poll_period_s: float = 0.5,
                 test_clock: tuple[float, float, float] | None = None, extra_toml: str = "",
                 bus_timeout_s: float = 1.0) -> None:
        self.sim, self.tmp = sim, Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.store_path = self.tmp / "station.db"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = self.tmp / "station.toml"
        self.log_path = self.tmp / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        speed = float(sim.info.get("speed") or 1.0)
        if test_clock is None and speed != 1.0:
            # The simulator's time runs faster: so must the gateway's wall clock, or its
            # energy plausibility check would (rightly) refuse the simulator's energy.
            now = time.time()
            test_clock = (now, now, speed)
        self.test_clock = test_clock
        self.piles = {f"P{i}": u for i, u in enumerate(sim.pile_units, start=1)}
        lp = {"dwell_s": 1.0, **(load_policy or {})}
        wd = {"timeout_s": 30, "heartbeat_s": 2, **(watchdog or {})}
        bus = (f'port = "{sim.rtu}"\nbaud = {sim.info.get("baud") or 9600}' if rtu
               else f'host = "{sim.tcp[0]}:{sim.tcp[1]}"')
        # The Modbus reply wait: the simulator is another process on the same (in CI, loaded)
        # cores, and at 0.3 s a reply that came late was taken for a damaged reply to the next
        # request, three in a row lost every unit, and the lost units' probes backed off for
        # many seconds (tests/gateway/test_tariff_schedule_e2e.py, 1 of 2 loaded runs).
        lines = [
            "[station]", 'id = "ST-TEST-01"', "",
            "[[bus]]", 'name = "line"', bus, f"poll_period_s = {poll_period_s}", f"timeout_s = {bus_timeout_s}",
            "retries = 1", "lost_after = 3", "",
        ]
        for pid, unit in self.piles.items():
            guns = (free_vend or {}).get(pid, [])
            lines += ["[[pile]]", f'id = "{pid}"', 'bus = "line"', f"unit = {unit}", f"free_vend_guns = {guns}", ""]
        lines += ["[meter]", 'bus = "line"', f"unit = {sim.meter_unit}", "timeout_s = 3", "fast_period_s = 0.25", "",
                  "[transformer]", f"rated_kva = {sim.info.get('rated_kva', 160)}", "",
                  "[load_policy]", *[f"{k} = {json.dumps(v)}" for k, v in lp.items()], "",
                  "[watchdog]", *[f"{k} = {json.dumps(v)}" for k, v in wd.items()], "",
                  "[store]", f'path = "{self.store_path}"', "",
                  "[status]", f'listen = "127.0.0.1:{self.port}"', "",
                  "[cloud]", f'credentials_dir = "{self.tmp / "credentials"}"', "", extra_toml]
        self.config_path.write_text("\n".join(lines))
        if cards or tariff:
            self._prepare_store(cards or [], tariff)

    def _prepare_store(self, cards: list[str], tariff: dict | None) -> None:
        from edge.cache import Card, Store

        with Store.open(self.store_path) as store:
            if cards:
                store.cards.set_auth_list([Card(card_id=c) for c in cards])
            if tariff:
                # In force since always: a test clock may start the gateway before real now.
                store.settings.set_tariff(tariff, effective_from=0)

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self) -> GatewayProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        if self.test_clock:
            env["JC_TEST_CLOCK"] = ":".join(str(x) for x in self.test_clock)
        log = open(self.log_path, "ab")  # noqa: SIM115 — kept open for the process' life
        self.proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "run", "-c", str(self.config_path)],
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise GatewayError(f"jc-gateway exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
            try:
                self.status()
                return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.kill()
        raise GatewayError(f"jc-gateway did not answer in {START_TIMEOUT_S} s:\n{self.log_text()[-4000:]}")

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise GatewayError(f"jc-gateway ignored SIGTERM for {timeout} s") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # ---- talking to it -----------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def status(self) -> dict[str, Any]:
        return self._request("GET", "/api/status")[1]

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        return self._request("POST", path, body)

    @staticmethod
    def gun(status: dict[str, Any], gun_id: str) -> dict[str, Any]:
        # KeyError, not StopIteration: inside a generator a StopIteration becomes a
        # RuntimeError that wait() would not retry (a gun not yet identified after start).
        for g in status["guns"]:
            if g["id"] == gun_id:
                return g
        raise KeyError(gun_id)

    def wait(self, pred: Callable[[dict[str, Any]], Any], timeout: float = 10.0, what: str = "") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.status()
                if pred(last):
                    return last
            except (urllib.error.URLError, OSError, StopIteration, KeyError, TypeError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gateway: {what or 'condition'} not met in {timeout} s; last status:\n"
                             f"{json.dumps(last, indent=1)[:3000]}\nlog tail:\n{self.log_text()[-3000:]}")

    # ---- its store ---------------------------------------------------------------------

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        # WAL lets a reader in beside the gateway's writer; the gateway's lock is a side file.
        conn = sqlite3.connect(f"file:{self.store_path}?mode=ro", uri=True, timeout=5)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def records(self, type_: str | None = None) -> list[dict[str, Any]]:
        rows = self._query("SELECT body FROM outbox ORDER BY seq")
        out = [json.loads(r["body"]) for r in rows]
        return [r for r in out if type_ is None or r["type"] == type_]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records("event") if r["kind"] == kind]

    def sessions(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM sessions ORDER BY started_at")]

    def wait_records(self, pred: Callable[[list[dict[str, Any]]], Any], timeout: float = 10.0,
                     what: str = "") -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        recs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            recs = self.records()
            if pred(recs):
                return recs
            time.sleep(0.1)
        raise AssertionError(f"records: {what or 'condition'} not met in {timeout} s; have:\n"
                             f"{json.dumps(recs[-15:], indent=1)}\nlog tail:\n{self.log_text()[-3000:]}")
