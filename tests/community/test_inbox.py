"""Reservation reminders and system notices (cloud/community/inbox.py, the `notices` job) on a
real database (SQLite and PostgreSQL) against the fake WeChat, which checks appid, secret,
token, each template's keys and values, the openid and the driver's one-message-per-allow.

A reminder goes out once per reservation even when two job processes run at the same moment
or one is restarted halfway; never for a cancelled reservation; only to a driver who allowed
it (and only as many as allowed); at each driver's own lead time. Read state is per driver:
one driver can never read or mark another's message."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from cloud.audit.models import AuditEntry
from cloud.community import inbox
from cloud.community.models import DriverMessage, MessagePrefs
from cloud.drivers.models import Driver
from cloud.fakes.server import FakeServer
from cloud.fakes.wechat_login import FakeWechatLogin
from cloud.jobs import notices as job
from cloud.jobs.context import JobContext
from cloud.reservations.models import Reservation
from cloud.swap.models import PackType, SwapBooking, SwapStation
from cloud.wechat.subscribe import SubscribeClient, SubscribeConfig
from tests.community.support import seed_station, settled_order

APPID, SECRET = "wx00000000000000aa", "secret-of-the-mini-program-0123"
REMINDER, NOTICE = "tpl-reminder-1", "tpl-notice-1"
NOW = 1_780_317_000_000  # 2026-06-01 20:30 +08:00
MIN = 60_000
CONFIG = {
    "WECHAT_APPID": APPID,
    "WECHAT_SECRET": SECRET,
    "WECHAT_SUBSCRIBE_REMINDER_TEMPLATE": REMINDER,
    "WECHAT_SUBSCRIBE_NOTICE_TEMPLATE": NOTICE,
    "RESERVATION_REMIND_MINUTES": 10,
}


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer(login=FakeWechatLogin(APPID, SECRET)) as server:
        assert server.subscribe is not None
        server.subscribe.templates[REMINDER] = inbox.REMINDER_KEYS
        server.subscribe.templates[NOTICE] = inbox.NOTICE_KEYS
        yield server


def sender(fake: FakeServer) -> SubscribeClient:
    return SubscribeClient(SubscribeConfig(APPID, SECRET, fake.url, 5.0))


def ctx(engine: Engine, holder: str = "jobs-a", now: int = NOW, **config: object) -> JobContext:
    return JobContext(engine=engine, holder=holder, clock=lambda: now, config={**CONFIG, **config})


def driver(
    s: Session,
    fake: FakeServer,
    user: str,
    *,
    allows: int = 1,
    kinds: tuple[str, ...] = ("reminder",),
) -> str:
    """A driver logged in through the mini-program (an openid the fake gave out) who tapped
    "allow" `allows` times for each kind: WeChat and our count both know."""
    assert fake.login is not None and fake.subscribe is not None
    openid = fake.login.openid_for(user)
    fake.login.issue_code(user)
    d = Driver(appid=APPID, openid=openid, nickname=user)
    s.add(d)
    s.flush()
    for kind in kinds:
        for _ in range(allows):
            fake.subscribe.accept(openid, REMINDER if kind == "reminder" else NOTICE)
            inbox.add_consent(s, str(d.id), [kind])
    return str(d.id)


def reservation(
    s: Session,
    driver_id: str,
    rid: str,
    *,
    until: int,
    state: str = "active",
    gun: str = "P1-1",
    created_at: int = NOW - 20 * MIN,
) -> None:
    s.add(
        Reservation(
            reservation_id=rid,
            driver_id=driver_id,
            sid="S1",
            gun=gun,
            created_at=created_at,
            until=until,
            state=state,
        )
    )
    s.flush()


def swap_booking(
    s: Session, driver_id: str, bid: str, *, slot_start: int, state: str = "booked"
) -> None:
    if s.get(SwapStation, "S1") is None:
        s.add(SwapStation(sid="S1", slot_minutes=10))
        s.add(PackType(type_code="T1", name="标准包", kwh=60, charge_minutes=60))
        s.flush()
    s.add(
        SwapBooking(
            booking_id=bid,
            driver_id=driver_id,
            sid="S1",
            type_code="T1",
            created_at=NOW - 60 * MIN,
            slot_start=slot_start,
            until=slot_start + 10 * MIN,
            state=state,
        )
    )
    s.flush()


def sent_to(fake: FakeServer, template: str) -> list[dict]:
    assert fake.subscribe is not None
    return [m for m in fake.subscribe.sent if m["template_id"] == template]


def test_reminders_go_once_to_live_reservations_even_with_two_jobs_at_once(
    engine: Engine, fake: FakeServer
) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        seed_station(s, gun="P1-2")
        seed_station(s, gun="P1-3")
        a = driver(s, fake, "alice")
        b = driver(s, fake, "bob")
        c = driver(s, fake, "carol")
        d = driver(s, fake, "dave")
        e = driver(s, fake, "erin")
        reservation(s, a, "rv-due", until=NOW + 8 * MIN)  # within 10 min: due
        reservation(s, b, "rv-next", until=NOW + 25 * MIN, gun="P1-2")  # not yet
        reservation(s, c, "rv-cancelled", until=NOW + 5 * MIN, state="cancelled")
        reservation(
            s, d, "rv-short", until=NOW + 6 * MIN, created_at=NOW - 2 * MIN, gun="P1-3"
        )  # made inside its window
        swap_booking(s, e, "sw-due", slot_start=NOW + 9 * MIN)
    senders = [sender(fake), sender(fake)]
    gate = threading.Barrier(2)
    results: list[int] = []

    def run(i: int) -> None:
        gate.wait()
        results.append(job.run(ctx(engine, f"jobs-{i}"), senders[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2
    msgs = sent_to(fake, REMINDER)
    assert sorted(m["touser"] for m in msgs) == sorted(
        [
            fake.login.openid_for("alice"),  # type: ignore[union-attr]
            fake.login.openid_for("erin"),
        ]
    )  # type: ignore[union-attr]
    gun = next(m for m in msgs if m["touser"] == fake.login.openid_for("alice"))  # type: ignore[union-attr]
    assert gun["data"] == {
        "thing1": {"value": "站S1"},
        "time2": {"value": "2026-06-01 20:38"},
        "thing3": {"value": "预约即将到期"},
    }
    with Session(engine) as s:
        rows = s.scalars(select(DriverMessage)).all()
        assert sorted(r.ref for r in rows) == ["rv:rv-due", "sw:sw-due"]
        assert {r.send for r in rows} == {"sent"}
        assert inbox.consents(s, a) == {"reminder": 0, "notice": 0}  # the allow is used
    # the next rounds (one three minutes on, still inside the window) make and send nothing more
    assert job.run(ctx(engine, now=NOW + 3 * MIN), sender(fake)) == 0
    assert len(sent_to(fake, REMINDER)) == 2
    # b's time comes
    assert job.run(ctx(engine, now=NOW + 16 * MIN), sender(fake)) == 2
    assert [m["touser"] for m in sent_to(fake, REMINDER)][-1] == fake.login.openid_for("bob")  # type: ignore[union-attr]


def test_a_restart_sends_what_was_left_pending_once(engine: Engine, fake: FakeServer) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice")
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
    with Session(engine) as s, s.begin():  # the job made it, then its process died before sending
        assert inbox.make_reminders(s, NOW, 10) == 1
    with Session(engine) as s, s.begin():
        assert inbox.make_reminders(s, NOW, 10) == 0  # made once
    assert sent_to(fake, REMINDER) == []
    assert job.run(ctx(engine, "jobs-restarted"), sender(fake)) == 1
    assert job.run(ctx(engine, "jobs-restarted"), sender(fake)) == 0
    assert len(sent_to(fake, REMINDER)) == 1


def test_a_reservation_cancelled_after_its_reminder_was_made_gets_no_message(
    engine: Engine, fake: FakeServer
) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice")
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
        assert inbox.make_reminders(s, NOW, 10) == 1
        s.get(Reservation, "rv-1").state = "cancelled"  # type: ignore[union-attr]
    job.run(ctx(engine), sender(fake))
    assert sent_to(fake, REMINDER) == []
    with Session(engine) as s:
        assert s.scalar(select(DriverMessage.send)) == "obsolete"
        assert inbox.consents(s, a)["reminder"] == 1  # not used


def test_without_consent_the_reminder_is_listed_not_sent(engine: Engine, fake: FakeServer) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice", allows=0)
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
    job.run(ctx(engine), sender(fake))
    assert sent_to(fake, REMINDER) == []
    with Session(engine) as s:
        listed = inbox.messages(s, a, "en")["messages"]
        assert [(m["kind"], m["reservation_id"], m["pushed"]) for m in listed] == [
            ("reminder", "rv-1", False)
        ]
        assert "ends at 20:35" in listed[0]["text"]
        assert inbox.messages(s, a, "zh-CN")["messages"][0]["title"] == "预约即将到期"
        assert s.scalar(select(DriverMessage.send)) == "no_consent"


def test_wechat_saying_no_allow_left_resets_the_count(engine: Engine, fake: FakeServer) -> None:
    """Our count says one allow, WeChat has none (given elsewhere): 43101, count set to 0."""
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice", allows=0)
        inbox.add_consent(s, a, ["reminder"])
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
    job.run(ctx(engine), sender(fake))
    with Session(engine) as s:
        assert s.scalar(select(DriverMessage.send)) == "no_consent"
        assert inbox.consents(s, a)["reminder"] == 0


def test_no_template_configured_lists_without_sending(engine: Engine, fake: FakeServer) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice")
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
    job.run(ctx(engine, WECHAT_SUBSCRIBE_REMINDER_TEMPLATE=""), sender(fake))
    with Session(engine) as s:
        assert s.scalar(select(DriverMessage.send)) == "off"
    assert job.run(ctx(engine, RESERVATION_REMIND_MINUTES=0, now=NOW + MIN), sender(fake)) == 0


def test_a_notice_to_the_drivers_of_a_station_is_audited_listed_and_sent_to_those_who_allowed(
    engine: Engine, fake: FakeServer
) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s, "S1")
        seed_station(s, "S2")
        a = driver(s, fake, "alice", kinds=("notice",))
        b = driver(s, fake, "bob", allows=0)
        c = driver(s, fake, "carol", kinds=("notice",))
        settled_order(s, a, "S1")
        settled_order(s, b, "S1")
        settled_order(s, c, "S2")
    values = {
        "title_zh": "S1 站维护通知",
        "title_en": "S1 maintenance",
        "body_zh": "6 月 2 日 0 点至 6 点停业维护。",
        "body_en": "Closed for maintenance on 2 June, 00:00 to 06:00.",
        "audience": "stations",
        "sids": "S1",
    }
    with Session(engine) as s, s.begin():
        with pytest.raises(inbox.InboxError) as err:
            inbox.publish_notice(s, {**values, "sids": "S1, NOPE"}, actor="admin1")
        assert err.value.field == "sids"
        with pytest.raises(inbox.InboxError):
            inbox.publish_notice(s, {**values, "title_en": " "}, actor="admin1")
    with Session(engine) as s, s.begin():
        n = inbox.publish_notice(s, values, actor="admin1", ip="10.0.0.1", now=NOW)
        assert n.recipients == 2
    with Session(engine) as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "notice.publish")).one()
        assert (
            entry.actor == "admin1"
            and entry.detail["recipients"] == 2
            and entry.detail["sids"] == ["S1"]
        )
    job.run(ctx(engine), sender(fake))
    msgs = sent_to(fake, NOTICE)
    assert [m["touser"] for m in msgs] == [fake.login.openid_for("alice")]  # type: ignore[union-attr]
    assert msgs[0]["data"] == {
        "thing1": {"value": "S1 站维护通知"},
        "thing2": {"value": "6 月 2 日 0 点至 6 点停业维…"},
        "time3": {"value": "2026-06-01 20:30"},
    }
    with Session(engine) as s:
        assert [m["title"] for m in inbox.messages(s, b, "en")["messages"]] == ["S1 maintenance"]
        assert inbox.messages(s, c, "en")["messages"] == []
        [listed] = inbox.notices(s)
        assert listed["sends"] == {"sent": 1, "no_consent": 1}
    with Session(engine) as s, s.begin():
        everyone = inbox.publish_notice(
            s, {**values, "audience": "all", "sids": ""}, actor="admin1"
        )
        assert everyone.recipients == 3
        assert s.scalar(select(func.count()).select_from(DriverMessage)) == 5


def test_each_driver_is_reminded_at_their_own_lead_time_on_the_jobs_clock(
    engine: Engine, fake: FakeServer
) -> None:
    """Five drivers, five reservations all ending at NOW + 25 min; the job runs on a fake clock.
    Their lead times: 30 (chosen), the platform's 10 (no choice), off (0), 20 (chosen when the
    operator still offered it: now back to the default) and 15 (chosen, but no allow left:
    listed, not pushed)."""
    policy = inbox.RemindPolicy(10, (5, 15, 30))
    with Session(engine) as s, s.begin():
        for gun in ("P1-1", "P1-2", "P1-3", "P1-4", "P1-5"):
            seed_station(s, gun=gun)
        a = driver(s, fake, "alice")
        b = driver(s, fake, "bob")
        c = driver(s, fake, "carol")
        d = driver(s, fake, "dave")
        e = driver(s, fake, "erin", allows=0)
        inbox.set_remind_minutes(s, a, 30, policy)
        inbox.set_remind_minutes(s, c, 0, policy)
        inbox.set_remind_minutes(s, e, 15, policy)
        s.add(MessagePrefs(driver_id=d, remind_minutes=20))  # an old choice, no longer offered
        for who, gun in ((a, "P1-1"), (b, "P1-2"), (c, "P1-3"), (d, "P1-4"), (e, "P1-5")):
            reservation(
                s, who, f"rv-{gun}", until=NOW + 25 * MIN, gun=gun, created_at=NOW - 60 * MIN
            )
    config = {"RESERVATION_REMIND_CHOICES": "5,15,30"}

    def reminded() -> set[str]:
        with Session(engine) as s:
            return set(
                s.scalars(select(DriverMessage.driver_id).where(DriverMessage.kind == "reminder"))
            )

    assert job.run(ctx(engine, now=NOW - 6 * MIN, **config), sender(fake)) == 0  # 31 min before
    assert job.run(ctx(engine, now=NOW - 5 * MIN, **config), sender(fake)) == 2  # 30: made, sent
    assert reminded() == {a}
    assert job.run(ctx(engine, now=NOW + 9 * MIN, **config), sender(fake)) == 0  # 16 min before
    assert job.run(ctx(engine, now=NOW + 10 * MIN, **config), sender(fake)) == 2  # e's 15
    assert reminded() == {a, e}
    assert job.run(ctx(engine, now=NOW + 15 * MIN, **config), sender(fake)) == 4  # b's and d's 10
    assert reminded() == {a, b, d, e}
    assert job.run(ctx(engine, now=NOW + 24 * MIN, **config), sender(fake)) == 0  # carol: off
    assert reminded() == {a, b, d, e}
    openid = fake.login.openid_for  # type: ignore[union-attr]
    assert sorted(m["touser"] for m in sent_to(fake, REMINDER)) == sorted(
        openid(u) for u in ("alice", "bob", "dave")
    )
    with Session(engine) as s:
        assert s.scalar(select(DriverMessage.send).where(DriverMessage.driver_id == e)) == (
            "no_consent"
        )
        # dave's old choice counts as none: the settings pages show the default in force
        assert inbox.remind_settings(s, d, policy) == {
            "remind_minutes": 10,
            "chosen": None,
            "default": 10,
            "choices": [0, 5, 10, 15, 30],
            "consents": {"reminder": 0, "notice": 0},
        }
        assert inbox.remind_settings(s, e, policy)["remind_minutes"] == 15


def test_a_lead_time_the_operator_does_not_allow_is_refused(engine: Engine) -> None:
    policy = inbox.RemindPolicy(10, (5, 15, 30))
    with Session(engine) as s, s.begin():
        with pytest.raises(inbox.InboxError) as err:
            inbox.set_remind_minutes(s, "7", 20, policy)
        assert err.value.field == "remind_minutes"
        assert inbox.set_remind_minutes(s, "7", 30, policy)["remind_minutes"] == 30
        assert inbox.set_remind_minutes(s, "7", 0, policy)["chosen"] == 0
        back = inbox.set_remind_minutes(s, "7", None, policy)
        assert (back["remind_minutes"], back["chosen"]) == (10, None)
        assert s.scalar(select(func.count()).select_from(MessagePrefs)) == 0
    # the platform's default off: nobody is reminded unless they chose a lead time
    assert inbox.RemindPolicy(0, ()).allowed() == (0,)
    with pytest.raises(ValueError):
        inbox.parse_choices("5,0")


def test_read_state_is_each_drivers_own(engine: Engine, fake: FakeServer) -> None:
    with Session(engine) as s, s.begin():
        seed_station(s)
        a = driver(s, fake, "alice")
        b = driver(s, fake, "bob")
        reservation(s, a, "rv-1", until=NOW + 5 * MIN)
        assert inbox.make_reminders(s, NOW, 10) == 1
        values = {
            "title_zh": "通知",
            "title_en": "Notice",
            "body_zh": "正文",
            "body_en": "Text",
            "audience": "all",
        }
        inbox.publish_notice(s, values, actor="admin1", now=NOW + 1)
        inbox.publish_notice(s, values, actor="admin1", now=NOW + 2)
    with Session(engine) as s:
        assert (inbox.unread_count(s, a), inbox.unread_count(s, b)) == (3, 2)
        mine = inbox.messages(s, a, "en")
        assert mine["unread"] == 3 and all(m["unread"] for m in mine["messages"])
        reminder_id = next(m["id"] for m in mine["messages"] if m["kind"] == "reminder")
        bobs = [m["id"] for m in inbox.messages(s, b, "en")["messages"]]
    with Session(engine) as s, s.begin():
        assert inbox.mark_read(s, b, reminder_id, NOW + 5) is None  # alice's: as missing
        assert inbox.mark_read(s, a, bobs[0], NOW + 5) is None
        assert inbox.mark_read(s, a, 10**9, NOW + 5) is None
        m = inbox.mark_read(s, a, reminder_id, NOW + 6)
        assert m is not None and m.read_at == NOW + 6
    with Session(engine) as s, s.begin():
        again = inbox.mark_read(s, a, reminder_id, NOW + 9)
        assert again is not None and again.read_at == NOW + 6  # the first opening is kept
        assert (inbox.unread_count(s, a), inbox.unread_count(s, b)) == (2, 2)
        listed = {m["id"]: m for m in inbox.messages(s, a, "zh-CN")["messages"]}
        assert listed[reminder_id]["unread"] is False and listed[reminder_id]["read_at"] == NOW + 6
    with Session(engine) as s, s.begin():
        # "mark all read" up to the newest the client showed: bob's older one only
        assert inbox.mark_all_read(s, b, NOW + 7, up_to=min(bobs)) == 1
        assert inbox.unread_count(s, b) == 1
        assert inbox.mark_all_read(s, a, NOW + 7) == 2
        assert (inbox.unread_count(s, a), inbox.unread_count(s, b)) == (0, 1)
        assert inbox.mark_all_read(s, a, NOW + 8) == 0
