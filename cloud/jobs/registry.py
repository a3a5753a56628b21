"""The jobs `jc-cloud jobs` runs, in this order each round. Adding a job is one line here."""

from __future__ import annotations

from collections.abc import Callable

from cloud.alarms import jobs as alarms  # alarms
from cloud.jobs import (
    bill_unreleased,
    close_stale,
    follow_starts,
    notices,
    push_tariffs,
    report_days,
    reservations,
    sharing,
    swap,
    wallet,
)
from cloud.jobs.context import JobContext
from cloud.occupancy import jobs as occupancy  # occupancy forecast

Job = Callable[[JobContext], int]  # returns how many things it did

JOBS: list[tuple[str, Job]] = [
    ("follow_starts", follow_starts.run),  # before close_stale: a late reply decides, not the age
    ("bill_unreleased", bill_unreleased.run),  # before close_stale: billed, not timed out
    ("close_stale", close_stale.run),
    ("push_tariffs", push_tariffs.run),
    ("reservations", reservations.run),  # ended at `until` (no-shows), releases confirmed from telemetry
    ("swap", swap.run),  # swap bookings past their slot: no-shows; packs past their ready time: ready
    ("notices", notices.run),  # reservation reminders made; reminders and system notices sent (WeChat)
    ("wallet_reconcile", wallet.reconcile_pending),
    ("wallet_refunds", wallet.refund_job),
    ("sharing_withdrawals", sharing.run),  # pile owners' transfers: sending ones asked, unanswered ones sent again
    ("alarms", alarms.job),  # gateway alarm lists, offline stations, SMS notifications (docs/alarms.md)
    ("report_days", report_days.run),  # the console's closed days summed ahead
    ("occupancy", occupancy.run),  # the occupancy forecast from the sessions, once an hour
]
