"""Start the station simulator (`jc-sim run`) as a real process, for integration tests.

    from tests.support.sim import SimProcess

    with SimProcess("test", rtu=tmp_path / "ttySIM", baud=19200) as sim:
        sim.info            # the parsed first stdout line: {"tcp", "rtu", "control", "devices", ...}
        sim.tcp             # ("127.0.0.1", port), or None without TCP
        sim.rtu             # the LINK path (str) a serial client opens, or None
        sim.meter_unit      # 10 in "test" and "demo"
        sim.pile_units      # [1, 2, 3]
        sim.control("POST", "/piles/1/guns/1/plug", {"ev": {"start_soc": 40}})
        sim.state()         # GET /state: every pile/gun (registers and physical values), meter, clock
    # on exit: SIGTERM, then SIGKILL after 5 s; the RTU symlink is gone

Defaults: scenario "test" (three piles at units 1..3, the meter at 10, 0.2 s start delay,
nothing scheduled), Modbus TCP and the control API on free localhost ports, no RTU. Pass
`tcp=False` for RTU only, `control=False` without the API, `speed=60.0` for a faster clock,
`extra_args=[...]` for anything else `jc-sim run` takes.

`control()` returns the decoded JSON and raises `SimControlError` (with `.status` and
`.body`) for a 4xx/5xx answer; `control_raw()` returns `(status, body)` instead.

Fixtures: `sim` (function scope, the defaults above) and `sim_factory` (call it with
SimProcess's arguments; every process it started is stopped at teardown). Import them into
your conftest.py: `from tests.support.sim import sim, sim_factory  # noqa: F401`.

The simulator's stderr (its log) goes to a file; `sim.log_text()` returns it, and a failed
start includes its tail in the exception.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class SimControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        message = body.get("error") if isinstance(body, dict) else body
        super().__init__(f"control API answered {status}: {message}")
        self.status = status
        self.body = body


class SimProcess:
    def __init__(
        self,
        scenario: str | os.PathLike[str] = "test",
        *,
        tcp: bool = True,
        rtu: str | os.PathLike[str] | None = None,
        baud: int | None = None,
        control: bool = True,
        speed: float | None = None,
        extra_args: list[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.args = [python, "-m", "firmware_sim", "run", str(scenario)]
        if tcp:
            self.args += ["--tcp", "127.0.0.1:0"]
        if rtu is not None:
            self.args += ["--rtu", str(rtu)]
        if baud is not None:
            self.args += ["--baud", str(baud)]
        if control:
            self.args += ["--control", "127.0.0.1:0"]
        if speed is not None:
            self.args += ["--speed", str(speed)]
        self.args += list(extra_args or [])
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self._log = tempfile.NamedTemporaryFile(prefix="jc-sim-", suffix=".log", delete=False)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            cwd=REPO_ROOT, env=env,
        )
        try:
            line = self._first_line(START_TIMEOUT_S)
            self.info = json.loads(line)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"jc-sim did not start ({exc}); its log:\n{self.log_text()[-3000:]}") from None
        # Drain stdout so that the process never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self.info

    def _first_line(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in data:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no JSON line within {timeout:g} s")
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError(f"exited with code {self.proc.wait()} before its JSON line")
                data += chunk
        finally:
            sel.close()
        return data.split(b"\n", 1)[0].decode("utf-8")

    def _drain(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        try:
            while proc.stdout.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL; returns the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_TIMEOUT_S)
        if proc.stdout:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the process and delete its log file."""
        self.stop()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def log_text(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    # --- what it serves -------------------------------------------------------------------

    @property
    def tcp(self) -> tuple[str, int] | None:
        if not self.info.get("tcp"):
            return None
        host, port = self.info["tcp"].rsplit(":", 1)
        return host, int(port)

    @property
    def rtu(self) -> str | None:
        return self.info.get("rtu")

    @property
    def control_url(self) -> str | None:
        return self.info.get("control")

    @property
    def devices(self) -> list[dict[str, Any]]:
        return self.info.get("devices", [])

    @property
    def meter_unit(self) -> int:
        return next(d["unit"] for d in self.devices if d["kind"] == "meter")

    @property
    def pile_units(self) -> list[int]:
        return [d["unit"] for d in self.devices if d["kind"] == "pile"]

    # --- control API ----------------------------------------------------------------------

    def control_raw(self, method: str, path: str, body: Any = None,
                    timeout: float = 10.0) -> tuple[int, Any]:
        if not self.control_url:
            raise RuntimeError("this simulator was started without --control")
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            self.control_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except json.JSONDecodeError:
                return exc.code, raw.decode("utf-8", "replace")

    def control(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        status, answer = self.control_raw(method, path, body, timeout)
        if status >= 400:
            raise SimControlError(status, answer)
        return answer

    def state(self) -> dict[str, Any]:
        return self.control("GET", "/state")


@pytest.fixture
def sim() -> Iterator[SimProcess]:
    """The "test" scenario over Modbus TCP with the control API."""
    with SimProcess() as process:
        yield process


@pytest.fixture
def sim_factory() -> Iterator[Any]:
    """`sim_factory(scenario, rtu=..., ...)` -> a started SimProcess, stopped at teardown."""
    started: list[SimProcess] = []

    def make(*args: Any, **kwargs: Any) -> SimProcess:
        process = SimProcess(*args, **kwargs)
        started.append(process)
        process.start()
        return process

    yield make
    for process in started:
        process.close()
