"""`jc-gateway`: the station gateway's command line."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

import click

from edge.config import ConfigError, load_config


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
        if not h or not p.isdigit():
            raise click.BadParameter("write HOST:PORT, e.g. 192.168.1.50:502", param_hint="--host")
        bauds = [None]

        def make(b: int | None) -> PymodbusTransport:
            return PymodbusTransport(host=h, port=int(p))

    def progress(unit: int, b: int | None) -> None:
        if sys.stderr.isatty():
            click.echo(f"\rscanning unit {unit:3d}" + (f" at {b} baud" if b else ""), err=True, nl=False)

    found = asyncio.run(scan_line(make, unit_list, bauds, profiles, timeout_s=timeout, progress=progress))
    if sys.stderr.isatty():
        click.echo("\r" + " " * 40 + "\r", err=True, nl=False)
    if as_json:
        click.echo(json.dumps([f.as_dict() for f in found], ensure_ascii=False))
    else:
        click.echo(format_table(found, serial=bool(serial_port)))


if __name__ == "__main__":
    main()
