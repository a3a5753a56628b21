"""Messages to drivers (cloud.community.inbox): the reservation reminders that are due are
made (each at its driver's lead time), then every pending message (reminders and system notices) is sent as a WeChat subscribe
message, each claimed by one sender, so that two job processes, or one restarted, send each
once. Without WeChat settings the messages are only listed in the driver API."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cloud.community import inbox
from cloud.jobs.context import JobContext


def remind_policy(config: Mapping[str, Any]) -> inbox.RemindPolicy:
    """The platform's lead time and the lead times drivers may choose (each driver's choice
    is read with the reservations: inbox.due_reminders)."""
    return inbox.RemindPolicy.from_settings(config)


def sender_for(config: Mapping[str, Any]) -> inbox.Sender | None:
    """The subscribe-message client when the mini-program's appid and secret are set."""
    if not config.get("WECHAT_APPID") or not config.get("WECHAT_SECRET"):
        return None
    from cloud.wechat.subscribe import SubscribeClient, SubscribeConfig

    return SubscribeClient(SubscribeConfig.from_settings(config))


def run(ctx: JobContext, sender: inbox.Sender | None = None) -> int:
    now = ctx.clock()
    with Session(ctx.engine) as s, s.begin():
        made = inbox.make_reminders(s, now, remind_policy(ctx.config))
    if sender is None:
        sender = ctx.extensions.get("jc_subscribe_sender") or sender_for(ctx.config)
        if sender is not None:
            ctx.extensions["jc_subscribe_sender"] = sender  # keeps its access token between rounds
    sent = inbox.send_pending(
        sessionmaker(ctx.engine).begin,
        sender,
        inbox.Templates.from_settings(ctx.config),
        ctx.holder,
        now,
    )
    return made + sum(sent.values())
