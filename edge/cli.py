"""`jc-gateway`: the station gateway's command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from pathlib import Path

import click

from edge.config import ConfigError, load_config

log = logging.getLogger("edge.cli")


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """Juchong station gateway: polls the piles and the transformer meter, enforces the
    transformer rule offline, keeps every record and syncs it with the cloud."""
    _setup_logging(verbose)
    ctx.ensure_object(dict)


def _quiet_transport_log() -> None:
    # The installer commands print a failed open themselves; the transport's own warning
    # would say it twice. -v shows it again.
    if logging.getLogger().level >= logging.WARNING:
        logging.getLogger("edge.drivers.transport").setLevel(logging.ERROR)


@main.command("check-config")
@click.argument("file", type=click.Path(dir_okay=False))
def check_config(file: str) -> None:
    """Validate a station config (TOML); say exactly which key is wrong and what to write."""
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        click.echo(f"{len(exc.errors)} problem{'s' if len(exc.errors) != 1 else ''} in {file}", err=True)
        sys.exit(1)
    buses = ", ".join(f"{b.name} ({b.address}{f' @{b.baud}' if b.serial else ''})" for b in cfg.buses)
    from edge.config import device_warnings

    for line in device_warnings(cfg):
        click.echo(f"warning: {line}", err=True)
    click.echo(f"{file}: OK")
    click.echo(f"  station   {cfg.station.id}" + (f" ({cfg.station.name})" if cfg.station.name else ""))
    click.echo(f"  buses     {buses}")
    for p in cfg.piles:
        click.echo(f"  pile      {p.id}: bus {p.bus} unit {p.unit}, profile {p.profile}"
                   + (", free vend" if p.free_vend else ""))
    if cfg.meter:
        click.echo(f"  meter     bus {cfg.meter.bus} unit {cfg.meter.unit}, profile {cfg.meter.profile}")
    else:
        click.echo("  meter     none: load control runs in failsafe (no new starts) without one", err=True)
    lp = cfg.load_policy
    click.echo(f"  load      {cfg.rated_kva:g} kVA, {lp.mode}: cap above {lp.cap_above_pct:g}% "
               f"(to {lp.cap_power_pct:g}% power), block above {lp.block_above_pct:g}%")


@main.command()
@click.option("--port", "serial_port", help="Serial device of the RS-485 line, e.g. /dev/ttyUSB0.")
@click.option("--baud", type=int, multiple=True,
              help="Baud rate; repeat to try several. Default: each rate a profile names (9600, 1200).")
@click.option("--parity", type=click.Choice(["N", "E", "O"]), default="N", show_default=True)
@click.option("--host", help="Modbus TCP host:port instead of a serial line.")
@click.option("--units", default="1-247", show_default=True, help="Unit ids to try, e.g. 1-20,100.")
@click.option("--timeout", type=float, default=0.15, show_default=True,
              help="Seconds to wait for each unit beyond the frames' wire time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def scan(serial_port: str | None, baud: tuple[int, ...], parity: str, host: str | None, units: str,
         timeout: float, as_json: bool) -> None:
    """Find which unit ids answer on a line and which profile fits each."""
    from edge.drivers.profile import load_profile, shipped_profiles
    from edge.drivers.scan import format_table, parse_units, scan_line
    from edge.drivers.transport import PymodbusTransport, SerialSettings

    if (serial_port is None) == (host is None):
        raise click.UsageError("give --port DEV (RS-485) or --host HOST:PORT (Modbus TCP)")
    try:
        unit_list = parse_units(units)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--units") from None
    profiles = [load_profile(p) for p in shipped_profiles()]
    if serial_port:
        bauds: list[int | None] = list(baud) or sorted(
            {b for p in profiles for b in p.options.get("default_bauds", [])} | {9600}, reverse=True)

        def make(b: int | None) -> PymodbusTransport:
            return PymodbusTransport(serial=SerialSettings(serial_port, baud=b or 9600, parity=parity))
    else:
        h, _, p = (host or "").rpartition(":")
        if not h or not (p.isascii() and p.isdigit()):
            raise click.BadParameter("write HOST:PORT, e.g. 192.168.1.50:502", param_hint="--host")
        bauds = [None]

        def make(b: int | None) -> PymodbusTransport:
            return PymodbusTransport(host=h, port=int(p))

    def progress(unit: int, b: int | None) -> None:
        if sys.stderr.isatty():
            click.echo(f"\rscanning unit {unit:3d}" + (f" at {b} baud" if b else ""), err=True, nl=False)

    from edge.drivers.errors import LinkDown

    _quiet_transport_log()
    try:
        found = asyncio.run(scan_line(make, unit_list, bauds, profiles, timeout_s=timeout, progress=progress))
    except LinkDown as exc:
        hint = ("check the device name (ls /dev/serial/by-id/) and that this user may open it "
                "(group dialout)") if serial_port else "check the address and that the gateway answers on it"
        click.echo(f"\nerror: {exc}; {hint}", err=True)
        sys.exit(2)
    if sys.stderr.isatty():
        click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in found], ensure_ascii=False))
    else:
        click.echo(format_table(found, serial=bool(serial_port)))


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The station config (TOML).")
def run(config_path: str) -> None:
    """Run the gateway daemon (stops cleanly on SIGTERM)."""
    from edge.credentials import load_signer
    from edge.station import Station
    from edge.statusweb import StatusServer

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    if logging.getLogger().level > logging.INFO:
        logging.getLogger().setLevel(logging.INFO)
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

    clock = None
    if os.environ.get("JC_TEST_CLOCK"):
        from edge.clock import ScaledClock

        clock = ScaledClock.from_env(os.environ["JC_TEST_CLOCK"])
        log.warning("test clock in use: wall time runs %gx", clock.speed)

    async def main_async() -> None:
        station = Station(cfg, signer=load_signer(cfg), clock=clock)
        station.status_server = StatusServer(station, cfg.status.listen, pairing_from=cfg.status.pairing_from)
        try:
            from edge.sync import attach_sync
        except ImportError:
            attach_sync = None
        if attach_sync is not None:
            attach_sync(station)
        await station.run()
        if station.fatal is not None:
            sys.exit(3)  # systemd restarts it; the start checks and recovers the store

    try:
        asyncio.run(main_async())
    except KeyboardInterrupt:
        pass


@main.command()
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False),
              help="The station config: its [status] listen address is asked.")
@click.option("--url", help="The gateway's status address, e.g. http://127.0.0.1:8081 (default from the config, "
                            "else http://127.0.0.1:8081).")
@click.option("--json", "as_json", is_flag=True, help="Print the status JSON.")
def status(config_path: str | None, url: str | None, as_json: bool) -> None:
    """Print a running gateway's status: guns, load, meter, outbox, sync, alarms."""
    import urllib.error
    import urllib.request

    url = _status_url(config_path, url)
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/api/status", timeout=5) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"error: no gateway answers at {url}: {getattr(exc, 'reason', exc)}. "
                   "Is `jc-gateway run` running, and is [status] listen the same address?", err=True)
        sys.exit(2)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(format_status(data))


