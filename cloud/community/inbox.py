"""Messages to drivers (docs/community.md): reservation reminders and system notices, kept as
rows of `driver_messages` (the driver API lists them) and sent as WeChat subscribe messages to
drivers who consented. Plain functions, no Flask request objects.

- Consent: WeChat lets one subscribe message of a template through per "allow" the driver
  tapped in wx.requestSubscribeMessage. The mini-program reports each allow
  (`add_consent`); a send takes one (`notice_consents.remaining`), and none left means the
  message is listed but not sent (`no_consent`).
- Reminders (`make_reminders`): the driver's lead time before an active gun reservation
  expires, or before a booked swap slot starts. Each driver may choose theirs (`MessagePrefs`:
  off or one of the operator's `RESERVATION_REMIND_CHOICES`); without a choice, or with one the
  operator no longer offers, the platform's `RESERVATION_REMIND_MINUTES` (`RemindPolicy`). The row is inserted with INSERT … ON CONFLICT DO NOTHING on
  the unique (driver, ref): however many jobs run at once, one row per reservation.
- Sending (`send_pending`): each pending row is claimed by one conditional UPDATE (pending →
  sending, by this holder); only the claimer sends, so a row is sent at most once even when two
  senders run together; a restart sends what was left pending. A row left `sending` by a
  process that died in the middle is not sent again (WeChat may already have delivered it).
  Before a reminder goes out its reservation is read again: cancelled or ended, `obsolete`.
- System notices (`publish_notice`): one row per addressee in the publishing transaction,
  audited there; the job sends them like reminders.
- Read state: `read_at` of a message, set when its driver opens it (`mark_read`) or marks all
  read (`mark_all_read`); `unread_count` is the clients' badge. Every function takes the
  driver: another driver's message is never read nor marked (`mark_read` answers None).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import case, func, literal, select, update
from sqlalchemy.orm import Session

from cloud.audit import service as audit
from cloud.community.models import DriverMessage, MessageConsent, MessagePrefs, SystemNotice
from cloud.db import insert_or_ignore, take_write_lock
from cloud.models import Station, now_ms

log = logging.getLogger("jc.notices")

KINDS = ("reminder", "notice")
MINUTE_MS = 60_000
DEFAULT_REMIND_MINUTES = 10
DEFAULT_REMIND_CHOICES = (5, 10, 15, 30)  # what a driver may choose besides off (0)
MAX_REMIND_MINUTES = 1440
MAX_REMIND_CHOICES = 8
MAX_CONSENTS = 50  # more allows than this are not counted (WeChat keeps no larger quota either)
PAGE_MAX = 50
TITLE_MAX, BODY_MAX = 64, 2000
# One subscribe message template per kind; the keys are those of the templates chosen in the
# mini-program's console (docs/community.md).
REMINDER_KEYS = ("thing1", "time2", "thing3")
NOTICE_KEYS = ("thing1", "thing2", "time3")


class InboxError(ValueError):
    """A notice that cannot be published; `field` names the bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Sender(Protocol):
    def send(
        self, touser: str, template_id: str, data: Mapping[str, str], page: str | None = None
    ) -> int: ...


@dataclass(frozen=True)
class Templates:
    reminder: str = ""
    notice: str = ""

    @classmethod
    def from_settings(cls, c: Mapping[str, Any]) -> Templates:
        return cls(
            str(c.get("WECHAT_SUBSCRIBE_REMINDER_TEMPLATE") or ""),
            str(c.get("WECHAT_SUBSCRIBE_NOTICE_TEMPLATE") or ""),
        )

    def of(self, kind: str) -> str:
        return self.reminder if kind == "reminder" else self.notice


def china_time(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000 + 8 * 3600))


def _thing(text: str) -> str:
    """A `thing` value: at most 20 characters (WeChat refuses longer ones), never empty."""
    text = " ".join(text.split())
    return (text[:19] + "…" if len(text) > 20 else text) or "-"


# --- consent ---------------------------------------------------------------------------------------
def add_consent(s: Session, driver_id: str, kinds: Iterable[str]) -> dict[str, int]:
    """Count one allow of each kind (the driver tapped "allow" for its template)."""
    for kind in kinds:
        if kind not in KINDS:
            raise InboxError("accepted", f"unknown message kind {kind!r}")
        insert_or_ignore(
            s,
            MessageConsent.__table__,
            [{"driver_id": driver_id, "kind": kind, "remaining": 0, "updated_at": now_ms()}],
        )
        s.execute(
            update(MessageConsent)
            .where(
                MessageConsent.driver_id == driver_id,
                MessageConsent.kind == kind,
                MessageConsent.remaining < MAX_CONSENTS,
            )
            .values(remaining=MessageConsent.remaining + 1, updated_at=now_ms())
        )
    s.flush()
    return consents(s, driver_id)


