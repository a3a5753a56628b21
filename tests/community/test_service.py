"""The community service on SQLite and PostgreSQL: reviews only by drivers who charged there
(one per order, photos checked by content), posts and replies, the sensitive-word list and
bans, hiding, and the broken-gun report's round trip through the alarms service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from cloud.alarms import service as alarms
from cloud.audit.models import AuditEntry
from cloud.community import service as community
from cloud.community.service import CommunityError
from tests.community.support import png, seed_station, settled_order


@pytest.fixture
def s(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        seed_station(session, "S1")
        seed_station(session, "S2")
        session.commit()
        yield session


def _code(fn, *a, **kw) -> str:  # noqa: ANN001
    with pytest.raises(CommunityError) as e:
        fn(*a, **kw)
    return e.value.code


def test_review_needs_a_settled_order_of_the_driver_at_that_station(s: Session, tmp_path: Path) -> None:
    mine = settled_order(s, "7", "S1")
    running = settled_order(s, "7", "S1", settle=False)
    elsewhere = settled_order(s, "7", "S2")
    theirs = settled_order(s, "8", "S1")
    w = community.write_review
    assert _code(w, s, "7", "S1", order_id=running, stars=5, text="ok") == "review_not_allowed"
    assert _code(w, s, "7", "S1", order_id=elsewhere, stars=5, text="ok") == "review_not_allowed"
    assert _code(w, s, "7", "S1", order_id=theirs, stars=5, text="ok") == "review_not_allowed"
    assert _code(w, s, "7", "S1", order_id="nope", stars=5, text="ok") == "review_not_allowed"
    assert _code(w, s, "7", "NOPE", order_id=mine, stars=5, text="ok") == "not_found"
    for bad in (0, 6, "5", True, None, 4.5):
        assert _code(w, s, "7", "S1", order_id=mine, stars=bad, text="ok") == "invalid_request"
    assert _code(w, s, "7", "S1", order_id=mine, stars=4, text="  ") == "invalid_request"
    assert _code(w, s, "7", "S1", order_id=mine, stars=4, text="x" * 1001) == "invalid_request"
    made = w(s, "7", "S1", order_id=mine, stars=4, text=" fast and clean ")
    assert (made["stars"], made["text"], made["photo_ids"]) == (4, "fast and clean", [])
    assert _code(w, s, "7", "S1", order_id=mine, stars=5, text="again") == "review_exists"
    w(s, "8", "S1", order_id=theirs, stars=1, text="slow")
    listed = community.reviews(s, "S1")
    assert [r["stars"] for r in listed["reviews"]] == [1, 4]
    assert (listed["count"], listed["average_stars"]) == (2, 2.5)
    assert "driver_id" not in listed["reviews"][0] and "order_id" not in listed["reviews"][0]
    assert community.reviews(s, "S2") == {"reviews": [], "count": 0, "average_stars": None}


def test_photos_are_checked_by_content_and_public_only_on_a_visible_review(s: Session, tmp_path: Path) -> None:
    d = tmp_path / "photos"
    for bad in (b"GIF89a" + b"\x00" * 100, b"not an image at all, just some words" * 3,
                b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff" + b"\x00" * (community.PHOTO_MAX + 1)):
        assert _code(community.store_photo, s, d, "7", bad) == "photo_invalid"
    img = png()
    ids = [community.store_photo(s, d, "7", img)["photo_id"] for _ in range(4)]
    other = community.store_photo(s, d, "8", img)["photo_id"]
    assert (d / ids[0]).read_bytes() == img and not list(d.glob(".*.tmp"))
    # not yet used: not public
    assert _code(community.public_photo, s, d, "S1", ids[0]) == "not_found"
    order = settled_order(s, "7", "S1")
    w = community.write_review
    assert _code(w, s, "7", "S1", order_id=order, stars=5, text="ok", photo_ids=ids) == "invalid_request"
    assert _code(w, s, "7", "S1", order_id=order, stars=5, text="ok", photo_ids=[other]) == "invalid_request"
    assert _code(w, s, "7", "S1", order_id=order, stars=5, text="ok", photo_ids=[ids[0], ids[0]]) == "invalid_request"
    made = w(s, "7", "S1", order_id=order, stars=5, text="ok", photo_ids=ids[:3])
    assert made["photo_ids"] == ids[:3]
    assert community.public_photo(s, d, "S1", ids[1]) == ("image/png", img)
    assert _code(community.public_photo, s, d, "S2", ids[1]) == "not_found"
    # a photo serves one review only
    order2 = settled_order(s, "7", "S1")
    assert _code(w, s, "7", "S1", order_id=order2, stars=5, text="ok", photo_ids=[ids[0]]) == "invalid_request"
    community.set_hidden(s, "review", made["review_id"], True, actor="op")
    assert _code(community.public_photo, s, d, "S1", ids[1]) == "not_found"
    assert community.operator_photo(s, d, ids[1], {"S1"}) == ("image/png", img)
    assert _code(community.operator_photo, s, d, ids[1], {"S2"}) == "not_found"


@pytest.mark.parametrize("text", [
    "买 广 告 找我", "买广.告找我", "买广\u200b告找我", "买广\u00a0告找我", "buy ＳＰＡＭ here", "buy s-p-a-m here",
    "buy S\u200dP\u200cA\u2060M here", "buy s\tp\na m here", "buy ｓｐａｍ here", "spam",
])
def test_sensitive_words_are_not_slipped_past_by_spacing_width_or_invisible_characters(s: Session, text: str) -> None:
    community.add_word(s, "广告", actor="op")
    community.add_word(s, "Spam", actor="op")
    with pytest.raises(CommunityError) as e:
        community.write_post(s, "7", "S1", text)
    assert e.value.code == "sensitive_word"


def test_a_sensitive_word_is_kept_in_its_plain_form_and_one_of_only_spaces_or_marks_is_refused(s: Session) -> None:
    assert community.add_word(s, " ＳＰＡＭ ", actor="op") == "spam"  # full-width: its plain letters
    assert community.remove_word(s, "Ｓｐａｍ", actor="op")
    for word in ("...", "\u200b", " - "):  # would match every text
        assert _code(community.add_word, s, word, actor="op") == "word_invalid"
    community.write_post(s, "7", "S1", "a plain text... passes")


def test_posts_and_replies_sensitive_words_bans_and_hiding_are_audited(s: Session) -> None:
    post = community.write_post(s, "7", "S1", "Is the DC gun fast?")
    reply = community.write_post(s, "8", "S1", "Yes, 60 kW", parent_id=post["post_id"])
    assert _code(community.write_post, s, "8", "S2", "wrong station", parent_id=post["post_id"]) == "not_found"
    assert _code(community.write_post, s, "8", "S1", "reply to reply", parent_id=reply["post_id"]) == "not_found"
    assert [(p["text"], [r["text"] for r in p["replies"]]) for p in community.posts(s, "S1")] == \
        [("Is the DC gun fast?", ["Yes, 60 kW"])]

    assert community.add_word(s, "  SpamWord ", actor="op") == "spamword"
    assert _code(community.add_word, s, "", actor="op") == "word_invalid"
    with pytest.raises(CommunityError) as e:
        community.write_post(s, "7", "S1", "buy from SPAMWORD now")
    assert e.value.code == "sensitive_word" and e.value.facts["word"] == "spamword"
    assert "spamword" in community.message("sensitive_word", "en", word="spamword")
    order = settled_order(s, "7", "S1")
    assert _code(community.write_review, s, "7", "S1", order_id=order, stars=3, text="spamword") == "sensitive_word"
    assert community.remove_word(s, "SPAMWORD", actor="op")
    community.write_post(s, "7", "S1", "spamword is fine now")

    community.ban(s, "7", reason="abuse", actor="op")
    assert _code(community.write_post, s, "7", "S1", "hello") == "community_banned"
    assert _code(community.write_review, s, "7", "S1", order_id=order, stars=3, text="hi") == "community_banned"
    assert community.bans(s)[0]["driver_id"] == "7"
    assert community.unban(s, "7", actor="op")
    community.write_post(s, "7", "S1", "back again")

    community.set_hidden(s, "post", reply["post_id"], True, actor="op")
    assert community.posts(s, "S1")[-1]["replies"] == []
    assert _code(community.set_hidden, s, "post", post["post_id"], True, actor="op", sids={"S2"}) == "not_found"
    community.set_hidden(s, "post", post["post_id"], True, actor="op", sids={"S1"})
    assert post["post_id"] not in [p["post_id"] for p in community.posts(s, "S1")]
    queue = community.moderation_queue(s, sids={"S1"}, hidden=True)
    assert {p["post_id"] for p in queue["posts"]} == {post["post_id"], reply["post_id"]}
    actions = [a for (a,) in s.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions == ["community.word.add", "community.word.remove", "community.ban", "community.unban",
                       "community.post.hide", "community.post.hide"]


def test_broken_gun_report_raises_an_alarm_and_closes_with_its_resolution(s: Session, tmp_path: Path) -> None:
    photo = community.store_photo(s, tmp_path, "7", png())["photo_id"]
    assert _code(community.report_gun, s, "7", gun_code="NOPE", reason="no_power", text="") == "not_found"
    assert _code(community.report_gun, s, "7", gun_code="S1-P1-1", reason="bored", text="") == "invalid_request"
    community.ban(s, "7", reason="abuse", actor="op")  # a banned driver still reports a broken gun
    r = community.report_gun(s, "7", gun_code="S1-P1-1", reason="cable_damaged", text="cable cut", photo_id=photo,
                             now=1_000)
    assert (r["state"], r["sid"], r["gun"], r["photo_id"], r["closed_at"]) == ("open", "S1", "P1-1", photo, None)
    active = alarms.list_alarms(s, state="active", sids={"S1"}).items
    assert [(a["kind"], a["source"], a["gun"], a["message"]) for a in active] == \
        [("driver_report", "driver", "P1-1", "cable_damaged: cable cut")]
    assert alarms.list_alarms(s, state="active", sids={"S2"}).items == []
    assert community.operator_photo(s, tmp_path, photo, {"S1"})[0] == "image/png"
    assert _code(community.my_report, s, "8", r["report_id"]) == "not_found"
    assert community.my_reports(s, "8") == []

    alarms.acknowledge(s, active[0]["id"], actor="op", note="cable replaced", now=5_000)
    closed = community.my_report(s, "7", r["report_id"])
    assert (closed["state"], closed["closed_at"], closed["resolution"]) == ("closed", 5_000, "cable replaced")
    assert alarms.list_alarms(s, state="active").items == []
    # a second report of the same gun is its own alarm
    community.report_gun(s, "7", gun_code="S1-P1-1", reason="no_power", text="")
    community.report_gun(s, "8", gun_code="S1-P1-1", reason="no_power", text="")
    assert alarms.list_alarms(s, state="active").total == 2
    assert [x["state"] for x in community.my_reports(s, "7")] == ["open", "closed"]


def test_two_reviews_of_one_order_at_once_make_one_and_a_review_exists(engine: Engine) -> None:
    """A double tap: the second request is inside its transaction while the first has written
    the review but not committed. It must end as `review_exists`, never an IntegrityError (a
    500 through the API)."""
    import threading

    with Session(engine) as s0:
        seed_station(s0, "S1")
        order = settled_order(s0, "7", "S1")
        s0.commit()
    first = Session(engine)
    first.begin()
    community.write_review(first, "7", "S1", order_id=order, stars=5, text="first")
    outcome: list[object] = []

    def second() -> None:
        try:
            with Session(engine) as s2, s2.begin():
                outcome.append(community.write_review(s2, "7", "S1", order_id=order, stars=1, text="second"))
        except Exception as e:  # noqa: BLE001  (what it raised is the assertion)
            outcome.append(e)

    t = threading.Thread(target=second)
    t.start()
    t.join(1.0)  # it waits on the first's write (the unique order, or SQLite's write lock)
    first.commit()
    first.close()
    t.join(30)
    [e] = outcome
    assert isinstance(e, CommunityError) and e.code == "review_exists", repr(e)
    with Session(engine) as s:
        assert [r["text"] for r in community.reviews(s, "S1")["reviews"]] == ["first"]


def _png_bomb(width: int, height: int) -> bytes:
    """A real PNG (1-bit grey, all black) of width × height: a few kB on the wire, width ×
    height × 4 bytes for any viewer that decodes it."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JFIF JPEG up to its frame header (SOF0), then filler."""
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03" + b"\x01\x22\x00" * 3
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xda" + b"\x00" * 64


