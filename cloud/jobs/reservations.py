"""Reservations whose `until` has come are ended (a no-show books its fee by the station's
rules), and ended ones are matched with what their station reports: the gateway releases a
gun at `until` by itself, also offline, and the cloud confirms it from the station's
telemetry once the link is back (cloud.reservations.service)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import sessionmaker

from cloud.jobs.context import JobContext
from cloud.reservations import service as reservations


def run(ctx: JobContext) -> int:
    settings = reservations.ReservationSettings.from_settings(
        {"COMMAND_TIMEOUT_S": ctx.settings.command_timeout_s, **dict(ctx.config)})
    transactions = sessionmaker(ctx.engine).begin
    now = ctx.clock()
    ended = reservations.expire_due(transactions, settings, now)
    send = ctx.send
    timeout = ctx.settings.command_timeout_s

    def send3(sid: str, type_: str, payload: Any) -> Any:
        assert send is not None
        return send(sid, type_, payload, timeout)

    return ended + reservations.reconcile_releases(transactions, send3 if send is not None else None, settings, now)
