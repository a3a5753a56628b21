"""`jc-demo`: the whole product on one laptop, no hardware.

A simulated station (`jc-sim run demo`: three piles and the transformer meter through a
day), the fake WeChat (login, Pay and its cashier page: cloud/fakes), the cloud (CA, a
Mosquitto broker with the project's config, ingest, the periodic jobs, the web app with the
console and the drivers' H5 app), and the gateway — provisioned against the cloud with a
one-time token like a real installation, then running the station. The station's archive,
its guns' QR codes and a time-of-use tariff are entered through the CLIs as an operator
would. It prints where to look and runs until Ctrl-C.

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
from jcproto.tariff import Tariff

SID = "ST-DEMO-01"
TZ = ZoneInfo("Asia/Shanghai")
TARIFF_CODE = "demo-tou"
# The station's archive: a fictitious site in Shanghai; GCJ-02 coordinates as WeChat's map
# gives them.
STATION = {"name": "聚充演示站（徐汇）", "address": "上海市徐汇区漕溪北路 88 号地面停车场",
           "city": "上海", "lat": "31.195531", "lng": "121.436625", "open-hours": "00:00-24:00"}
# Guns a car starts on by itself (the simulated day's traffic): pile number -> gun numbers.
# The others wait for a driver to start them from the H5 app.
FREE_VEND = {1: [1], 3: [1]}
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


# `jc-cloud` commands in one process: each argv through the same click group as the script.
CLI_BATCH = """
import json, sys
from cloud.cli import main
for argv in json.loads(sys.argv[1]):
    main.main(args=argv, prog_name="jc-cloud", standalone_mode=False)
"""


def with_free_vend(text: str) -> str:
    """The example config with free vend on FREE_VEND's guns; the other guns stay for drivers."""
    marker = "# free_vend_guns = [1]       # guns that start without authorisation when a car plugs in"
    parts = text.split(marker)
    out = parts[0]
    for pile, rest in enumerate(parts[1:], start=1):
        guns = FREE_VEND.get(pile)
        line = (f"free_vend_guns = {guns}      # the demo: these start when a car plugs in" if guns else
                "# free_vend_guns = []        # the demo: a driver starts these from the H5 app")
        out += line + rest
    return out


def gun_code(gun: str) -> str:
    """The QR code value of gun `gun` (e.g. P2-1) of the demo station."""
    return f"JCDEMO-{gun}"


def bin_path(name: str) -> str:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else name


