"""Community tables (times in epoch ms): reviews of a station by drivers who charged there (one
per order), posts and their replies, photos (the bytes live under the instance path, a row
here says whose they are and what they belong to), broken-gun reports, the operators'
sensitive words and bans."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cloud.models.base import Base, now_ms


class Review(Base):
    __tablename__ = "community_reviews"
    __table_args__ = (
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
        Index("ix_community_reviews_sid_created_at", "sid", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)  # one review per order
    stars: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class Post(Base):
    """A post about a station (`parent_id` null) or a reply to one."""

    __tablename__ = "community_posts"
    __table_args__ = (
        Index("ix_community_posts_sid_created_at", "sid", "created_at"),
        Index("ix_community_posts_parent_id", "parent_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("community_posts.id"))
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class Photo(Base):
    """An uploaded image; public only once it belongs to a visible review."""

    __tablename__ = "community_photos"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # uuid4 hex: the file's name
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    size: Mapped[int]
    review_id: Mapped[int | None] = mapped_column(ForeignKey("community_reviews.id"), index=True)
    report_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class GunReport(Base):
    """A driver's report of a broken gun; open while its alarm (cloud/alarms) is not cleared."""

    __tablename__ = "community_gun_reports"
    report_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    driver_id: Mapped[str] = mapped_column(String(64), index=True)
    sid: Mapped[str] = mapped_column(String(64), ForeignKey("stations.sid"))
    gun: Mapped[str] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    photo_id: Mapped[str | None] = mapped_column(String(32))
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    created_at: Mapped[int] = mapped_column(default=now_ms)


class SensitiveWord(Base):
    __tablename__ = "community_sensitive_words"
    word: Mapped[str] = mapped_column(String(64), primary_key=True)  # stored case-folded
    added_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class Ban(Base):
    """A driver who may not write reviews, posts or replies."""

    __tablename__ = "community_bans"
    driver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    banned_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class MessageConsent(Base):
    """How many more subscribe messages of a kind (`reminder`, `notice`) a driver allows:
    WeChat lets one message through per "allow" the driver tapped in
    wx.requestSubscribeMessage; the mini-program reports each allow, a send uses one."""

    __tablename__ = "notice_consents"
    __table_args__ = (CheckConstraint("remaining >= 0", name="remaining"),)
    driver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[int] = mapped_column(default=now_ms)


class SystemNotice(Base):
    """A notice an admin published in the console, to every driver or to the drivers of some
    stations (`sids`, comma-separated); each addressee has a DriverMessage of it."""

    __tablename__ = "system_notices"
    __table_args__ = (CheckConstraint("audience IN ('all', 'stations')", name="audience"),)
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    title_zh: Mapped[str] = mapped_column(String(64))
    title_en: Mapped[str] = mapped_column(String(64))
    body_zh: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(16))
    sids: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[int] = mapped_column(default=now_ms)


class DriverMessage(Base):
    """One message to one driver: a reservation reminder or a system notice. `ref` names what
    it is about (`rv:<reservation_id>`, `sw:<booking_id>`, `notice:<id>`); unique with the
    driver, so that a reminder is made once whatever runs the job at the same time. `send`
    is its subscribe message's fate: pending → sending (claimed by one sender) → sent, or
    no_consent / no_openid / off (no template configured) / obsolete (the reservation ended
    first) / failed. `read_at`: when the driver opened it (or marked all read); null: unread."""

    __tablename__ = "driver_messages"
    __table_args__ = (
        CheckConstraint("kind IN ('reminder', 'notice')", name="kind"),
        CheckConstraint("send IN ('pending', 'sending', 'sent', 'no_consent', 'no_openid', 'off', 'obsolete', "
                        "'failed')", name="send"),
        Index("ux_driver_messages_driver_ref", "driver_id", "ref", unique=True),
        Index("ix_driver_messages_send", "send"),
        # the unread count (the clients' badge) reads only this index (migration 0034_inbox2)
        Index("ix_driver_messages_unread", "driver_id", sqlite_where=text("read_at IS NULL"),
              postgresql_where=text("read_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    driver_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(80))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("system_notices.id"))
    sid: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[int | None]  # a reminder: when the reservation expires or the swap slot starts
    title_zh: Mapped[str] = mapped_column(String(64))
    title_en: Mapped[str] = mapped_column(String(64))
    body_zh: Mapped[str] = mapped_column(Text)
    body_en: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(default=now_ms)
    send: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(200))
    read_at: Mapped[int | None]


class MessagePrefs(Base):
    """A driver's own reminder lead time (minutes before a reservation ends or a swap slot
    starts; 0: no reminders). No row: the platform's RESERVATION_REMIND_MINUTES."""

    __tablename__ = "driver_message_prefs"
    __table_args__ = (CheckConstraint("remind_minutes BETWEEN 0 AND 1440", name="remind_minutes"),)
    driver_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remind_minutes: Mapped[int]
    updated_at: Mapped[int] = mapped_column(default=now_ms)