def consents(s: Session, driver_id: str) -> dict[str, int]:
    rows = s.scalars(select(MessageConsent).where(MessageConsent.driver_id == driver_id)).all()
    have = {r.kind: r.remaining for r in rows}
    return {k: have.get(k, 0) for k in KINDS}


def _take_consent(s: Session, driver_id: str, kind: str) -> bool:
    got = s.execute(
        update(MessageConsent)
        .where(
            MessageConsent.driver_id == driver_id,
            MessageConsent.kind == kind,
            MessageConsent.remaining > 0,
        )
        .values(remaining=MessageConsent.remaining - 1, updated_at=now_ms())
    )
    return got.rowcount == 1


def _give_back_consent(s: Session, driver_id: str, kind: str) -> None:
    s.execute(
        update(MessageConsent)
        .where(MessageConsent.driver_id == driver_id, MessageConsent.kind == kind)
        .values(remaining=MessageConsent.remaining + 1, updated_at=now_ms())
    )


# --- reminders -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Due:
    """A reminder to make: the reservation (`rv:`) or swap booking (`sw:`) and its time."""

    driver_id: str
    ref: str
    sid: str
    at: int
    what: str  # gun | swap
    gun: str = ""


def parse_choices(raw: Any) -> tuple[int, ...]:
    """RESERVATION_REMIND_CHOICES: "5,10,15,30" (or a list of ints) → (5, 10, 15, 30); ValueError
    names what is wrong. Each 1..1440, at most 8; empty: drivers may only switch reminders
    off or keep the default."""
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw or ())
    try:
        values = sorted({int(x) for x in items})
    except (TypeError, ValueError):
        raise ValueError(f"expected whole minutes like 5,10,15,30, got {raw!r}") from None
    if any(not 1 <= v <= MAX_REMIND_MINUTES for v in values):
        raise ValueError(f"each choice is 1..{MAX_REMIND_MINUTES} minutes, got {raw!r}")
    if len(values) > MAX_REMIND_CHOICES:
        raise ValueError(f"at most {MAX_REMIND_CHOICES} choices, got {len(values)}")
    return tuple(values)


@dataclass(frozen=True)
class RemindPolicy:
    """The platform's reminder lead time (`default`, 0: none unless a driver chooses one) and
    the lead times a driver may choose (`choices`; off, 0, always)."""

    default: int = DEFAULT_REMIND_MINUTES
    choices: tuple[int, ...] = DEFAULT_REMIND_CHOICES

    @classmethod
    def from_settings(cls, c: Mapping[str, Any]) -> RemindPolicy:
        return cls(
            int(c.get("RESERVATION_REMIND_MINUTES", DEFAULT_REMIND_MINUTES)),
            parse_choices(c.get("RESERVATION_REMIND_CHOICES", DEFAULT_REMIND_CHOICES)),
        )

    @classmethod
    def of(cls, policy: RemindPolicy | int) -> RemindPolicy:
        """A policy, or the platform's minutes alone (the default choices)."""
        return policy if isinstance(policy, RemindPolicy) else cls(int(policy))

    def allowed(self) -> tuple[int, ...]:
        """What a driver may choose: off (0), the default and each choice."""
        return tuple(sorted({0, self.default, *self.choices}))

    def lead_of(self, chosen: int | None) -> int:
        """The minutes the job uses for a driver who chose `chosen` (None: no choice)."""
        return chosen if chosen is not None and chosen in self.allowed() else self.default


def lead_minutes_sql(policy: RemindPolicy) -> Any:
    """`RemindPolicy.lead_of` in SQL over an outer join of MessagePrefs (null: no row)."""
    chosen = MessagePrefs.remind_minutes
    return case((chosen.in_(policy.allowed()), chosen), else_=literal(policy.default))