class Demo:
    def __init__(self, workdir: Path, speed: float, scenario: str, hold_transfers: bool = False) -> None:
        self.workdir = workdir
        self.hold_transfers = hold_transfers  # the fake holds withdrawals for the payee's confirmation
        self.speed = speed
        self.scenario = scenario
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.logs = workdir / "logs"
        self.cloud_dir = workdir / "cloud"
        self.env = {**os.environ, "JC_INSTANCE_PATH": str(self.cloud_dir)}
        self.api_token = ""
        self.tariff_id = ""
        self.guns: list[dict] = []  # {gun, code, rated_power_w, free_vend}
        self.web_port = free_port()
        self.fake_port = free_port()
        self.operator_password = ""

    def say(self, text: str) -> None:
        click.echo(text, err=True)

    def run(self, args: list[str], **kw) -> str:
        out = subprocess.run(args, env=self.env, capture_output=True, text=True, **kw)
        if out.returncode != 0:
            raise click.ClickException(f"{' '.join(args[:3])} failed:\n{out.stderr.strip() or out.stdout.strip()}")
        return out.stdout

    def cli_batch(self, commands: list[list[str]]) -> str:
        """Run several `jc-cloud` commands in one process (each Python start costs seconds on a
        busy laptop): the same commands an operator types, one after the other."""
        return self.run([sys.executable, "-c", CLI_BATCH, json.dumps(commands)])

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

    def wechat(self) -> str:
        """The fake WeChat (login, Pay, cashier) with a fresh key set; the cloud's WECHAT_* and
        WECHATPAY_* settings are the ones `keys` prints. Its notifications go to the demo's
        web port (the notify URLs keep WeChat's https rule: --notify-origin)."""
        keys = self.workdir / "wechat-fake"
        fake = f"http://127.0.0.1:{self.fake_port}"
        printed = self.run([sys.executable, "-m", "cloud.fakes", "keys", str(keys), "--base-url", fake,
                            "--notify-base", "https://127.0.0.1"])
        for line in printed.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("JC_"):
                self.env[key] = json.loads(value) if value.startswith('"') else value
        self.spawn("wechat-fake", [sys.executable, "-m", "cloud.fakes", "serve", "--keys", str(keys),
                                   "--port", str(self.fake_port),
                                   "--notify-origin", f"http://127.0.0.1:{self.web_port}",
                                   "--retry-scale", "0.01", "--refund-delay", "2",
                                   *(["--hold-transfers"] if self.hold_transfers else [])])
        self.wait_port("wechat-fake", self.fake_port)
        return fake

    def amap(self) -> str:
        """The fake AMap driving-route API (cloud/fakes/amap.py) the trip planner asks, signed
        requests checked as AMap checks them (docs/trips.md)."""
        port = free_port()
        key, private = "demo-amap-key", secrets.token_hex(8)
        self.spawn("amap-fake", [sys.executable, "-m", "cloud.fakes", "amap", "--key", key,
                                 "--private-key", private, "--port", str(port)])
        self.wait_port("amap-fake", port)
        url = f"http://127.0.0.1:{port}"
        self.env.update({"JC_AMAP_KEY": key, "JC_AMAP_PRIVATE_KEY": private, "JC_AMAP_BASE_URL": url})
        return url

    def cloud(self) -> dict[str, int | str]:
        broker_port, cloud_port, https_port, web_port = free_port(), free_port(), free_port(), self.web_port
        broker_dir = self.cloud_dir / "broker"
        self.env.update({"JC_BROKER_HOST": "127.0.0.1", "JC_BROKER_PORT": str(broker_port),
                         "JC_BROKER_CLOUD_PORT": str(cloud_port),
                         "JC_BROKER_PID_FILE": str(broker_dir / "mosquitto.pid"),
                         "JC_SECRET_KEY": secrets.token_hex(32),
                         # The console is served over plain http on 127.0.0.1 here: its session
                         # cookie cannot be Secure. Production keeps it on (docs/cloud.md).
                         "JC_SESSION_COOKIE_SECURE": "false", "JC_ALLOW_PLAIN_HTTP": "true",
                         # QR codes carry the H5 app's scan URL on this laptop
                         "JC_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}"})
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

    def seed(self, sim: dict) -> None:
        """What an operator enters with the CLIs: the station's archive, its guns' QR codes and
        rated power, a time-of-use tariff in force; the QR labels as PNGs."""
        cmds = [["station", "set", SID, *[x for k, v in STATION.items() for x in (f"--{k}", v)]]]
        n = 0
        for d in sim["devices"]:
            if d["kind"] != "pile":
                continue
            n += 1
            for g in range(1, int(d["guns"]) + 1):
                gun = f"P{n}-{g}"
                cmds.append(["gun", "set", SID, gun, "--code", gun_code(gun),
                             "--rated-power-w", str(d["rated_power_w"]),
                             "--kind", "dc" if d["current"] == "DC" else "ac",
                             "--name", f"{n} 号桩 {g} 号枪" if int(d["guns"]) > 1 else f"{n} 号桩"])
                self.guns.append({"gun": gun, "code": gun_code(gun), "rated_power_w": d["rated_power_w"],
                                  "unit": d["unit"], "n": g, "free_vend": g in FREE_VEND.get(n, [])})
        body = self.workdir / "tariff.json"
        body.write_text(json.dumps(DEMO_TARIFF, ensure_ascii=False, indent=1), encoding="utf-8")
        # the first version of its code in a fresh database
        self.tariff_id = f"{TARIFF_CODE}-v1"
        # In force since yesterday's midnight: the gateway's clock runs from the simulator's
        # morning, which may lie before now.
        since = (datetime.now(TZ) - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        self.tariff_since_ms = int(since.timestamp() * 1000)
        cmds += [["tariff", "create", str(body), "--code", TARIFF_CODE, "--name", "演示分时电价 demo time-of-use"],
                 ["tariff", "assign", SID, self.tariff_id, "--from", since.isoformat(timespec="minutes"),
                  "--backdate"],  # the fresh station's first tariff: a start in the past needs saying so
                 ["station", "qr", SID, "--out", str(self.workdir / "qr")]]
        out = self.cli_batch(cmds)
        if f"{SID}: {self.tariff_id} from" not in out:
            raise click.ClickException(f"the tariff was not assigned as {self.tariff_id}:\n{out}")

    def where(self, fake: str, ports: dict[str, int | str], sim: dict, status_port: int) -> dict:
        web = f"http://127.0.0.1:{ports['web']}"
        drivers = [g for g in self.guns if not g["free_vend"]]
        return {"console": f"{web}/", "api_token": self.api_token,
                "operator": {"login": "demo", "password": self.operator_password},
                "app": f"{web}/app/", "app_login": f"{web}/app/login/wechat",
                "scan": f"{web}/app/scan?g={drivers[0]['code']}" if drivers else None,
                "driver_guns": [{"gun": g["gun"], "code": g["code"], "scan": f"{web}/app/scan?g={g['code']}",
                                 "plug": f"{sim['control']}/piles/{g['unit']}/guns/{g['n']}/plug"}
                                for g in drivers],
                "free_vend_guns": [g["gun"] for g in self.guns if g["free_vend"]],
                "wechat": fake, "cashier": f"{fake}/fake/cashier", "tariff": self.tariff_id,
                "qr": str(self.workdir / "qr"),
                "gateway": f"http://127.0.0.1:{status_port}/",
                "simulator": sim["control"], "broker": f"mqtts://127.0.0.1:{ports['broker']}",
                "provisioning": f"https://127.0.0.1:{ports['https']}/"}

    def text(self, w: dict, cfg: Path) -> str:
        drivers = "\n".join(f"      {g['gun']:<6} {g['scan']}" for g in w["driver_guns"])
        plug = w["driver_guns"][0]["plug"] if w["driver_guns"] else ""
        return f"""
Juchong demo running ({self.speed:g}x: a day in {24 * 60 / self.speed:.0f} minutes):
  driver H5 app       {w['app']}
      log in through WeChat web authorisation (the fake): {w['app_login']} (any user name, e.g. alice)
      guns for drivers (no free vend; open a scan URL, or scan a QR label in {w['qr']}):
{drivers}
      a car on such a gun waits for the driver; plug one in: curl -X POST {plug} -d '{{}}'
      free vend (the simulated day's cars start by themselves): {', '.join(w['free_vend_guns'])}
      tariff {w['tariff']} (time of use), pushed to the gateway by the jobs
  fake WeChat         {w['wechat']}   (a recharge opens its cashier: {w['cashier']};
                      确认支付 pays and its callback credits the wallet){self.transfers_text(w)}
  cloud console       {w['console']}   (log in as demo, password {self.operator_password})
  cloud API token     {self.api_token}   (for the JSON API: Authorization: Bearer …)
  gateway status      {w['gateway']}      (jc-gateway status --url {w['gateway'].rstrip('/')})
  simulator control   {w['simulator']}/state
  broker              {w['broker']}   (mutual TLS; CA in {self.cloud_dir / 'ca'})
  gateway config      {cfg}
  logs                {self.logs}
Press Ctrl-C to stop."""

    def transfers_text(self, w: dict) -> str:
        if not self.hold_transfers:
            return ""
        return (f"\n                      withdrawals wait for the payee: confirm on {w['wechat']}/fake/transfers"
                "\n                      (its callback marks them paid)")

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
        text = with_free_vend(text)
        cfg = gw_dir / "station.toml"
        cfg.write_text(text)
        gateway = bin_path("jc-gateway")
        self.run([gateway, "check-config", str(cfg)])
        token = json.loads(self.run([bin_path("jc-cloud"), "token", SID, "--json"]))
        self.seed(sim)
        # The store starts with the tariff the cloud assigned, as if set_tariff had already
        # come: the simulated day's first cars need a price before the jobs' first push (which
        # then sends the same version again).
        from edge.cache import Store
        with Store.open(gw_dir / "station.db") as store:
            # from the assignment's instant, not the store's now: the gateway's clock may be behind
            store.settings.set_tariff(Tariff.from_dict({**DEMO_TARIFF, "id": self.tariff_id}).to_dict(),
                                      self.tariff_since_ms)
        self.run([gateway, "provision", "-c", str(cfg), "--url", f"https://127.0.0.1:{ports['https']}",
                  "--token", token["token"], "--ca-fingerprint", token["ca_sha256"]])
        # Billing catch-up, tariff pushes, payment reconciliation and refunds. Started once the
        # gateway is provisioned: on SQLite its lease writes every round would contend with the
        # one-time token's redemption.
        self.spawn("jobs", [bin_path("jc-cloud"), "jobs", "--interval", "10"])
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
@click.option("--hold-transfers", is_flag=True,
              help="The fake WeChat Pay holds pile owners' withdrawals until the payee confirms them "
                   "(on the fake's /fake/transfers page).")
@click.option("--exit-after", type=float, default=None, hidden=True, help="Stop after this many seconds (tests).")
def main(speed: float, scenario: str, workdir: Path, hold_transfers: bool, exit_after: float | None) -> None:
    """Run simulator, gateway, broker and cloud together and print where to look."""
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    demo = Demo(workdir.resolve(), speed, scenario, hold_transfers)
    stopping = False

    def on_signal(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        demo.say("starting the fake WeChat (login, Pay, cashier) …")
        fake = demo.wechat()
        demo.say("starting the fake AMap (driving routes for the trip planner) …")
        demo.amap()
        demo.say("starting the cloud: CA, broker, ingest, web …")
        demo.say("  (demo only: the console runs on plain http at 127.0.0.1, so its session cookie is not "
                 "Secure: SESSION_COOKIE_SECURE=false with ALLOW_PLAIN_HTTP=true; never so in production)")
        ports = demo.cloud()
        demo.say(f"starting the simulated station ({scenario}, {speed:g}x) …")
        sim = demo.simulator()
        demo.say("entering the station, its guns and a tariff; provisioning the gateway with a one-time token, "
                 "starting it and the cloud's jobs …")
        status_port, cfg = demo.gateway(sim, ports)
        where = demo.where(fake, ports, sim, status_port)
        click.echo(json.dumps(where, ensure_ascii=False), nl=True)
        sys.stdout.flush()
        demo.say(demo.text(where, cfg))
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