def _webp(kind: bytes, width: int, height: int) -> bytes:
    if kind == b"VP8 ":
        body = b"\x00\x00\x00" + b"\x9d\x01\x2a" + width.to_bytes(2, "little") + height.to_bytes(2, "little")
    elif kind == b"VP8L":
        body = b"\x2f" + ((width - 1) | (height - 1) << 14).to_bytes(4, "little")
    else:
        body = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body += b"\x00" * 40
    return b"RIFF" + (len(body) + 12).to_bytes(4, "little") + b"WEBP" + kind + len(body).to_bytes(4, "little") + body


@pytest.mark.parametrize("make, size", [
    (lambda: _jpeg_header(4000, 3000), (4000, 3000)), (lambda: _jpeg_header(1, 1), (1, 1)),
    (lambda: _webp(b"VP8 ", 1920, 1080), (1920, 1080)), (lambda: _webp(b"VP8L", 640, 480), (640, 480)),
    (lambda: _webp(b"VP8X", 8000, 6000), (8000, 6000)), (lambda: _png_bomb(300, 200), (300, 200)),
])
def test_image_size_reads_the_header(make, size) -> None:  # noqa: ANN001
    assert community.image_size(make()) == size


def test_a_photo_claiming_a_huge_picture_is_refused(s: Session, tmp_path: Path) -> None:
    """An image bomb: a small file whose picture is more than 50 megapixels (or a side of more
    than 20,000 pixels), or whose header says no size at all, is refused like any bad photo."""
    d = tmp_path / "photos"
    bomb = _png_bomb(10_000, 8_000)
    assert len(bomb) < 100_000
    for bad in (bomb, _jpeg_header(12_000, 6_000), _webp(b"VP8X", 30_000, 10), _jpeg_header(0, 100),
                b"\xff\xd8\xff\xda" + b"\x00" * 64, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64):
        assert _code(community.store_photo, s, d, "7", bad) == "photo_invalid"
    assert not d.exists() or not any(d.iterdir())
    for good in (_png_bomb(8_000, 6_000), _jpeg_header(8_160, 6_120), _webp(b"VP8 ", 4000, 3000)):  # 48-50 MP
        assert community.store_photo(s, d, "7", good)["size"] == len(good)