def due_reminders(s: Session, now: int, policy: RemindPolicy | int) -> list[Due]:
    """Live reservations whose reminder time has come (each driver's lead time: `RemindPolicy`)
    and that were made before it (one made inside its own reminder window needs none) and that
    have no message yet. A driver who chose 0 gets none."""
    from cloud.reservations.models import Reservation
    from cloud.swap.models import SwapBooking

    policy = RemindPolicy.of(policy)
    longest = max(policy.allowed())
    if longest <= 0:
        return []
    lead = lead_minutes_sql(policy) * MINUTE_MS
    horizon = now + longest * MINUTE_MS  # no lead is longer: the indexed bound

    def unmade(driver_id: Any, ref: Any) -> Any:
        # NOT EXISTS on (driver, ref): the unique index answers it
        return (
            ~select(DriverMessage.id)
            .where(DriverMessage.driver_id == driver_id, DriverMessage.ref == ref)
            .exists()
        )

    out = [
        Due(r.driver_id, f"rv:{r.reservation_id}", r.sid, r.until, "gun", r.gun)
        for r in s.scalars(
            select(Reservation)
            .outerjoin(MessagePrefs, MessagePrefs.driver_id == Reservation.driver_id)
            .where(
                Reservation.state == "active",
                Reservation.until > now,
                Reservation.until <= horizon,
                lead > 0,
                Reservation.until - lead <= now,
                Reservation.created_at <= Reservation.until - lead,
                unmade(Reservation.driver_id, "rv:" + Reservation.reservation_id),
            )
        )
    ]
    out += [
        Due(b.driver_id, f"sw:{b.booking_id}", b.sid, b.slot_start, "swap")
        for b in s.scalars(
            select(SwapBooking)
            .outerjoin(MessagePrefs, MessagePrefs.driver_id == SwapBooking.driver_id)
            .where(
                SwapBooking.state == "booked",
                SwapBooking.slot_start > now,
                SwapBooking.slot_start <= horizon,
                lead > 0,
                SwapBooking.slot_start - lead <= now,
                SwapBooking.created_at <= SwapBooking.slot_start - lead,
                unmade(SwapBooking.driver_id, "sw:" + SwapBooking.booking_id),
            )
        )
    ]
    return out


# --- a driver's reminder lead time ---------------------------------------------------------------
def remind_settings(s: Session, driver_id: str, policy: RemindPolicy) -> dict[str, Any]:
    """What the settings pages show: the lead time in force (`remind_minutes`, 0: none), the
    driver's own choice (`chosen`, null: the platform's default), the default, the choices
    (off, 0, first) and the reminder allows left (a reminder is pushed only with one)."""
    chosen = s.scalar(
        select(MessagePrefs.remind_minutes).where(MessagePrefs.driver_id == driver_id)
    )
    return {
        "remind_minutes": policy.lead_of(chosen),
        "chosen": chosen if chosen is not None and chosen in policy.allowed() else None,
        "default": policy.default,
        "choices": list(policy.allowed()),
        "consents": consents(s, driver_id),
    }


def set_remind_minutes(
    s: Session, driver_id: str, minutes: int | None, policy: RemindPolicy
) -> dict[str, Any]:
    """Keep the driver's lead time (None: back to the platform's default); InboxError
    (`remind_minutes`) when it is not one the operator allows."""
    if minutes is None:
        s.execute(MessagePrefs.__table__.delete().where(MessagePrefs.driver_id == driver_id))
    else:
        if minutes not in policy.allowed():
            raise InboxError(
                "remind_minutes",
                f"remind_minutes: one of {', '.join(map(str, policy.allowed()))} or null",
            )
        insert_or_ignore(
            s,
            MessagePrefs.__table__,
            [{"driver_id": driver_id, "remind_minutes": minutes, "updated_at": now_ms()}],
        )
        s.execute(
            update(MessagePrefs)
            .where(MessagePrefs.driver_id == driver_id)
            .values(remind_minutes=minutes, updated_at=now_ms())
        )
    s.flush()
    return remind_settings(s, driver_id, policy)


def reminder_texts(what: str, station: str, gun: str, at: int) -> tuple[str, str, str, str]:
    """(title zh, title en, body zh, body en) of a reminder (times in China time)."""
    hm = china_time(at)[11:]
    if what == "gun":
        return (
            "预约即将到期",
            "Reservation ending soon",
            f"您在{station}预约的{gun}将于 {hm} 到期，请在此之前开始充电，否则预约将失效。",
            f"Your reservation of {gun} at {station} ends at {hm}; start charging before then or it lapses.",
        )
    return (
        "换电预约即将开始",
        "Swap slot starting soon",
        f"您在{station}预约的换电时段将于 {hm} 开始，请按时到站。",
        f"Your battery swap slot at {station} starts at {hm}; please arrive on time.",
    )