def _status_url(config_path: str | None, url: str | None) -> str:
    """The running gateway's status address: --url, else the config's [status] listen."""
    if url is not None:
        return url
    listen = "127.0.0.1:8081"
    if config_path:
        try:
            listen = load_config(config_path).status.listen
        except ConfigError as exc:
            for line in exc.errors:
                click.echo(f"error: {line}", err=True)
            sys.exit(1)
    host, _, port = listen.rpartition(":")
    if host == "0.0.0.0":  # listening everywhere: ask it on this machine
        host = "127.0.0.1"
    elif host in ("::", "[::]"):  # every IPv6 address only (asyncio binds it IPv6-only): ::1
        host = "[::1]"
    if ":" in host and not host.startswith("["):  # an IPv6 address in a URL is in brackets
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _call(url: str, path: str, body: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    """One JSON request to the running gateway: (status, answer). Exits 2 when nothing answers."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url.rstrip("/") + path, method="GET" if body is None else "POST",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read().decode("utf-8"))
        except ValueError:
            return exc.code, {"error": "http_error", "message": str(exc.reason)}
    except (urllib.error.URLError, OSError, ValueError) as exc:
        click.echo(f"error: no gateway answers at {url}: {getattr(exc, 'reason', exc)}. "
                   "Is `jc-gateway run` running, and is [status] listen the same address?", err=True)
        sys.exit(2)


@main.command("pairing-code")
@click.argument("gun")
@click.option("-c", "--config", "config_path", type=click.Path(dir_okay=False),
              help="The station config: its [status] listen address is asked.")
@click.option("--url", help="The gateway's status address (default from the config, else http://127.0.0.1:8081).")
@click.option("--hours", type=click.IntRange(1, 24 * 7), default=24, show_default=True,
              help="How long the code stays valid.")
@click.option("--json", "as_json", is_flag=True, help="Print {code, gun, expires_at, seq, acked_seq, in_cloud} "
                                                      "as JSON.")
def pairing_code(gun: str, config_path: str | None, url: str | None, hours: int, as_json: bool) -> None:
    """A one-time pairing code for the owner of GUN (e.g. P1-1) to register it as their shared
    pile in the driver app, made by the running gateway and shown once. Only its SHA-256 goes
    to the cloud, as a record in the outbox: the code works once the cloud has that record.
    A new code for the gun voids the older ones."""
    from datetime import datetime

    base = _status_url(config_path, url)
    status, info = _call(base, "/api/pairing")
    if status != 200 or not info.get("allowed"):
        click.echo(f"error: {info.get('message') or status}", err=True)
        sys.exit(1)
    status, made = _call(base, "/api/pairing-codes", {"gun": gun, "hours": hours}, {"X-JC-Token": info["token"]})
    if status != 201:
        click.echo(f"error: {made.get('message') or made.get('error') or status}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps({k: made[k] for k in ("code", "gun", "expires_at", "seq", "acked_seq", "in_cloud")}))
        return
    until = datetime.fromtimestamp(made["expires_at"] / 1000).astimezone().strftime("%Y-%m-%d %H:%M %Z")
    click.echo(f"{made['code']}  ({made['gun']}, valid until {until})")
    if made["in_cloud"]:
        click.echo("The cloud has it: register the gun in the driver app with this code now.")
    else:
        click.echo(f"It works once the cloud has record {made['seq']} (acknowledged so far: {made['acked_seq']}); "
                   "`jc-gateway status` shows the outbox. Register the gun in the driver app after that.")
    click.echo("Shown once: this gateway does not keep it. A new code for this gun voids this one.")


def _orderly_text(o: dict | None) -> str:
    """An orderly session on `jc-gateway status`: its plan's standing and whether it waits."""
    if not o:
        return ""
    return (f"  orderly {o['status']}: {o['expected_wh'] / 1000:.2f} of {o['energy_wh'] / 1000:.2f} kWh"
            + (f"  car takes {o['acceptance_w'] / 1000:.2f} kW" if o.get("acceptance_w") else "")
            + ("  waiting for a cheaper slot" if o.get("waiting") else ""))


def format_status(s: dict) -> str:
    load = s["load"]
    pct = "-" if load["load_pct"] is None else f"{load['load_pct']:.1f}%"
    lines = [
        f"station  {s['station']['id']}  v{s['station']['version']}  up {s['station']['uptime_s']} s",
        f"load     {pct} of {load['rated_kva']:g} kVA  level {load['level']}  "
        f"({'starts allowed' if load['may_start'] else 'no new starts'})",
    ]
    if load.get("reason"):
        lines.append(f"         {load['reason']}")
    m = s["meter"]
    lines.append(f"meter    S {m['s_total_va'] if m['s_total_va'] is not None else '-'} VA  "
                 f"age {m['age_s'] if m['age_s'] is not None else '-'} s" + ("  LOST" if m["lost"] else ""))
    for b in s.get("buses", []):
        if b.get("open_error"):
            lines.append(f"bus      {b['name']} ({b['address']}) CANNOT OPEN: {b['open_error']}")
    ob = s["outbox"]
    lines.append(f"outbox   {ob['depth']} to send, last seq {ob['last_seq']}, acked {ob['acked_seq']}")
    sync = s.get("sync") or {}
    if sync.get("configured") is False:
        lines.append("sync     not configured (run `jc-gateway provision`)")
    else:
        lines.append(f"sync     {'connected' if sync.get('connected') else 'offline'}  last ack "
                     f"{sync.get('last_ack_at') or '-'}")
    lines.append("")
    lines.append(f"{'GUN':8} {'STATE':15} {'POWER':>9} {'LIMIT':>9}  SESSION")
    for g in s["guns"]:
        sess = g.get("session")
        idle = g.get("idle")
        sdesc = (f"{sess['session_id'][:8]} {sess['energy_wh'] / 1000:.2f} kWh {sess['cost_fen'] / 100:.2f} CNY"
                 + ("  waiting for load" if sess.get("waiting_for_load") else "")
                 + _orderly_text(sess.get("orderly"))
                 if sess else f"idle after {idle['session_id'][:8]}: {idle['idle_fen_now'] / 100:.2f} CNY"
                 if idle else "")
        limit = "-" if g["limit_w"] is None else f"{g['limit_w'] / 1000:.1f} kW"
        lines.append(f"{g['id']:8} {g['state']:15} {g['power_w'] / 1000:>6.1f} kW {limit:>9}  {sdesc}"
                     + (f"  faults: {', '.join(g['faults'])}" if g["faults"] else ""))
    codes = s.get("pairing_codes") or []
    if codes:
        from datetime import datetime

        from edge.pairing import refusal_advice

        lines.append("")
        for c in codes:
            until = datetime.fromtimestamp(c["expires_at"] / 1000).astimezone().strftime("%Y-%m-%d %H:%M %Z")
            head = f"PAIRING  {c['gun']} code valid until {until}: "
            if c["state"] == "refused":
                lines.append(head + f"[{c['reason']}] " + refusal_advice(c["reason"], c["gun"])["en"])
            elif c["state"] == "waiting":
                lines.append(head + f"waiting for the cloud (record {c['seq']})")
            else:
                lines.append(head + "the cloud has it")
    if s["alarms"]:
        lines.append("")
        lines += [f"ALARM    {a['key']}: {a['message']}" for a in s["alarms"]]
    return "\n".join(lines)


@main.command()
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="The station config: its [station] id and [cloud] credentials_dir are used.")
@click.option("--url", required=True, help="The cloud's address, e.g. https://cloud.example.com/")
@click.option("--token", required=True, help="The one-time token from the operator (`jc-cloud token SID`).")
@click.option("--ca-fingerprint", help="SHA-256 of the cloud's CA, as `jc-cloud token` printed it: checked "
                                       "before the token is sent.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False),
              help="Trust this CA for the HTTPS connection (instead of a fingerprint).")
