"""The wallet's periodic work, when the wallet package provides it: payments still pending
asked of the provider (`reconcile_pending`), refunds carried on (`refund_job`)."""

from __future__ import annotations

import importlib
from typing import Any

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext


def _job(name: str) -> Any:
    try:
        module = importlib.import_module("cloud.wallet.jobs")
    except ImportError:
        return None
    return getattr(module, name, None)


def _run(ctx: JobContext, name: str) -> int:
    fn = _job(name)
    if fn is None:
        return 0
    with Session(ctx.engine) as s, s.begin():
        got = fn(s)
    return len(got) if isinstance(got, list | tuple | set) else int(got or 0)


def reconcile_pending(ctx: JobContext) -> int:
    return _run(ctx, "reconcile_pending")


def refund_job(ctx: JobContext) -> int:
    return _run(ctx, "refund_job")
