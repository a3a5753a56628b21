"""SMS about alarms: queued for each active alarm at or above the configured severity to the
station's recipients (rate-limited per station, kind and phone), then sent through the
provider with retries and backoff. Every notification is a row of the log with its status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cloud.alarms.models import Alarm, AlarmNotification, AlarmRecipient
from cloud.alarms.rules import SEVERITIES, rank
from cloud.models import Station
from cloud.sms.provider import SmsProvider, SmsResult

log = logging.getLogger("jc.alarms")

# What the alarm template's variables say, in Chinese (the SMS goes to people in China).
KIND_ZH = {
    "fault": "充电枪故障", "meter_lost": "变压器电表失联", "meter_implausible": "电表读数异常",
    "pile_lost": "充电桩失联", "load": "变压器负荷告警", "seq_conflict": "记录序号冲突",
    "start_refused": "启动被拒", "clock_skew": "网关时钟跳变", "gateway": "网关告警", "offline": "站点离线",
    "driver_report": "车主报修",
}  # fmt: skip
SEVERITY_ZH = {"info": "提示", "warning": "警告", "major": "严重", "critical": "紧急"}
PARAM_MAX = 35  # Aliyun's limit on one template variable


@dataclass(frozen=True)
class NotifySettings:
    template_code: str = "SMS_ALARM"
    min_severity: str = "major"
    min_interval_s: int = 1800
    max_attempts: int = 5
    backoff_s: float = 60.0  # the first retry; doubles each time, at most an hour
    offline_after_s: float = 300.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> NotifySettings:
        return cls(
            template_code=str(config.get("ALIYUN_SMS_TEMPLATE_ALARM") or "SMS_ALARM"),
            min_severity=str(config.get("ALARM_SMS_MIN_SEVERITY") or "major"),
            min_interval_s=int(config.get("ALARM_SMS_MIN_INTERVAL_S", 1800)),
            max_attempts=int(config.get("ALARM_SMS_MAX_ATTEMPTS", 5)),
            backoff_s=float(config.get("ALARM_SMS_BACKOFF_S", 60.0)),
            offline_after_s=float(config.get("ALARM_OFFLINE_AFTER_S", 300.0)),
        )


def template_params(alarm: Alarm, station_name: str | None, now: int) -> dict[str, str]:
    """The alarm template's variables: station, alarm (kind), gun, severity, time (UTC+8)."""
    import time

    def cut(v: str) -> str:
        return v[:PARAM_MAX]

    return {
        "station": cut(station_name or alarm.sid), "alarm": cut(KIND_ZH.get(alarm.kind, alarm.kind)),
        "gun": cut(alarm.gun or "-"), "severity": SEVERITY_ZH.get(alarm.severity, alarm.severity),
        "time": time.strftime("%m-%d %H:%M", time.gmtime(alarm.raised_at / 1000 + 8 * 3600)),
    }  # fmt: skip


def queue(s: Session, now: int, settings: NotifySettings) -> int:
    """Queue notifications for active alarms that reached the threshold and were not yet
    notified at their severity. Returns how many rows were written (suppressed included)."""
    wanted = [n for n in SEVERITIES if rank(n) >= rank(settings.min_severity)]
    alarms = s.scalars(
        select(Alarm).where(Alarm.cleared_at.is_(None), Alarm.severity.in_(wanted)).order_by(Alarm.id)
    ).all()
    written = 0
    window = now - settings.min_interval_s * 1000
    for alarm in alarms:
        if rank(alarm.severity) <= alarm.notified_rank:
            continue
        alarm.notified_rank = rank(alarm.severity)
        phones = s.scalars(select(AlarmRecipient.phone).where(
            AlarmRecipient.sid == alarm.sid, AlarmRecipient.enabled.is_(True)).order_by(AlarmRecipient.id)).all()
        if not phones:
            continue
        params = template_params(alarm, s.scalar(select(Station.name).where(Station.sid == alarm.sid)), now)
        for phone in phones:
            recent = s.scalar(select(AlarmNotification.id).where(
                AlarmNotification.sid == alarm.sid, AlarmNotification.kind == alarm.kind,
                AlarmNotification.phone == phone, AlarmNotification.created_at > window,
                AlarmNotification.status.in_(("pending", "sent", "failed"))).limit(1))
            s.add(AlarmNotification(
                alarm_id=alarm.id, sid=alarm.sid, kind=alarm.kind, phone=phone,
                template_code=settings.template_code, params=params,
                status="suppressed" if recent is not None else "pending", attempts=0,
                next_attempt_at=None if recent is not None else now, created_at=now,
                error_code="rate_limited" if recent is not None else None,
            ))  # fmt: skip
            written += 1
    s.flush()
    return written


