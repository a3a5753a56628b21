"""`jc-demo`: the whole product on one laptop, no hardware.

A simulated station (`jc-sim run demo`: three piles and the transformer meter through a
day), the cloud (CA, a Mosquitto broker with the project's config, ingest, the web app), and
the gateway — provisioned against the cloud with a one-time token like a real installation,
then running the station. It prints where to look and runs until Ctrl-C.

Time runs `--speed` times faster (default 60: a day in 24 minutes), for the simulator and
the gateway's clock alike; the gateway's clock starts at the simulated time of day, so the
tariff periods and the load curve agree.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from edge.drivers.scan import Found
from edge.example import render_example

SID = "ST-DEMO-01"
TZ = ZoneInfo("Asia/Shanghai")
DEMO_TARIFF = {"id": "demo-tou", "currency": "CNY", "tz": "Asia/Shanghai", "periods": [
    {"start": "00:00", "end": "08:00", "name": "valley", "energy_fen_per_kwh": 35, "service_fen_per_kwh": 40},
    {"start": "08:00", "end": "10:00", "name": "flat", "energy_fen_per_kwh": 70, "service_fen_per_kwh": 40},
    {"start": "10:00", "end": "15:00", "name": "peak", "energy_fen_per_kwh": 115, "service_fen_per_kwh": 40},
    {"start": "15:00", "end": "18:00", "name": "flat", "energy_fen_per_kwh": 70, "service_fen_per_kwh": 40},
    {"start": "18:00", "end": "21:00", "name": "peak", "energy_fen_per_kwh": 115, "service_fen_per_kwh": 40},
    {"start": "21:00", "end": "24:00", "name": "flat", "energy_fen_per_kwh": 70, "service_fen_per_kwh": 40}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bin_path(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else name


class Demo:
    def __init__(self, workdir: Path, speed: float, scenario: str) -> None:
        self.workdir = workdir
        self.speed = speed
        self.scenario = scenario
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = workdir / "logs"
        self.cloud_dir = workdir / "cloud"
        self.env = {**os.environ, "JC_INSTANCE_PATH": str(self.cloud_dir)}
        self.api_token = ""
        self.operator_password = ""

    def say(self, text: str) -> None:
        click.echo(text, err=True)

    def run(self, args: list[str], **kw) -> str:
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, **kw)
        if out.returncode != 0:
            raise click.ClickException(f"{' '.join(args[:3])} failed:\n{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 — the process keeps it
        proc = subprocess.Popen(args, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append((name, proc))
        return proc

    def wait_port(self, name: str, port: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            self.check_alive()
            time.sleep(0.1)
        raise click.ClickException(f"{name} did not open port {port}; see {self.logs / (name + '.log')}")

    def check_alive(self) -> None:
        for name, p in self.procs:
            if p.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise click.ClickException(f"{name} exited with {p.returncode}:\n{tail}")

    def stop(self) -> None:
        for _name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _name, p in reversed(self.procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()

    # ---- the parts ---------------------------------------------------------------------

    def cloud(self) -> dict[str, int | str]:
        broker_port, cloud_port, https_port, web_port = free_port(), free_port(), free_port(), free_port()
        broker_dir = self.cloud_dir / "broker"
        self.env.update({"JC_BROKER_HOST": "127.0.0.1", "JC_BROKER_PORT": str(broker_port),
                         "JC_BROKER_CLOUD_PORT": str(cloud_port),
                         "JC_BROKER_PID_FILE": str(broker_dir / "mosquitto.pid"),
                         "JC_SECRET_KEY": secrets.token_hex(32)})
        cloud = bin_path("jc-cloud")
        self.run([cloud, "init-db"])
        self.run([cloud, "ca", "init", "--name", "Juchong demo"])
        self.run([cloud, "cloud-cert"])
        self.run([cloud, "server-cert", "--out", str(self.cloud_dir / "https")])
        run_as = ["--user", "root"] if os.geteuid() == 0 else []
        self.run([cloud, "broker-config", "--out", str(broker_dir), "--bind", "127.0.0.1", *run_as])
        # the console and the API want a token: one for whoever runs the demo
        self.api_token = json.loads(self.run([cloud, "api-token", "create", "demo", "--json"]))["token"]
        # the console: an administrator "demo" with a fresh password, printed below
        self.operator_password = secrets.token_urlsafe(12)
        self.run([cloud, "operator", "create", "demo", "--role", "admin", "--name", "Demo", "--password-stdin"],
                 input=self.operator_password + "\n")
        self.spawn("broker", [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(broker_dir / "mosquitto.conf")])
        self.wait_port("broker", broker_port)
        self.spawn("ingest", [cloud, "ingest"])
        https = self.cloud_dir / "https"
        self.spawn("cloud-https", [cloud, "serve", "--port", str(https_port), "--cert", str(https / "server.crt"),
                                   "--key", str(https / "server.key")])
        self.spawn("cloud-web", [cloud, "serve", "--port", str(web_port)])
        self.wait_port("cloud-https", https_port)
        self.wait_port("cloud-web", web_port)
        return {"broker": broker_port, "https": https_port, "web": web_port}

    def simulator(self) -> dict:
        args = [bin_path("jc-sim"), "run", self.scenario, "--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0",
                "--speed", str(self.speed)]
        log = open(self.logs / "sim.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.procs.append(("sim", proc))
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            self.check_alive()
            raise click.ClickException("the simulator printed nothing")
        # keep reading its stdout so it never blocks on a full pipe
        import threading
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        return json.loads(line)

    def gateway(self, sim: dict, ports: dict[str, int | str]) -> tuple[int, Path]:
        host, port = sim["tcp"].rsplit(":", 1)
        found = []
        for d in sim["devices"]:
            if d["kind"] == "pile":
                found.append(Found(d["unit"], None, d["profile"], "pile", {
                    "current": d["current"], "phases": d.get("phases"), "guns": d["guns"],
                    "rated_power_w": d["rated_power_w"], "serial": d.get("serial", "")}))
            else:
                found.append(Found(d["unit"], None, "arcm300t", "meter", {"model": d.get("model")}))
        gw_dir = self.workdir / "gateway"
        gw_dir.mkdir(parents=True, exist_ok=True)
        status_port = free_port()
        text = render_example(found, sim_host=host, sim_port=int(port), station_id=SID,
                              rated_kva=sim.get("rated_kva"), store_path=str(gw_dir / "station.db"),
                              status_listen=f"127.0.0.1:{status_port}",
                              credentials_dir=str(gw_dir / "credentials"))
        # In the demo every gun charges as soon as a car plugs in (free vend).
        text = text.replace("# free_vend_guns = [1]       # guns that start without authorisation when a car plugs in",
                            "free_vend_guns = [1, 2]      # the demo: every gun starts when a car plugs in")
        cfg = gw_dir / "station.toml"
        cfg.write_text(text)
        gateway = bin_path("jc-gateway")
        self.run([gateway, "check-config", str(cfg)])
        # the store starts with a time-of-use tariff, as if the cloud had sent one
        from edge.cache import Store
        with Store.open(gw_dir / "station.db") as store:
            store.settings.set_tariff(DEMO_TARIFF)
        token = json.loads(self.run([bin_path("jc-cloud"), "token", SID, "--json"]))
        self.run([gateway, "provision", "-c", str(cfg), "--url", f"https://127.0.0.1:{ports['https']}",
                  "--token", token["token"], "--ca-fingerprint", token["ca_sha256"]])
        # The gateway's clock starts at the simulator's time of day, today, and runs as fast.
        hh, mm = (int(x) for x in str(sim.get("start_time", "07:00")).split(":")[:2])
        start = datetime.now(TZ).replace(hour=hh, minute=mm, second=0, microsecond=0)
        if start > datetime.now(TZ) + timedelta(hours=12):
            start -= timedelta(days=1)
        env = {**self.env, "JC_TEST_CLOCK": f"{time.time()}:{start.timestamp()}:{self.speed}"}
        self.spawn("gateway", [gateway, "run", "-c", str(cfg)], env=env)
        self.wait_port("gateway", status_port)
        return status_port, cfg


@click.command()
@click.option("--speed", type=float, default=60.0, show_default=True, help="How much faster than real time.")
@click.option("--scenario", default="demo", show_default=True, help="A shipped scenario or a scenario file.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/demo"),
              show_default=True, help="Where the demo keeps its files (made afresh each run).")
@click.option("--exit-after", type=float, default=None, hidden=True, help="Stop after this many seconds (tests).")
def main(speed: float, scenario: str, workdir: Path, exit_after: float | None) -> None:
    """Run simulator, gateway, broker and cloud together and print where to look."""
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    demo = Demo(workdir.resolve(), speed, scenario)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        demo.say("starting the cloud: CA, broker, ingest, web …")
        ports = demo.cloud()
        demo.say(f"starting the simulated station ({scenario}, {speed:g}x) …")
        sim = demo.simulator()
        demo.say("writing the gateway config, provisioning it with a one-time token, starting it …")
        status_port, cfg = demo.gateway(sim, ports)
        console = f"http://127.0.0.1:{ports['web']}/"
        click.echo(json.dumps({"console": console, "api_token": demo.api_token,
                               "operator": {"login": "demo", "password": demo.operator_password},
                               "gateway": f"http://127.0.0.1:{status_port}/",
                               "simulator": sim["control"], "broker": f"mqtts://127.0.0.1:{ports['broker']}",
                               "provisioning": f"https://127.0.0.1:{ports['https']}/"}), nl=True)
        sys.stdout.flush()
        demo.say(f"""
Juchong demo running ({speed:g}x: a day in {24 * 60 / speed:.0f} minutes):
  cloud console       {console}   (log in as demo, password {demo.operator_password})
  cloud API token     {demo.api_token}
  gateway status      http://127.0.0.1:{status_port}/      (jc-gateway status --url http://127.0.0.1:{status_port})
  simulator control   {sim['control']}/state
  broker              mqtts://127.0.0.1:{ports['broker']}   (mutual TLS; CA in {demo.cloud_dir / 'ca'})
  gateway config      {cfg}
  logs                {demo.logs}
Press Ctrl-C to stop.""")
        t0 = time.monotonic()
        while not stopping:
            time.sleep(0.5)
            demo.check_alive()
            if exit_after is not None and time.monotonic() - t0 >= exit_after:
                break
    finally:
        demo.say("stopping …")
        demo.stop()


if __name__ == "__main__":
    main()