def make_reminders(s: Session, now: int, policy: RemindPolicy | int) -> int:
    """Insert the due reminders (ON CONFLICT DO NOTHING on (driver, ref)); returns how many
    this call inserted. Racing callers insert each one once between them."""
    take_write_lock(s)  # SQLite: read what is due under the write lock the insert needs
    due = due_reminders(s, now, policy)
    if not due:
        return 0
    names = dict(
        s.execute(
            select(Station.sid, Station.name).where(Station.sid.in_({d.sid for d in due}))
        ).all()
    )
    rows = []
    for d in due:
        tz, te, bz, be = reminder_texts(d.what, names.get(d.sid) or d.sid, d.gun, d.at)
        rows.append(
            {
                "driver_id": d.driver_id,
                "kind": "reminder",
                "ref": d.ref,
                "notice_id": None,
                "sid": d.sid,
                "at": d.at,
                "title_zh": tz,
                "title_en": te,
                "body_zh": bz,
                "body_en": be,
                "created_at": now,
                "send": "pending",
                "claimed_by": None,
                "sent_at": None,
                "error": None,
            }
        )
    got = insert_or_ignore(
        s, DriverMessage.__table__, rows, returning=[DriverMessage.__table__.c.id]
    )
    return len(got)


def _still_due(s: Session, m: DriverMessage, now: int) -> bool:
    from cloud.reservations.models import Reservation
    from cloud.swap.models import SwapBooking

    kind, _, ident = m.ref.partition(":")
    if kind == "rv":
        r = s.get(Reservation, ident)
        return r is not None and r.state == "active" and r.until > now
    if kind == "sw":
        b = s.get(SwapBooking, ident)
        return b is not None and b.state == "booked" and b.slot_start > now
    return True


# --- system notices --------------------------------------------------------------------------------
def _text(values: Mapping[str, Any], key: str, limit: int) -> str:
    v = values.get(key)
    if not isinstance(v, str) or not v.strip() or len(v.strip()) > limit:
        raise InboxError(key, f"{key}: 1 to {limit} characters")
    return v.strip()


def addressees(s: Session, audience: str, sids: Iterable[str]) -> list[str]:
    """Every driver (`all`), or every driver with an order or a reservation at one of `sids`."""
    from cloud.drivers.models import Driver
    from cloud.orders.models import Order
    from cloud.reservations.models import Reservation

    if audience == "all":
        return [
            str(i)
            for i in s.scalars(
                select(Driver.id).where(Driver.blocked.is_(False)).order_by(Driver.id)
            )
        ]
    sids = list(sids)
    ids = set(s.scalars(select(Order.driver_id).where(Order.sid.in_(sids)).distinct()))
    ids |= set(s.scalars(select(Reservation.driver_id).where(Reservation.sid.in_(sids)).distinct()))
    return sorted(ids, key=lambda x: (len(x), x))


def publish_notice(
    s: Session,
    values: Mapping[str, Any],
    *,
    actor: str,
    ip: str | None = None,
    now: int | None = None,
) -> SystemNotice:
    """Publish a notice (InboxError names a bad value): the notice, one message per addressee,
    and the audit entry, in the caller's transaction."""
    t = now_ms() if now is None else now
    take_write_lock(s)
    title_zh, title_en = _text(values, "title_zh", TITLE_MAX), _text(values, "title_en", TITLE_MAX)
    body_zh, body_en = _text(values, "body_zh", BODY_MAX), _text(values, "body_en", BODY_MAX)
    audience = values.get("audience")
    if audience not in ("all", "stations"):
        raise InboxError("audience", "audience: all or stations")
    raw = values.get("sids") or []
    sids = sorted(
        {
            x.strip()
            for x in (raw.replace(",", " ").split() if isinstance(raw, str) else raw)
            if x.strip()
        }
    )
    if audience == "stations":
        if not sids:
            raise InboxError("sids", "sids: at least one station")
        known = set(s.scalars(select(Station.sid).where(Station.sid.in_(sids))))
        if missing := [x for x in sids if x not in known]:
            raise InboxError("sids", f"sids: no station {', '.join(missing)}")
    drivers = addressees(s, audience, sids)
    notice = SystemNotice(
        title_zh=title_zh,
        title_en=title_en,
        body_zh=body_zh,
        body_en=body_en,
        audience=audience,
        sids=",".join(sids) if audience == "stations" else None,
        recipients=len(drivers),
        created_by=actor[:64],
        created_at=t,
    )
    s.add(notice)
    s.flush()
    if drivers:
        s.execute(
            DriverMessage.__table__.insert(),
            [
                {
                    "driver_id": d,
                    "kind": "notice",
                    "ref": f"notice:{notice.id}",
                    "notice_id": notice.id,
                    "sid": None,
                    "at": None,
                    "title_zh": title_zh,
                    "title_en": title_en,
                    "body_zh": body_zh,
                    "body_en": body_en,
                    "created_at": t,
                    "send": "pending",
                    "claimed_by": None,
                    "sent_at": None,
                    "error": None,
                }
                for d in drivers
            ],
        )
    audit.record(
        s,
        actor,
        "notice.publish",
        f"notice:{notice.id}",
        {
            "audience": audience,
            "sids": sids,
            "recipients": len(drivers),
            "title_zh": title_zh,
            "title_en": title_en,
        },
        ip,
    )
    return notice