def provision(config_path: str, url: str, token: str, ca_fingerprint: str | None, ca_file: str | None) -> None:
    """Get this station's certificate from the cloud (its key never leaves this machine)."""
    from edge.credentials import credentials_dir
    from edge.provision import ProvisionError
    from edge.provision import provision as do_provision

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        for line in exc.errors:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    try:
        done = do_provision(url=url, token=token, sid=cfg.station.id, credentials=credentials_dir(cfg),
                            ca_fingerprint=ca_fingerprint, ca_file=ca_file)
    except ProvisionError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"station {done.sid} provisioned: certificate {done.cert_file}, broker "
               f"{done.broker_host}:{done.broker_port}. Restart the gateway to connect.")


@main.command("example-config")
@click.option("--sim", "sim", required=True, help="The simulator's Modbus TCP address HOST:PORT "
              "(the `tcp` of jc-sim's first line).")
@click.option("--control", "control", help="The simulator's control API, HOST:PORT or URL (the `control` "
              "of jc-sim's first line): the transformer rating is read from it.")
@click.option("--station-id", default="ST-DEMO-01", show_default=True)
@click.option("--rated-kva", type=click.FloatRange(min=0, min_open=True, max=100_000), default=None,
              help="Transformer rating in kVA (the nameplate); overrides what --control reports. "
                   "One of the two is needed: the meter does not report the rating.")
