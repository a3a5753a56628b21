"""What a job is handed: the database, the clock, the settings, a way to send commands."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from jcproto import Reply

SendCommand = Callable[[str, str, Mapping[str, Any], float], Reply]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class JobSettings:
    stale_ms: int = 72 * 3_600_000  # an open order untouched this long is closed (abnormal)
    release_wait_ms: int = 12 * 3_600_000  # ended, no gun_released this long: billed without idle
    catch_up_ms: int = 5 * 60_000  # an order still shown running this long after its session ended
    command_timeout_s: float = 10.0
    lease_ms: int = 5 * 60_000  # longer than any one run of a job


@dataclass
class JobContext:
    engine: Engine
    holder: str  # this process, for the leases
    settings: JobSettings = field(default_factory=JobSettings)
    send: SendCommand | None = None  # None: jobs that send commands skip their work
    clock: Callable[[], int] = _now_ms
    config: Mapping[str, Any] = field(default_factory=dict)  # the app's settings (WECHATPAY_*, WALLET_*)
    extensions: dict[str, Any] = field(default_factory=dict)  # the app's, where the wallet keeps its provider