def notices(s: Session, limit: int = 50) -> list[dict[str, Any]]:
    """The console's list: newest first, with how many of its messages went out."""
    rows = s.scalars(select(SystemNotice).order_by(SystemNotice.id.desc()).limit(limit)).all()
    sent: dict[int, dict[str, int]] = {}
    for nid, state in s.execute(
        select(DriverMessage.notice_id, DriverMessage.send).where(
            DriverMessage.notice_id.in_([n.id for n in rows])
        )
    ):
        sent.setdefault(nid, {}).setdefault(state, 0)
        sent[nid][state] += 1
    return [
        {
            "id": n.id,
            "title_zh": n.title_zh,
            "title_en": n.title_en,
            "body_zh": n.body_zh,
            "body_en": n.body_en,
            "audience": n.audience,
            "sids": n.sids.split(",") if n.sids else [],
            "recipients": n.recipients,
            "created_by": n.created_by,
            "created_at": n.created_at,
            "sends": sent.get(n.id, {}),
        }
        for n in rows
    ]


# --- the driver's list -----------------------------------------------------------------------------
def item(m: DriverMessage, lang: str) -> dict[str, Any]:
    """One message as the driver API gives it, in `lang`."""
    zh = lang == "zh-CN"
    return {
        "id": m.id,
        "kind": m.kind,
        "title": m.title_zh if zh else m.title_en,
        "text": m.body_zh if zh else m.body_en,
        "created_at": m.created_at,
        "sid": m.sid,
        "at": m.at,
        "reservation_id": m.ref[3:] if m.ref.startswith("rv:") else None,
        "booking_id": m.ref[3:] if m.ref.startswith("sw:") else None,
        "notice_id": m.notice_id,
        "pushed": m.send == "sent",
        "unread": m.read_at is None,
        "read_at": m.read_at,
    }


def messages(
    s: Session, driver_id: str, lang: str, *, limit: int = 20, before: int | None = None
) -> dict[str, Any]:
    """The driver's messages newest first (keyset by `before` = a message id), in `lang`, each
    with its `unread` flag, and how many of all of them are unread."""
    q = select(DriverMessage).where(DriverMessage.driver_id == driver_id)
    if before is not None:
        q = q.where(DriverMessage.id < before)
    rows = s.scalars(q.order_by(DriverMessage.id.desc()).limit(limit + 1)).all()
    items = [item(m, lang) for m in rows[:limit]]
    return {
        "messages": items,
        "next_before": items[-1]["id"] if len(rows) > limit else None,
        "unread": unread_count(s, driver_id),
    }


def unread_count(s: Session, driver_id: str) -> int:
    """How many of the driver's messages are unread (one count on the partial index)."""
    return int(
        s.scalar(
            select(func.count())
            .select_from(DriverMessage)
            .where(DriverMessage.driver_id == driver_id, DriverMessage.read_at.is_(None))
        )
        or 0
    )