@click.option("--store", "store_path", default="var/station.db", show_default=True)
@click.option("--status-listen", default="127.0.0.1:8081", show_default=True)
@click.option("--units", default="1-16", show_default=True, help="Unit ids to look for on the simulator.")
def example_config(sim: str, control: str | None, station_id: str, rated_kva: float | None, store_path: str,
                   status_listen: str, units: str) -> None:
    """Print a working, commented station config for the simulator's station (found by a scan)."""
    from edge.drivers.errors import LinkDown
    from edge.drivers.scan import parse_units, scan_line
    from edge.drivers.transport import PymodbusTransport
    from edge.example import SimInfoError, render_example, sim_rated_kva

    h, _, p = sim.rpartition(":")
    if not h or not (p.isascii() and p.isdigit()):
        raise click.BadParameter("write HOST:PORT, e.g. 127.0.0.1:5020", param_hint="--sim")
    try:
        unit_list = parse_units(units)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--units") from None
    if rated_kva is None and control is None:
        click.echo("error: the transformer rating is not known, and load % is S total / rated kVA: the meter "
                   "(ARCM300T) does not report it. Give --control HOST:PORT (jc-sim's control API, the "
                   "`control` of its first line; start jc-sim with --control) or --rated-kva KVA from the "
                   "transformer's nameplate.", err=True)
        sys.exit(2)
    if control is not None:
        try:
            reported = sim_rated_kva(control)
        except SimInfoError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        if rated_kva is not None and rated_kva != reported:
            click.echo(f"note: --rated-kva {rated_kva:g} kept; the simulator reports {reported:g} kVA", err=True)
        rated_kva = rated_kva if rated_kva is not None else reported
    _quiet_transport_log()
    try:
        found = asyncio.run(scan_line(lambda b: PymodbusTransport(host=h, port=int(p)), unit_list, [None]))
    except LinkDown as exc:
        click.echo(f"error: {exc}; is `jc-sim run` serving Modbus TCP at {sim} "
                   "(the `tcp` of its first line)?", err=True)
        sys.exit(2)
    if not any(f.kind == "pile" for f in found):
        click.echo(f"error: no pile answers at {sim} (units {units}); is `jc-sim run` serving there?", err=True)
        sys.exit(2)
    click.echo(render_example(found, sim_host=h, sim_port=int(p), station_id=station_id, rated_kva=rated_kva,
                              store_path=store_path, status_listen=status_listen,
                              credentials_dir=str(Path(store_path).parent / "credentials")))


if __name__ == "__main__":
    main()
