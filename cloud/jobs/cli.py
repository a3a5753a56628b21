"""`jc-cloud jobs`: the periodic jobs (docs/operate.md)."""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext


@click.command("jobs")
@click.option("--once", is_flag=True, help="Run every job once and exit.")
@click.option("--interval", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="Seconds between rounds.")
@click.option("--stale-hours", default=72.0, show_default=True, type=click.FloatRange(min=0.01),
              help="Open orders untouched this long are closed (abnormal, hold kept).")
@click.option("--release-wait-hours", default=12.0, show_default=True, type=click.FloatRange(min=0),
              help="Ended orders with no gun_released this long are billed without idle fee.")
@with_appcontext
def jobs(once: bool, interval: float, stale_hours: float, release_wait_hours: float) -> None:
    """Run the periodic jobs: bill unreleased orders, close stale orders, push due tariffs,
    the wallet's reconciliation and refunds. Several processes may run: each job runs in one
    at a time."""
    from sqlalchemy.orm import sessionmaker

    from cloud.commands import CommandService, MqttPublisher
    from cloud.db import make_engine
    from cloud.jobs.context import JobContext, JobSettings
    from cloud.jobs.runner import run_forever, run_once
    from cloud.mqtt import MqttSettings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = current_app.config
    engine = make_engine(config["DATABASE_URL"], purpose="writer")
    holder = f"jobs-{os.getpid()}-{secrets.token_hex(3)}"
    publisher = MqttPublisher(MqttSettings.from_config(config), holder)
    commands = CommandService(sessionmaker(engine), publisher.publish)
    settings = JobSettings(stale_ms=int(stale_hours * 3_600_000),
                           release_wait_ms=int(release_wait_hours * 3_600_000),
                           command_timeout_s=float(config.get("COMMAND_TIMEOUT_S", 10.0)))
    ctx = JobContext(engine=engine, holder=holder, settings=settings, send=commands.send,
                     config=config, extensions=current_app.extensions)
    try:
        if once:
            for name, count in run_once(ctx).items():
                click.echo(f"{name}: {'held elsewhere or failed' if count is None else count}")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        click.echo(f"jobs: every {interval:g} s", err=True)
        run_forever(ctx, interval, stop)
    finally:
        publisher.close()
        engine.dispose()
