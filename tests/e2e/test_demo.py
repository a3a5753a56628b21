"""`jc-demo` brings the whole chain up on one machine: simulator, gateway (provisioned with a
token), broker and cloud; records flow to the cloud and the console answers."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _console_login(console: str, operator: dict) -> None:
    """The demo's operator logs in to the console through its form (CSRF token included)."""
    import http.cookiejar
    import re
    import urllib.parse

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(console + "login", timeout=10) as resp:
        token = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
    form = urllib.parse.urlencode({**operator, "csrf_token": token}).encode()
    with opener.open(console + "login", data=form, timeout=10) as resp:
        assert resp.url == console and 'id="nav"' in resp.read().decode()


def test_the_demo_runs_the_whole_chain(tmp_path):
    work = tmp_path / "demo"
    proc = subprocess.Popen([sys.executable, "-m", "edge.demo", "--workdir", str(work), "--speed", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, text=True)
    try:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        where = json.loads(line)
        assert set(where) == {"console", "api_token", "operator", "gateway", "simulator", "broker", "provisioning"}
        # the API wants the demo's API token
        try:
            urllib.request.urlopen(where["console"] + "api/v1/stations", timeout=10)
            raise AssertionError("the API answered without a token")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        authed = urllib.request.Request(where["console"] + "api/v1/stations",
                                        headers={"Authorization": f"Bearer {where['api_token']}"})
        with urllib.request.urlopen(authed, timeout=10) as resp:
            assert resp.status == 200 and "ST-DEMO-01" in resp.read().decode()
        _console_login(where["console"], where["operator"])
        deadline = time.monotonic() + 60
        status = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(where["gateway"] + "api/status", timeout=5) as resp:
                status = json.loads(resp.read())
            if status["sync"].get("connected") and status["outbox"]["acked_seq"] >= 5:
                break
            time.sleep(0.5)
        assert status["sync"]["connected"], status["sync"]
        assert status["outbox"]["acked_seq"] >= 5
        assert status["station"]["id"] == "ST-DEMO-01"
        db = sqlite3.connect(work / "cloud" / "juchong.sqlite")
        try:
            (stored,) = db.execute("SELECT count(*) FROM raw_records WHERE sid = 'ST-DEMO-01'").fetchone()
            (online,) = db.execute("SELECT online FROM station_state WHERE sid = 'ST-DEMO-01'").fetchone()
        finally:
            db.close()
        assert stored >= 5 and online
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "stopping" in err
