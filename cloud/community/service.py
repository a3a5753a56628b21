"""Community: plain functions on a Session (no Flask request objects); the caller commits.

Drivers write reviews (only for a settled order of theirs at that station, one per order),
posts and replies; every text passes the operators' sensitive-word list on write (refused with
the word named). Photos are checked by content (JPEG, PNG or WebP by their magic bytes, at
most PHOTO_MAX bytes) and stored as files under a directory the caller gives (the instance
path). A broken-gun report raises an alarm through cloud/alarms; the report is open exactly
while that alarm is not cleared, so an operator's resolution closes it with no second state
to keep in step. Moderation (hide, ban, words) is audited through cloud/audit."""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.alarms import service as alarms
from cloud.alarms.models import Alarm
from cloud.audit import service as audit
from cloud.community.models import Ban, GunReport, Photo, Post, Review, SensitiveWord
from cloud.db import take_write_lock
from cloud.models import Gun, Station, now_ms
from cloud.orders.models import Order

TEXT_MAX = 1000
REVIEW_PHOTOS_MAX = 3
PHOTO_MAX = 2 * 1024 * 1024
PHOTO_PIXELS_MAX = 50_000_000  # a 50-megapixel phone's photo; more in 2 MiB is a decompression bomb
PHOTO_SIDE_MAX = 20_000
WORD_MAX = 64
REASONS = ("no_power", "cable_damaged", "connector_damaged", "screen_broken", "wont_start", "other")
PAGE_MAX = 100


