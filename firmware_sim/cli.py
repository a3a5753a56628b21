"""`jc-sim`: run a simulated station, list or check scenarios.

    jc-sim run SCENARIO [--tcp HOST:PORT] [--rtu LINK --baud N] [--control HOST:PORT] [--speed X]
    jc-sim list
    jc-sim check SCENARIO

`run` prints ONE JSON object as its first stdout line (what it serves: addresses and
devices), flushed at once; logs go to stderr. SIGTERM/SIGINT stop it cleanly (the RTU
symlink is removed). Port 0 picks a free port.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

import click

from . import scenario as scenarios
from .app import Options, SimApp


def _host_port(value: str | None, option: str) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or not 0 <= int(port) <= 65535:
        raise click.BadParameter(f"give HOST:PORT (port 0 = any free port), got {value!r}",
                                 param_hint=option)
    return host or "127.0.0.1", int(port)


@click.group(help="Juchong station simulator: piles, meter, EVs and faults over Modbus.")
def main() -> None:
    pass


@main.command("run")
@click.argument("scenario")
@click.option("--tcp", "tcp", metavar="HOST:PORT",
              help="serve Modbus TCP here (default 127.0.0.1:5020 when --rtu is not given)")
@click.option("--rtu", "rtu", metavar="LINK", type=click.Path(dir_okay=False, path_type=Path),
              help="serve Modbus RTU on a pty; LINK becomes a symlink to its serial device")
@click.option("--baud", type=click.IntRange(300, 1_000_000),
              help="RTU line speed (default: the scenario's, else 9600)")
@click.option("--turnaround-ms", type=click.FloatRange(0, 1000),
              help="RTU slave turnaround after the 3.5-char gap (default: the scenario's, 5)")
@click.option("--control", metavar="HOST:PORT", help="serve the JSON control API here")
@click.option("--speed", type=click.FloatRange(0.001, 100_000),
              help="simulated time runs this many times faster than real time")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def run_command(scenario: str, tcp: str | None, rtu: Path | None, baud: int | None,
                turnaround_ms: float | None, control: str | None, speed: float | None,
                log_level: str) -> None:
    """Run SCENARIO (a .toml path or a shipped name, see `jc-sim list`)."""
    _setup_logging(log_level)
    try:
        loaded = scenarios.load(scenario)
    except scenarios.ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    if tcp is None and rtu is None:
        tcp = "127.0.0.1:5020"
    options = Options(
        scenario=loaded,
        tcp=_host_port(tcp, "--tcp"),
        rtu=rtu,
        baud=baud,
        turnaround_ms=turnaround_ms,
        control=_host_port(control, "--control"),
        speed=speed,
    )
    try:
        asyncio.run(_serve(options))
    except OSError as exc:
        raise click.ClickException(f"cannot start: {exc}") from None


async def _serve(options: Options) -> None:
    # Signal handlers first: a caller may stop us the moment it has read the first line.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = SimApp(options)
    description = await app.start()
    try:
        sys.stdout.write(json.dumps(description) + "\n")
        sys.stdout.flush()
        log = logging.getLogger("firmware_sim")
        log.info("scenario %s at %s, speed x%g; serving %s", options.scenario.name,
                 description["start_time"], app.clock.speed,
                 ", ".join(f"{k} {description[k]}" for k in ("tcp", "rtu", "control")
                           if description[k]))
        await stop.wait()
        log.info("stopping")
    finally:
        await app.stop()


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)-5s %(name)s: %(message)s",
    )
    # pymodbus is chatty at debug level and logs our injected faults as its own errors.
    logging.getLogger("pymodbus").setLevel(logging.ERROR if level != "debug" else logging.DEBUG)


@main.command("list")
def list_command() -> None:
    """List the shipped scenarios."""
    for name in scenarios.shipped_names():
        sc = scenarios.load(name)
        guns = sum(p.guns for p in sc.piles)
        click.echo(f"{name:10} {len(sc.piles):3} piles {guns:3} guns  meter unit "
                   f"{sc.meter.unit:<4} {sc.meter.rated_kva:g} kVA  {sc.description}")


@main.command("check")
@click.argument("scenario")
def check_command(scenario: str) -> None:
    """Load and validate SCENARIO; print a summary or what is wrong."""
    try:
        sc = scenarios.load(scenario)
    except scenarios.ScenarioError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{sc.name}: {len(sc.piles)} piles, meter at unit {sc.meter.unit}, "
               f"{len(sc.evs)} EV visits, {len(sc.events)} events: OK")


if __name__ == "__main__":  # pragma: no cover
    main()