@pytest.mark.parametrize("act", ["word", "ban"])
def test_the_same_word_or_ban_added_twice_at_once_is_one_and_no_error(engine: Engine, act: str) -> None:
    """Two operators (or one double click) add the same word or ban the same driver at once:
    one row, one audit entry, and the second request succeeds too (no IntegrityError, a 500)."""

    def do(s: Session) -> None:
        if act == "word":
            community.add_word(s, "广告", actor="op")
        else:
            community.ban(s, "7", reason="spam", actor="op")

    def second(s2: Session) -> str:
        do(s2)
        return "ok"

    assert _while_the_first_holds(engine, do, second) == ["ok"]
    with Session(engine) as s:
        assert (community.words(s) if act == "word" else [b["driver_id"] for b in community.bans(s)]) == \
            (["广告"] if act == "word" else ["7"])
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("community.%"))).all()
        assert len(actions) == 1


def test_one_upload_used_by_two_reviews_at_once_goes_to_one(engine: Engine, tmp_path: Path) -> None:
    """A photo belongs to one review or report: two reviews racing to use the same upload
    end with it on one of them and the other refused (`invalid_request`), not shown on both."""

    d = tmp_path / "photos"
    with Session(engine) as s0:
        seed_station(s0, "S1")
        a, b = settled_order(s0, "7", "S1"), settled_order(s0, "7", "S1")
        photo = community.store_photo(s0, d, "7", png())["photo_id"]
        s0.commit()
    [e] = _while_the_first_holds(
        engine,
        lambda s1: community.write_review(s1, "7", "S1", order_id=a, stars=5, text="first", photo_ids=[photo]),
        lambda s2: community.write_review(s2, "7", "S1", order_id=b, stars=4, text="second", photo_ids=[photo]))
    assert isinstance(e, CommunityError) and e.code == "invalid_request", repr(e)
    with Session(engine) as s:
        assert [(r["text"], r["photo_ids"]) for r in community.reviews(s, "S1")["reviews"]] == [("first", [photo])]


def _while_the_first_holds(engine: Engine, first: Any, second: Any) -> list[object]:
    """`first(s)` in a transaction left open while `second(s2)` runs in its own on a thread
    (a second or so: long enough to block on the first's locks), then the first commits:
    what the second returned or raised."""
    import threading

    s1 = Session(engine)
    s1.begin()
    first(s1)
    outcome: list[object] = []

    def run() -> None:
        try:
            with Session(engine) as s2, s2.begin():
                outcome.append(second(s2))
        except Exception as e:  # noqa: BLE001  (what it raised is the assertion)
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(1.0)
    s1.commit()
    s1.close()
    t.join(30)
    return outcome
