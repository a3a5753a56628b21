"""One process at a time per job: a row per job names the holder and until when it holds.

Taken by a conditional UPDATE (free, expired, or already ours), which both SQLite and
PostgreSQL run one at a time per row; a process that dies mid-job frees it when it expires."""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from cloud.db import insert_or_ignore
from cloud.jobs.models import JobLease


def acquire(s: Session, name: str, holder: str, now: int, ttl_ms: int) -> bool:
    insert_or_ignore(s, JobLease.__table__, [{"name": name, "holder": None, "until": 0}])
    got = s.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.until <= now, JobLease.holder == holder))
        .values(holder=holder, until=now + ttl_ms)
    )
    return got.rowcount == 1


def release(s: Session, name: str, holder: str) -> None:
    s.execute(update(JobLease).where(JobLease.name == name, JobLease.holder == holder)
              .values(holder=None, until=0))
