"""Helpers of the community tests: a station with a gun, settled orders through the order
service (as billing leaves them), and small real images."""

from __future__ import annotations

import itertools
import struct
import zlib

from sqlalchemy.orm import Session

from cloud.ledger import service as ledger
from cloud.orders import service as orders
from cloud.stations import service as stations

_ids = itertools.count(1)


def seed_station(s: Session, sid: str = "S1", gun: str = "P1-1") -> str:
    """The station and its gun; returns the gun's QR code."""
    stations.set_station(s, sid, name=f"站{sid}", lat=31.23, lng=121.47)
    stations.set_gun(s, sid, gun, code=f"{sid}-{gun}", name="1 号枪", kind="dc")
    s.flush()
    return f"{sid}-{gun}"


def settled_order(s: Session, driver_id: str, sid: str = "S1", *, settle: bool = True) -> str:
    order_id = f"cm-{driver_id}-{next(_ids)}"
    ledger.top_up(s, str(driver_id), 5_000, f"cm-topup-{order_id}")
    orders.create(
        s,
        order_id=order_id,
        driver_id=str(driver_id),
        sid=sid,
        gun="P1-1",
        limit_mode="amount",
        limit_value=2_000,
        hold_fen=2_000,
    )
    orders.apply(s, order_id, "start_sent")
    orders.apply(s, order_id, "session_started", session_id=f"sess-{order_id}"[:36])
    if settle:
        orders.apply(s, order_id, "session_ended")
        orders.apply(s, order_id, "billed", lines=[orders.Line("electricity", 900, "flat", 1_500)])
    s.flush()
    return order_id


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG (any decoder opens it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def many_reviews_and_posts(s: Session, sid: str, reviews: int, posts: int) -> None:
    """`reviews` reviews ("评价 1" the oldest) and `posts` posts ("帖子 1" the oldest, with the
    reply "回复 1"), as rows: more than a page of each, for the clients' paging."""
    from cloud.community.models import Post, Review

    t0 = 1_767_225_000_000
    for i in range(1, reviews + 1):
        s.add(
            Review(
                sid=sid,
                driver_id=f"pg-{i}",
                order_id=f"pg-{sid}-{i}",
                stars=1 + i % 5,
                text=f"评价 {i}",
                hidden=False,
                created_at=t0 + i * 1000,
            )
        )
    first = None
    for i in range(1, posts + 1):
        post = Post(
            sid=sid, driver_id=f"pg-{i}", text=f"帖子 {i}", hidden=False, created_at=t0 + i * 1000
        )
        s.add(post)
        s.flush()
        first = first or post
    if first is not None:
        s.add(
            Post(
                sid=sid,
                parent_id=first.id,
                driver_id="pg-0",
                text="回复 1",
                hidden=False,
                created_at=t0 + 999_000,
            )
        )
    s.flush()