class CommunityError(Exception):
    """A request the community refuses: `code` is stable (the API's error code), the message
    says why in English; MESSAGES has the words for people (zh-CN, English)."""

    def __init__(self, code: str, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.code, self.detail, self.facts = code, message, facts


MESSAGES: dict[str, tuple[str, str]] = {
    "not_found": ("不存在", "Not found"),
    "invalid_request": ("请求有误", "Bad request"),
    "sensitive_word": ("内容包含敏感词“{word}”，请修改后再提交。", "The text contains the blocked word \"{word}\"; please change it."),
    "community_banned": ("您已被禁止发言。", "You are banned from posting."),
    "review_not_allowed": ("只能评价您在本站已结算的充电订单。", "You can only review a settled charging order of yours at this station."),
    "review_exists": ("该订单已评价过。", "This order has been reviewed already."),
    "photo_invalid": ("图片无效：仅支持 JPEG、PNG、WebP，且不超过 2 MB、5000 万像素。", "Not a valid image: JPEG, PNG or WebP up to 2 MB and 50 megapixels."),
    "word_invalid": ("敏感词须为 1 到 64 个字符，且含文字或数字。", "A sensitive word has 1 to 64 characters, with letters or digits."),
}


def message(code: str, lang: str, **facts: Any) -> str:
    zh, en = MESSAGES.get(code, (code, code))
    text = en if lang.startswith("en") else zh
    try:
        return text.format(**facts)
    except (KeyError, IndexError):
        return text


# --- checks -----------------------------------------------------------------------------------
def _text(value: Any, field: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CommunityError("invalid_request", f"{field} must be a string", field=field)
    text = value.strip()
    if (required and not text) or len(text) > TEXT_MAX:
        raise CommunityError("invalid_request", f"{field} has 1..{TEXT_MAX} characters", field=field)
    return text


def _word_form(text: str) -> str:
    """A word as it is stored: NFKC (full-width letters and digits as their plain forms),
    case-folded, outer spaces trimmed."""
    return unicodedata.normalize("NFKC", text).casefold().strip()


def fold(text: str) -> str:
    """The form texts and words are compared in: `_word_form`, then without spaces,
    punctuation, symbols and invisible characters (zero-width, controls), so "广 告", "广.告",
    "广\u200b告" and "ＡＤ" cannot slip past "广告" and "ad"."""
    return "".join(ch for ch in _word_form(text) if unicodedata.category(ch)[0] not in "ZCPS")


def check_words(s: Session, text: str) -> None:
    """Refuse a text holding any sensitive word (a substring, both folded by `fold`)."""
    folded = fold(text)
    for word in s.scalars(select(SensitiveWord.word)):
        key = fold(word)
        if key and key in folded:
            raise CommunityError("sensitive_word", f"the text contains the blocked word {word!r}", word=word)


def _writer(s: Session, driver_id: str) -> None:
    if s.get(Ban, str(driver_id)) is not None:
        raise CommunityError("community_banned", f"driver {driver_id} is banned from writing")


def _station(s: Session, sid: Any) -> Station:
    st = s.get(Station, sid) if isinstance(sid, str) and 0 < len(sid) <= 64 else None
    if st is None:
        raise CommunityError("not_found", f"no station {sid!r}")
    return st


def _int_id(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return 0
    return n if 0 < n < 2**63 else 0


# --- photos ---------------------------------------------------------------------------------
def photo_dir_for(config: Mapping[str, Any], instance_path: str) -> Path:
    """Where photos are kept: COMMUNITY_PHOTO_DIR, else `community_photos` in the instance folder."""
    return Path(config.get("COMMUNITY_PHOTO_DIR") or Path(instance_path) / "community_photos")


def image_type(data: bytes) -> str | None:
    """The image's MIME type by its magic bytes (what it is, not what it claims), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's, PNG's or WebP's header, or None when the header does not
    say (a truncated or malformed file): read without decoding, so a small file claiming a
    huge picture (an image bomb for whoever shows it) is caught before it is kept."""
    b = bytes(data)
    if b[:8] == b"\x89PNG\r\n\x1a\n":
        return (int.from_bytes(b[16:20], "big"), int.from_bytes(b[20:24], "big")) if b[12:16] == b"IHDR" else None
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        kind = b[12:16]
        if kind == b"VP8 " and b[23:26] == b"\x9d\x01\x2a":
            return int.from_bytes(b[26:28], "little") & 0x3FFF, int.from_bytes(b[28:30], "little") & 0x3FFF
        if kind == b"VP8L" and len(b) >= 25 and b[20] == 0x2F:
            bits = int.from_bytes(b[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if kind == b"VP8X" and len(b) >= 30:
            return int.from_bytes(b[24:27], "little") + 1, int.from_bytes(b[27:30], "little") + 1
        return None
    if b[:2] == b"\xff\xd8":
        i = 2
        while i + 4 <= len(b):
            if b[i] != 0xFF:
                return None
            marker = b[i + 1]
            if marker == 0xFF:  # fill byte
                i += 1
                continue
            if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
                i += 2
                continue
            if marker == 0xDA or marker == 0xD9:  # the scan (or the end) before any frame header
                return None
            length = int.from_bytes(b[i + 2:i + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a frame header (SOFn)
                if i + 9 > len(b):
                    return None
                return int.from_bytes(b[i + 7:i + 9], "big"), int.from_bytes(b[i + 5:i + 7], "big")
            if length < 2:
                return None
            i += 2 + length
    return None


def store_photo(s: Session, photo_dir: Path, driver_id: str, data: bytes, *, now: int | None = None) -> dict[str, Any]:
    """Keep an uploaded image (written to a temporary name first, so a crash leaves no half file
    under a photo's id). Returns {"photo_id", "mime", "size"}."""
    mime = image_type(data) if isinstance(data, bytes | bytearray) else None
    size = image_size(data) if mime is not None else None
    if (mime is None or not 32 <= len(data) <= PHOTO_MAX or size is None or not all(0 < n <= PHOTO_SIDE_MAX for n in size)
            or size[0] * size[1] > PHOTO_PIXELS_MAX):
        raise CommunityError("photo_invalid", "not a JPEG, PNG or WebP of at most 2 MiB and 50 megapixels",
                             field="content_base64")
    photo_id = uuid.uuid4().hex
    photo_dir.mkdir(parents=True, exist_ok=True)
    tmp = photo_dir / f".{photo_id}.tmp"
    tmp.write_bytes(bytes(data))
    tmp.replace(photo_dir / photo_id)
    s.add(Photo(id=photo_id, driver_id=str(driver_id), mime=mime, size=len(data),
                created_at=now_ms() if now is None else now))
    s.flush()
    return {"photo_id": photo_id, "mime": mime, "size": len(data)}


def _own_unused_photos(s: Session, driver_id: str, ids: Any, most: int) -> list[Photo]:
    if ids is None:
        return []
    if not isinstance(ids, list) or len(ids) > most or not all(isinstance(i, str) for i in ids) or len(set(ids)) != len(ids):
        raise CommunityError("invalid_request", f"photo_ids is a list of at most {most} distinct ids", field="photo_ids")
    photos = []
    pg = s.get_bind().dialect.name == "postgresql"
    for i in ids:
        # locked (PostgreSQL; SQLite's writer holds its lock): two reviews or reports racing for
        # one upload see each other, and the second finds it used
        p = s.get(Photo, i, with_for_update=pg, populate_existing=pg) if len(i) <= 32 else None
        if p is None or p.driver_id != str(driver_id) or p.review_id is not None or p.report_id is not None:
            raise CommunityError("invalid_request", f"photo {i!r} is not an unused upload of yours", field="photo_ids")
        photos.append(p)
    return photos


def public_photo(s: Session, photo_dir: Path, sid: str, photo_id: str) -> tuple[str, bytes]:
    """A photo of a visible review of station `sid`: (mime, bytes). Photos not yet used, of
    hidden reviews or of gun reports are not public."""
    p = s.get(Photo, photo_id) if isinstance(photo_id, str) and len(photo_id) <= 32 else None
    review = s.get(Review, p.review_id) if p is not None and p.review_id is not None else None
    if review is None or review.sid != sid or review.hidden:
        raise CommunityError("not_found", f"no photo {photo_id!r} at {sid}")
    return p.mime, (photo_dir / p.id).read_bytes()  # type: ignore[union-attr]


def operator_photo(s: Session, photo_dir: Path, photo_id: str, sids: set[str] | None) -> tuple[str, bytes]:
    """Any photo of a review or report at a station in the operator's scope."""
    p = s.get(Photo, photo_id) if isinstance(photo_id, str) and len(photo_id) <= 32 else None
    sid = None
    if p is not None and p.review_id is not None:
        sid = s.scalar(select(Review.sid).where(Review.id == p.review_id))
    elif p is not None and p.report_id is not None:
        sid = s.scalar(select(GunReport.sid).where(GunReport.report_id == p.report_id))
    if sid is None or (sids is not None and sid not in sids):
        raise CommunityError("not_found", f"no photo {photo_id!r}")
    return p.mime, (photo_dir / p.id).read_bytes()  # type: ignore[union-attr]


# --- reviews ----------------------------------------------------------------------------------
def write_review(s: Session, driver_id: str, sid: str, *, order_id: Any, stars: Any, text: Any,
                 photo_ids: Any = None, now: int | None = None) -> dict[str, Any]:
    take_write_lock(s)  # SQLite: the check for an existing review and the insert in one writer
    _station(s, sid)
    _writer(s, driver_id)
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        raise CommunityError("invalid_request", "stars is a whole number 1..5", field="stars")
    body = _text(text, "text")
    if not isinstance(order_id, str) or not 0 < len(order_id) <= 64:
        raise CommunityError("invalid_request", "order_id is a string", field="order_id")
    order = s.get(Order, order_id)
    if order is None or order.driver_id != str(driver_id) or order.sid != sid or order.state != "settled":
        raise CommunityError("review_not_allowed", f"order {order_id!r} is no settled order of the driver at {sid}")
    if s.scalar(select(Review.id).where(Review.order_id == order_id)) is not None:
        raise CommunityError("review_exists", f"order {order_id} has a review")
    photos = _own_unused_photos(s, driver_id, photo_ids, REVIEW_PHOTOS_MAX)
    check_words(s, body)
    review = Review(sid=sid, driver_id=str(driver_id), order_id=order_id, stars=stars, text=body, hidden=False,
                    created_at=now_ms() if now is None else now)
    s.add(review)
    try:
        s.flush()
    except IntegrityError:  # the same order reviewed by a request that committed meanwhile (a double tap)
        raise CommunityError("review_exists", f"order {order_id} has a review") from None
    for p in photos:
        p.review_id = review.id
    s.flush()
    return _review_view(review, [p.id for p in photos])


def _review_view(r: Review, photos: list[str], *, moderation: bool = False) -> dict[str, Any]:
    out = {"review_id": r.id, "sid": r.sid, "stars": r.stars, "text": r.text, "photo_ids": photos,
           "created_at": r.created_at}
    if moderation:
        out.update({"driver_id": r.driver_id, "order_id": r.order_id, "hidden": r.hidden, "hidden_by": r.hidden_by})
    return out


def _photos_of(s: Session, review_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if review_ids:
        for rid, pid in s.execute(select(Photo.review_id, Photo.id).where(Photo.review_id.in_(review_ids))
                                  .order_by(Photo.created_at, Photo.id)):
            out.setdefault(rid, []).append(pid)
    return out


def reviews(s: Session, sid: str, *, limit: int = 20, before: int | None = None) -> dict[str, Any]:
    """A station's visible reviews, newest first (keyset by review id), with the average of
    all visible stars and their count."""
    _station(s, sid)
    q = select(Review).where(Review.sid == sid, Review.hidden.is_(False)).order_by(Review.id.desc())
    if before is not None:
        q = q.where(Review.id < before)
    rows = list(s.scalars(q.limit(max(1, min(limit, PAGE_MAX)))))
    photos = _photos_of(s, [r.id for r in rows])
    count, total = s.execute(select(func.count(Review.id), func.coalesce(func.sum(Review.stars), 0))
                             .where(Review.sid == sid, Review.hidden.is_(False))).one()
    return {"reviews": [_review_view(r, photos.get(r.id, [])) for r in rows], "count": int(count),
            "average_stars": round(int(total) / int(count), 1) if count else None}


# --- posts and replies -----------------------------------------------------------------------
def write_post(s: Session, driver_id: str, sid: str, text: Any, *, parent_id: Any = None,
               now: int | None = None) -> dict[str, Any]:
    """A post about station `sid`, or (with `parent_id`) a reply to a visible post of it."""
    _station(s, sid)
    _writer(s, driver_id)
    body = _text(text, "text")
    parent = None
    if parent_id is not None:
        parent = s.get(Post, _int_id(parent_id))
        if parent is None or parent.sid != sid or parent.hidden or parent.parent_id is not None:
            raise CommunityError("not_found", f"no post {parent_id!r} at {sid}")
    check_words(s, body)
    post = Post(sid=sid, parent_id=parent.id if parent else None, driver_id=str(driver_id), text=body, hidden=False,
                created_at=now_ms() if now is None else now)
    s.add(post)
    s.flush()
    return _post_view(post)


def _post_view(p: Post, *, moderation: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"post_id": p.id, "sid": p.sid, "parent_id": p.parent_id, "text": p.text,
                           "created_at": p.created_at}
    if moderation:
        out.update({"driver_id": p.driver_id, "hidden": p.hidden, "hidden_by": p.hidden_by})
    return out


def posts(s: Session, sid: str, *, limit: int = 20, before: int | None = None) -> list[dict[str, Any]]:
    """A station's visible posts newest first, each with its visible replies oldest first."""
    _station(s, sid)
    q = select(Post).where(Post.sid == sid, Post.parent_id.is_(None), Post.hidden.is_(False)).order_by(Post.id.desc())
    if before is not None:
        q = q.where(Post.id < before)
    tops = list(s.scalars(q.limit(max(1, min(limit, PAGE_MAX)))))
    replies: dict[int, list[dict[str, Any]]] = {}
    if tops:
        for r in s.scalars(select(Post).where(Post.parent_id.in_([p.id for p in tops]), Post.hidden.is_(False))
                           .order_by(Post.id)):
            replies.setdefault(r.parent_id, []).append(_post_view(r))  # type: ignore[arg-type]
    return [{**_post_view(p), "replies": replies.get(p.id, [])} for p in tops]


# --- broken-gun reports ------------------------------------------------------------------------
def report_gun(s: Session, driver_id: str, *, gun_code: Any, reason: Any, text: Any, photo_id: Any = None,
               now: int | None = None) -> dict[str, Any]:
    """A driver reports a broken gun (by its QR code): an alarm at the station for its operator.
    Banned drivers may still report (a broken gun is a safety matter, not a conversation)."""
    take_write_lock(s)  # SQLite: the photo's check and its use in one writer
    now = now_ms() if now is None else now
    gun = s.scalar(select(Gun).where(Gun.code == gun_code)) if isinstance(gun_code, str) and len(gun_code) <= 64 else None
    if gun is None:
        raise CommunityError("not_found", f"no gun {gun_code!r}")
    if reason not in REASONS:
        raise CommunityError("invalid_request", f"reason is one of {', '.join(REASONS)}", field="reason")
    body = _text(text, "text", required=False)
    photos = _own_unused_photos(s, driver_id, None if photo_id is None else [photo_id], 1)
    report_id = "gr-" + uuid.uuid4().hex
    alarm_id = alarms.raise_driver_report(s, sid=gun.sid, gun=gun.gun_id, ref=report_id,
                                          message=f"{reason}: {body}" if body else reason,
                                          detail={"report_id": report_id, "reason": reason, "driver_id": str(driver_id),
                                                  "photo_id": photos[0].id if photos else None}, now=now)
    row = GunReport(report_id=report_id, driver_id=str(driver_id), sid=gun.sid, gun=gun.gun_id, reason=reason,
                    text=body, photo_id=photos[0].id if photos else None, alarm_id=alarm_id, created_at=now)
    s.add(row)
    for p in photos:
        p.report_id = report_id
    s.flush()
    return _report_view(row, s.get(Alarm, alarm_id))


def _report_view(r: GunReport, alarm: Alarm | None) -> dict[str, Any]:
    closed = alarm is not None and alarm.cleared_at is not None
    return {"report_id": r.report_id, "sid": r.sid, "gun": r.gun, "reason": r.reason, "text": r.text,
            "photo_id": r.photo_id, "created_at": r.created_at, "state": "closed" if closed else "open",
            "closed_at": alarm.cleared_at if closed else None,  # type: ignore[union-attr]
            "resolution": (alarm.ack_note or None) if closed else None}  # type: ignore[union-attr]


def my_reports(s: Session, driver_id: str, *, limit: int = 20) -> list[dict[str, Any]]:
    rows = s.execute(select(GunReport, Alarm).join(Alarm, Alarm.id == GunReport.alarm_id)
                     .where(GunReport.driver_id == str(driver_id))
                     .order_by(GunReport.created_at.desc(), GunReport.report_id)
                     .limit(max(1, min(limit, PAGE_MAX)))).all()
    return [_report_view(r, a) for r, a in rows]


def my_report(s: Session, driver_id: str, report_id: str) -> dict[str, Any]:
    r = s.get(GunReport, report_id) if isinstance(report_id, str) and len(report_id) <= 40 else None
    if r is None or r.driver_id != str(driver_id):
        raise CommunityError("not_found", f"no report {report_id!r}")
    return _report_view(r, s.get(Alarm, r.alarm_id))


def my_report_photo(
    s: Session, photo_dir: Path, driver_id: str, report_id: str
) -> tuple[str, bytes]:
    """The photo of one of the driver's own gun reports: (mime, bytes). Another driver's report,
    a missing one and one without a photo are all not found, alike."""
    r = s.get(GunReport, report_id) if isinstance(report_id, str) and len(report_id) <= 40 else None
    p = s.get(Photo, r.photo_id) if r is not None and r.photo_id else None
    if r is None or r.driver_id != str(driver_id) or p is None or p.report_id != r.report_id:
        raise CommunityError("not_found", f"no photo of report {report_id!r}")
    return p.mime, (photo_dir / p.id).read_bytes()


# --- moderation (operators) -------------------------------------------------------------------
def moderation_queue(s: Session, *, sids: set[str] | None = None, hidden: bool | None = None,
                     limit: int = 50) -> dict[str, list[dict[str, Any]]]:
    """Newest reviews and posts (replies included) in the operator's scope, with their authors,
    for hiding; `hidden` filters on the state (None: both)."""
    limit = max(1, min(limit, 200))
    rq, pq = select(Review).order_by(Review.id.desc()), select(Post).order_by(Post.id.desc())
    if sids is not None:
        rq, pq = rq.where(Review.sid.in_(sorted(sids))), pq.where(Post.sid.in_(sorted(sids)))
    if hidden is not None:
        rq, pq = rq.where(Review.hidden.is_(hidden)), pq.where(Post.hidden.is_(hidden))
    rows = list(s.scalars(rq.limit(limit)))
    photos = _photos_of(s, [r.id for r in rows])
    banned = set(s.scalars(select(Ban.driver_id)))
    out_r = [{**_review_view(r, photos.get(r.id, []), moderation=True), "banned": r.driver_id in banned} for r in rows]
    out_p = [{**_post_view(p, moderation=True), "banned": p.driver_id in banned} for p in s.scalars(pq.limit(limit))]
    return {"reviews": out_r, "posts": out_p}


def set_hidden(s: Session, kind: str, item_id: Any, hidden: bool, *, actor: str, sids: set[str] | None = None,
               ip: str | None = None) -> dict[str, Any]:
    """Hide (or show again) a review or a post/reply of a station in the operator's scope."""
    model = {"review": Review, "post": Post}.get(kind)
    row = s.get(model, _int_id(item_id)) if model is not None else None  # type: ignore[arg-type]
    if row is None or (sids is not None and row.sid not in sids):
        raise CommunityError("not_found", f"no {kind} {item_id!r}")
    row.hidden, row.hidden_by = hidden, actor if hidden else None
    s.flush()
    audit.record(s, actor, f"community.{kind}.{'hide' if hidden else 'show'}", f"{kind}:{row.id}",
                 {"sid": row.sid, "driver_id": row.driver_id}, ip)
    return {"kind": kind, "id": row.id, "hidden": hidden}


def _insert_once(s: Session, row: Any) -> bool:
    """Insert `row` in a savepoint; False if its key was inserted meanwhile by another request
    (two operators, or one double click): the same outcome, and no error 500."""
    try:
        with s.begin_nested():
            s.add(row)
    except IntegrityError:
        return False
    return True


def ban(s: Session, driver_id: str, *, reason: str, actor: str, ip: str | None = None) -> None:
    driver_id = str(driver_id).strip()
    if not driver_id or len(driver_id) > 64:
        raise CommunityError("invalid_request", "a driver id has 1..64 characters", field="driver_id")
    if s.get(Ban, driver_id) is None and _insert_once(
            s, Ban(driver_id=driver_id, reason=(reason or "").strip()[:500], banned_by=actor, created_at=now_ms())):
        audit.record(s, actor, "community.ban", f"driver:{driver_id}", {"reason": reason}, ip)


def unban(s: Session, driver_id: str, *, actor: str, ip: str | None = None) -> bool:
    row = s.get(Ban, str(driver_id))
    if row is None:
        return False
    s.delete(row)
    s.flush()
    audit.record(s, actor, "community.unban", f"driver:{driver_id}", None, ip)
    return True


def bans(s: Session) -> list[dict[str, Any]]:
    return [{"driver_id": b.driver_id, "reason": b.reason, "banned_by": b.banned_by, "created_at": b.created_at}
            for b in s.scalars(select(Ban).order_by(Ban.created_at.desc()))]


def words(s: Session) -> list[str]:
    return list(s.scalars(select(SensitiveWord.word).order_by(SensitiveWord.word)))


def add_word(s: Session, word: Any, *, actor: str, ip: str | None = None) -> str:
    w = _word_form(word) if isinstance(word, str) else ""
    if not 0 < len(w) <= WORD_MAX or not fold(w):  # a word of spaces or punctuation only would match every text
        raise CommunityError("word_invalid", f"a sensitive word has 1..{WORD_MAX} characters", field="word")
    if s.get(SensitiveWord, w) is None and _insert_once(s, SensitiveWord(word=w, added_by=actor, created_at=now_ms())):
        audit.record(s, actor, "community.word.add", f"word:{w}", None, ip)
    return w


def remove_word(s: Session, word: str, *, actor: str, ip: str | None = None) -> bool:
    row = s.get(SensitiveWord, _word_form(word or ""))
    if row is None:
        return False
    s.delete(row)
    s.flush()
    audit.record(s, actor, "community.word.remove", f"word:{row.word}", None, ip)
    return True