def backoff_ms(attempts: int, settings: NotifySettings) -> int:
    return int(min(3600.0, settings.backoff_s * 2 ** max(0, attempts - 1)) * 1000)


def deliver(s: Session, now: int, provider: SmsProvider, settings: NotifySettings, limit: int = 100) -> dict[str, int]:
    """Send the notifications that are due. Each is claimed first (its next attempt moved on
    by a lease, committed) so that two job processes never send one twice, then sent, then
    its outcome committed: this function commits."""
    counts = {"sent": 0, "failed": 0, "given_up": 0}
    due = s.execute(
        select(AlarmNotification.id, AlarmNotification.next_attempt_at).where(
            AlarmNotification.status.in_(("pending", "failed")), AlarmNotification.next_attempt_at <= now)
        .order_by(AlarmNotification.next_attempt_at, AlarmNotification.id).limit(limit)
    ).all()
    s.commit()
    lease = now + 120_000
    for nid, at in due:
        claimed = s.execute(
            update(AlarmNotification).where(AlarmNotification.id == nid, AlarmNotification.next_attempt_at == at,
                                            or_(AlarmNotification.status == "pending",
                                                AlarmNotification.status == "failed"))
            .values(next_attempt_at=lease)
        ).rowcount
        s.commit()
        if not claimed:
            continue
        n = s.get(AlarmNotification, nid)
        assert n is not None
        try:
            result = provider.send(n.phone, n.template_code, n.params)
        except Exception as exc:  # noqa: BLE001 - a provider bug is one failed attempt
            log.exception("SMS provider raised")
            result = SmsResult(False, "provider_error", f"{type(exc).__name__}: {exc}"[:500])
        n.attempts += 1
        n.provider = getattr(provider, "name", None)
        if result.ok:
            n.status, n.sent_at, n.provider_ref, n.next_attempt_at = "sent", now, result.biz_id, None
            n.error_code = n.error = None
        else:
            n.error_code, n.error = result.code[:64], (result.message or "")[:1000]
            if result.permanent or n.attempts >= settings.max_attempts:
                n.status, n.next_attempt_at = "given_up", None
            else:
                n.status, n.next_attempt_at = "failed", now + backoff_ms(n.attempts, settings)
            log.warning("SMS to %s for alarm %d %s: %s %s", n.phone, n.alarm_id, n.status, result.code, result.message)
        counts["sent" if n.status == "sent" else n.status] += 1
        s.commit()
    return counts


def notifications(
    s: Session, *, sids: set[str] | None = None, status: str | None = None, alarm_id: int | None = None,
    page: int = 1, per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """The notification log, newest first, under the owner scope."""
    from sqlalchemy import func

    from cloud.alarms.service import paging

    page, per_page = paging(page, per_page)
    conds = []
    if sids is not None:
        conds.append(AlarmNotification.sid.in_(sorted(sids)))
    if status is not None:
        conds.append(AlarmNotification.status == status)
    if alarm_id is not None:
        conds.append(AlarmNotification.alarm_id == alarm_id)
    total = s.scalar(select(func.count()).select_from(AlarmNotification).where(*conds)) or 0
    rows = s.scalars(select(AlarmNotification).where(*conds).order_by(AlarmNotification.id.desc())
                     .offset((page - 1) * per_page).limit(per_page)).all()
    return [{c: getattr(n, c) for c in (
        "id", "alarm_id", "sid", "kind", "phone", "template_code", "params", "provider", "status", "attempts",
        "next_attempt_at", "error_code", "error", "provider_ref", "created_at", "sent_at")} for n in rows], int(total)
