"""The alarms' periodic work, one pass: gateway alarm lists and offline stations swept,
notifications queued, due SMS sent (retries with backoff). `jc-cloud jobs` runs it as the job
`alarms` (`job`, registered in cloud/jobs/registry.py); `jc-cloud alarms sweep` runs it alone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from cloud.alarms import notify, service
from cloud.sms.provider import SmsProvider, make_provider

if TYPE_CHECKING:
    from cloud.jobs.context import JobContext


def run(s: Session, now: int, config: Mapping[str, Any], provider: SmsProvider | None = None) -> dict[str, int]:
    """Sweep, queue, commit, then deliver (which commits each notification)."""
    settings = notify.NotifySettings.from_config(config)
    out = service.sweep(s, now, settings.offline_after_s)
    out["queued"] = notify.queue(s, now, settings)
    s.commit()
    out.update(notify.deliver(s, now, provider or make_provider(config), settings))
    return out


def job(ctx: JobContext) -> int:
    """The `jc-cloud jobs` entry: one pass with the app's settings; how many things it did."""
    with Session(ctx.engine) as s:
        out = run(s, ctx.clock(), ctx.config)
    return sum(out.values())
