"""Run the registered jobs: once, or every `interval` seconds until stopped. Each job runs
under its lease (one process at a time) and on its own: one that raises is logged and the
others still run."""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session

from cloud.jobs import lease
from cloud.jobs.context import JobContext
from cloud.jobs.registry import JOBS, Job

log = logging.getLogger("jc.jobs")


def run_job(ctx: JobContext, name: str, job: Job) -> int | None:
    """The job's count, or None when another process holds it (or it raised)."""
    with Session(ctx.engine) as s, s.begin():
        if not lease.acquire(s, name, ctx.holder, ctx.clock(), ctx.settings.lease_ms):
            return None
    try:
        return job(ctx)
    except Exception:  # noqa: BLE001 - one job never stops the others
        log.exception("job %s failed", name)
        return None
    finally:
        with Session(ctx.engine) as s, s.begin():
            lease.release(s, name, ctx.holder)


def run_once(ctx: JobContext, jobs: list[tuple[str, Job]] | None = None) -> dict[str, int | None]:
    out = {}
    for name, job in JOBS if jobs is None else jobs:
        out[name] = run_job(ctx, name, job)
        if out[name]:
            log.info("job %s: %d done", name, out[name])
    return out


def run_forever(ctx: JobContext, interval_s: float, stop: threading.Event) -> None:
    while not stop.is_set():
        run_once(ctx)
        stop.wait(interval_s)
