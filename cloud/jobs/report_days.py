"""The console's day rollup (cloud/reports/rollup.py) kept warm, so that no page view waits
for closed days to be summed (docs/reports.md)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.jobs.context import JobContext
from cloud.reports import rollup

REPORT_TZ = "Asia/Shanghai"  # the stations' zone; the console's day boundaries


def run(ctx: JobContext) -> int:
    with Session(ctx.engine) as s, s.begin():
        return len(rollup.refresh(s, REPORT_TZ, now=ctx.clock()))