def mark_read(s: Session, driver_id: str, message_id: int, now: int) -> DriverMessage | None:
    """Mark the driver's message `message_id` read (kept: the first time it was opened); None
    when the driver has no such message (another driver's is as missing)."""
    if not 1 <= message_id < 2**63:
        return None  # beyond a 64-bit id no row can be: the database would refuse the bind
    s.execute(
        update(DriverMessage)
        .where(
            DriverMessage.id == message_id,
            DriverMessage.driver_id == driver_id,
            DriverMessage.read_at.is_(None),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return s.scalars(
        select(DriverMessage)
        .where(DriverMessage.id == message_id, DriverMessage.driver_id == driver_id)
        .execution_options(populate_existing=True)
    ).one_or_none()


def mark_all_read(s: Session, driver_id: str, now: int, up_to: int | None = None) -> int:
    """Mark every unread message of the driver read, or those up to id `up_to` (the newest the
    client has shown: one that arrived since stays unread). Returns how many."""
    q = update(DriverMessage).where(
        DriverMessage.driver_id == driver_id, DriverMessage.read_at.is_(None)
    )
    if up_to is not None:
        q = q.where(DriverMessage.id <= up_to)
    return int(
        s.execute(q.values(read_at=now).execution_options(synchronize_session=False)).rowcount
    )


# --- sending ---------------------------------------------------------------------------------------
def message_data(m: DriverMessage, station_name: str | None) -> tuple[dict[str, str], str]:
    """The subscribe message's data (zh-CN: WeChat shows one language) and page to open."""
    if m.kind == "reminder":
        return (
            {
                "thing1": _thing(station_name or m.sid or "-"),
                "time2": china_time(m.at or m.created_at),
                "thing3": _thing(m.title_zh),
            },
            f"pages/messages/index?id={m.id}",
        )
    return (
        {
            "thing1": _thing(m.title_zh),
            "thing2": _thing(m.body_zh),
            "time3": china_time(m.created_at),
        },
        f"pages/messages/index?id={m.id}",
    )


Transactions = Callable[[], Any]  # yields a Session that commits on exit (sessionmaker(...).begin)


def send_pending(
    transactions: Transactions,
    sender: Sender | None,
    templates: Templates,
    holder: str,
    now: int,
    *,
    batch: int = 200,
) -> dict[str, int]:
    """Send the pending messages, each claimed first (see the module's text). Returns the count
    of each outcome."""
    from cloud.drivers.models import Driver
    from cloud.wechat.subscribe import SubscribeError

    counts: dict[str, int] = {}
    with transactions() as s:
        ids = list(
            s.scalars(
                select(DriverMessage.id)
                .where(DriverMessage.send == "pending")
                .order_by(DriverMessage.id)
                .limit(batch)
            )
        )
    for mid in ids:
        with transactions() as s:
            claimed = (
                s.execute(
                    update(DriverMessage)
                    .where(DriverMessage.id == mid, DriverMessage.send == "pending")
                    .values(send="sending", claimed_by=holder[:64])
                ).rowcount
                == 1
            )
            if not claimed:
                continue  # another sender has it
            m = s.get(DriverMessage, mid)
            assert m is not None
            template = templates.of(m.kind)
            driver = s.get(Driver, int(m.driver_id)) if m.driver_id.isdigit() else None
            outcome = None
            if not _still_due(s, m, now):
                outcome = "obsolete"
            elif sender is None or not template:
                outcome = "off"
            elif driver is None or not driver.openid:
                outcome = "no_openid"
            elif not _take_consent(s, m.driver_id, m.kind):
                outcome = "no_consent"
            if outcome is not None:
                m.send, m.sent_at = outcome, None
                counts[outcome] = counts.get(outcome, 0) + 1
                continue
            station = s.get(Station, m.sid) if m.sid else None
            data, page = message_data(m, station.name if station else None)
            openid, kind, driver_id = driver.openid, m.kind, m.driver_id
        # the consent taken and the claim are committed: WeChat is asked outside any transaction
        try:
            sender.send(openid, template, data, page=page)  # type: ignore[union-attr]
            outcome, error = "sent", None
        except SubscribeError as e:
            outcome, error = ("no_consent" if e.errcode == 43101 else "failed"), str(e)[:200]
        except Exception as e:  # noqa: BLE001 - one message never stops the next
            outcome, error = "failed", f"{type(e).__name__}: {e}"[:200]
        with transactions() as s:
            s.execute(
                update(DriverMessage)
                .where(DriverMessage.id == mid)
                .values(send=outcome, error=error, sent_at=now if outcome == "sent" else None)
            )
            if outcome == "no_consent":
                # WeChat knows better: the driver has no allow left for this template
                s.execute(
                    update(MessageConsent)
                    .where(MessageConsent.driver_id == driver_id, MessageConsent.kind == kind)
                    .values(remaining=0)
                )
            elif outcome == "failed":
                _give_back_consent(
                    s, driver_id, kind
                )  # WeChat did not deliver it: the allow is unused
        if outcome != "sent":
            log.warning("message %s to driver %s not sent: %s", mid, driver_id, error)
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts
