"""The alarms' periodic work, one pass: gateway alarm lists and offline stations swept,
notifications queued, due SMS sent (retries with backoff). `jc-cloud alarms sweep` runs it;
a job runner calls `run` the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from cloud.alarms import notify, service
from cloud.sms.provider import SmsProvider, make_provider


def run(s: Session, now: int, config: Mapping[str, Any], provider: SmsProvider | None = None) -> dict[str, int]:
    """Sweep, queue, commit, then deliver (which commits each notification)."""
    settings = notify.NotifySettings.from_config(config)
    out = service.sweep(s, now, settings.offline_after_s)
    out["queued"] = notify.queue(s, now, settings)
    s.commit()
    out.update(notify.deliver(s, now, provider or make_provider(config), settings))
    return out
