"""SMS notifications of alarms on a migrated database (SQLite and PostgreSQL), sent by the
real Aliyun client to the fake: threshold, recipients, rate limit, failures recorded with
the provider's code and retried with backoff, permanent refusals given up, the job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alarms import jobs, notify, service
from cloud.alarms.models import AlarmNotification
from cloud.alarms.service import AlarmError, EventIn
from cloud.fakes.sms import FakeAliyunSms, FakeSmsServer
from cloud.sms.aliyun import AliyunSms
from cloud.sms.provider import LogProvider

T0 = 1_780_000_000_000
KEY, SECRET, TEMPLATE = "LTAI5tNotify", "notify-secret", "SMS_ALARM_1"
SETTINGS = notify.NotifySettings(template_code=TEMPLATE, min_severity="major", min_interval_s=1800,
                                 max_attempts=3, backoff_s=60)


@pytest.fixture(scope="module")
def sms() -> Iterator[FakeSmsServer]:
    fake = FakeAliyunSms({KEY: SECRET}, sign_names={"聚充科技"},
                         templates={TEMPLATE: ["station", "alarm", "gun", "severity", "time"]})
    with FakeSmsServer(fake) as srv:
        yield srv


def provider(srv: FakeSmsServer) -> AliyunSms:
    return AliyunSms(KEY, SECRET, "聚充科技", base_url=srv.url, timeout_s=5)


def ev(seq: int, kind: str, gun: str | None = None, detail: dict | None = None, sid: str = "S1") -> EventIn:
    return EventIn(sid, seq, T0 + seq, kind, gun, detail or {})


def rows(s: Session) -> list[AlarmNotification]:
    s.expire_all()
    return list(s.scalars(select(AlarmNotification).order_by(AlarmNotification.id)))


def check_recipients(s: Session) -> None:
    assert service.add_recipient(s, "S1", "+86 138-0013-8000", "值班")["phone"] == "13800138000"
    service.add_recipient(s, "S1", "13800138000")  # again: one row
    assert [r["phone"] for r in service.recipients(s, "S1")] == ["13800138000"]
    assert service.recipients(s, "S1", sids={"S2"}) == []
    for bad in ("12345", "phone", "23800138000"):
        with pytest.raises(AlarmError) as e:
            service.add_recipient(s, "S1", bad)
        assert e.value.code == "bad_phone"
    with pytest.raises(AlarmError):
        service.add_recipient(s, "S1", "13900139000", sids={"S2"})
    assert service.remove_recipient(s, "S1", "13800138000") and not service.remove_recipient(s, "S1", "13800138000")


def test_recipients_threshold_rate_limit_and_delivery(s: Session, sms: FakeSmsServer) -> None:
    check_recipients(s)
    service.add_recipient(s, "S1", "13800138000")
    service.add_recipient(s, "S1", "13900139000")
    service.apply_events(s, [ev(1, "fault_raised", "P1-1", {"faults": ["e"]}),  # major: told
                             ev(2, "clock_skew", None, {"jump_s": 5}),  # warning: not told
                             ev(3, "meter_lost", sid="S2")])  # S2 has no recipients
    assert notify.queue(s, T0, SETTINGS) == 2
    assert notify.queue(s, T0 + 1, SETTINGS) == 0  # once per alarm
    s.commit()
    before = len(sms.fake.sent)
    assert notify.deliver(s, T0 + 2, provider(sms), SETTINGS) == {"sent": 2, "failed": 0, "given_up": 0}
    got = rows(s)
    assert [(n.phone, n.status, n.attempts, n.provider) for n in got] == [
        ("13800138000", "sent", 1, "aliyun"), ("13900139000", "sent", 1, "aliyun")]
    assert got[0].provider_ref and got[0].params["station"] == "S1站" and got[0].params["alarm"] == "充电枪故障"
    assert [m.phone for m in sms.fake.sent[before:]] == ["13800138000", "13900139000"]
    # The fault clears and comes back within the window: logged as suppressed, not sent.
    service.apply_events(s, [ev(4, "fault_cleared", "P1-1", {}), ev(5, "fault_raised", "P1-1", {"faults": ["e"]})])
    assert notify.queue(s, T0 + 60_000, SETTINGS) == 2
    s.commit()
    assert {n.status for n in rows(s)[2:]} == {"suppressed"}
    assert notify.deliver(s, T0 + 61_000, provider(sms), SETTINGS) == {"sent": 0, "failed": 0, "given_up": 0}
    # Escalation (load capped → failsafe) notifies again at the higher severity.
    service.apply_events(s, [ev(6, "load_level", None, {"level": "blocked", "load_pct": 99.0})])
    assert notify.queue(s, T0 + 62_000, SETTINGS) == 2
    service.apply_events(s, [ev(7, "load_level", None, {"level": "failsafe", "load_pct": None})])
    assert notify.queue(s, T0 + 63_000, SETTINGS) == 2  # suppressed by the rate limit, logged
    page, total = notify.notifications(s, sids={"S1"}, status="suppressed")
    assert total == 4 and {n["error_code"] for n in page} == {"rate_limited"}
    assert notify.notifications(s, sids={"S2"})[1] == 0


def test_failures_are_recorded_retried_with_backoff_and_given_up(s: Session, sms: FakeSmsServer) -> None:
    service.add_recipient(s, "S1", "13800138000")
    service.apply_events(s, [ev(1, "pile_lost", None, {"pile": "P1"})])
    notify.queue(s, T0, SETTINGS)
    s.commit()
    p = provider(sms)
    sms.fake.fail_next("isv.BUSINESS_LIMIT_CONTROL", times=1)
    assert notify.deliver(s, T0, p, SETTINGS)["failed"] == 1
    [n] = rows(s)
    assert (n.status, n.error_code, n.attempts, n.next_attempt_at) == (
        "failed", "isv.BUSINESS_LIMIT_CONTROL", 1, T0 + 60_000)
    assert notify.deliver(s, T0 + 59_999, p, SETTINGS)["sent"] == 0  # not due yet
    assert notify.deliver(s, T0 + 60_000, p, SETTINGS)["sent"] == 1
    [n] = rows(s)
    assert (n.status, n.attempts, n.error_code) == ("sent", 2, None)
    # Out of attempts: doubling backoff, then given up.
    service.apply_events(s, [ev(2, "meter_implausible", None, {"reason": "low"})])
    notify.queue(s, T0, SETTINGS)
    s.commit()
    sms.fake.fail_next("isv.AMOUNT_NOT_ENOUGH", times=3)
    assert notify.deliver(s, T0, p, SETTINGS)["failed"] == 1
    assert rows(s)[-1].next_attempt_at == T0 + 60_000
    assert notify.deliver(s, T0 + 60_000, p, SETTINGS)["failed"] == 1
    assert rows(s)[-1].next_attempt_at == T0 + 60_000 + 120_000
    assert notify.deliver(s, T0 + 180_000, p, SETTINGS)["given_up"] == 1
    last = rows(s)[-1]
    assert (last.status, last.attempts, last.error_code, last.next_attempt_at) == (
        "given_up", 3, "isv.AMOUNT_NOT_ENOUGH", None)
    # A permanent refusal (wrong secret) is given up at once.
    service.apply_events(s, [ev(3, "fault_raised", "P1-2", {"faults": ["x"]})])
    notify.queue(s, T0, SETTINGS)
    s.commit()
    wrong = AliyunSms(KEY, "wrong", "聚充科技", base_url=sms.url)
    assert notify.deliver(s, T0, wrong, SETTINGS)["given_up"] == 1
    assert rows(s)[-1].error_code == "SignatureDoesNotMatch"


def test_the_job_sweeps_queues_and_sends_with_the_log_provider(s: Session) -> None:
    from sqlalchemy import update

    from cloud.models import StationState

    service.add_recipient(s, "S2", "13700137000")
    s.execute(update(StationState).where(StationState.sid == "S2").values(online=False, last_seen=T0 - 600_000))
    s.commit()
    cfg = {"SMS_PROVIDER": "log", "ALIYUN_SMS_TEMPLATE_ALARM": "SMS_LOG", "ALARM_OFFLINE_AFTER_S": 300}
    out = jobs.run(s, T0, cfg)
    assert out == {"gateway": 0, "offline": 1, "queued": 1, "sent": 1, "failed": 0, "given_up": 0}
    [n] = rows(s)
    assert (n.status, n.provider, n.kind, n.template_code) == ("sent", "log", "offline", "SMS_LOG")
    assert n.provider_ref.startswith("log-")
    assert jobs.run(s, T0 + 1000, cfg, LogProvider())["queued"] == 0
    s.commit()


def test_jc_cloud_jobs_runs_the_alarms_job(engine, s: Session) -> None:
    from sqlalchemy import update

    from cloud.jobs.context import JobContext
    from cloud.jobs.registry import JOBS
    from cloud.jobs.runner import run_once
    from cloud.models import StationState

    assert ("alarms", jobs.job) in JOBS
    service.add_recipient(s, "S1", "13600136000")
    s.execute(update(StationState).where(StationState.sid == "S1").values(online=False, last_seen=T0 - 900_000))
    s.commit()
    ctx = JobContext(engine=engine, holder="test", clock=lambda: T0, config={"SMS_PROVIDER": "log"})
    assert run_once(ctx, [("alarms", jobs.job)]) == {"alarms": 3}  # offline, queued, sent
    assert [(n.kind, n.status) for n in rows(s)] == [("offline", "sent")]
