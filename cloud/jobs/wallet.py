"""The wallet's periodic work, when the wallet package is installed and a merchant is
configured: payments still pending asked of the provider (`reconcile_pending`), refund parts
sent again (`refund_job`). The wallet's jobs commit as they go (no transaction is open while
the provider is asked)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext


def _run(ctx: JobContext, name: str) -> int:
    try:
        from cloud.wallet import jobs  # type: ignore[import-not-found]
        from cloud.wallet.settings import WalletSettings, configured, provider_for  # type: ignore[import-not-found]
    except ImportError:
        return 0
    if not configured(ctx.config):
        return 0
    provider = provider_for(ctx.config, ctx.extensions)
    with Session(ctx.engine) as s:
        got: Any = getattr(jobs, name)(s, provider, ctx.clock(),
                                       settings=WalletSettings.from_settings(ctx.config))
        s.commit()
    if isinstance(got, dict):
        return sum(v for v in got.values() if isinstance(v, int))
    return len(got) if isinstance(got, list | tuple | set) else int(got or 0)


def reconcile_pending(ctx: JobContext) -> int:
    return _run(ctx, "reconcile_pending")


def refund_job(ctx: JobContext) -> int:
    return _run(ctx, "refund_job")
