"""The offline allow-list: cards that may start a session while the cloud is unreachable.

`set_auth_list` replaces the whole list in one transaction, so a reader sees the old list or
the new one, never a mix. Card ids are compared case-insensitively (readers and back offices
disagree on the case of hex UIDs): stored and looked up upper-case, surrounding blanks dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import check_ms, check_text

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Card:
    card_id: str
    label: str | None = None
    expires_at: int | None = None  # ms; None: no expiry
    valid: bool = True  # False: listed but blocked


def normalize_card_id(card_id: str) -> str:
    check_text(card_id, "card_id")
    norm = card_id.strip().upper()
    if not norm:
        raise ValueError("card_id is blank")
    return norm


class Cards:
    def __init__(self, store: Store) -> None:
        self._s = store

    def set_auth_list(self, cards: Iterable[Card], rev: Any = None) -> int:
        """Replace the list; returns the number of cards. `rev` (the list's version, if the
        cloud gives one) is kept in kv as `auth_list_rev`."""
        rows: dict[str, tuple[str, str | None, int | None, int]] = {}
        for card in cards:
            cid = normalize_card_id(card.card_id)
            if cid in rows:
                raise ValueError(f"card {cid} is listed twice")
            if card.expires_at is not None:
                check_ms(card.expires_at, "expires_at")
            rows[cid] = (cid, card.label, card.expires_at, int(bool(card.valid)))
        with self._s.transaction(durable=True):
            self._s.execute("DELETE FROM cards")
            self._s.executemany(
                "INSERT INTO cards (card_id, label, expires_at, valid) VALUES (?, ?, ?, ?)",
                rows.values(),
            )
            if rev is not None:
                self._s.settings.set("auth_list_rev", rev)
        return len(rows)

    def is_allowed(self, card_id: str, now_ms: int) -> bool:
        try:
            cid = normalize_card_id(card_id)
        except ValueError:
            return False
        rows = self._s.query(
            "SELECT 1 FROM cards WHERE card_id = ? AND valid = 1 "
            "AND (expires_at IS NULL OR expires_at > ?)",
            (cid, now_ms),
        )
        return bool(rows)

    def get(self, card_id: str) -> Card | None:
        rows = self._s.query("SELECT * FROM cards WHERE card_id = ?", (normalize_card_id(card_id),))
        return _card(rows[0]) if rows else None

    def all(self) -> list[Card]:
        return [_card(r) for r in self._s.query("SELECT * FROM cards ORDER BY card_id")]


def _card(r: dict[str, Any]) -> Card:
    return Card(r["card_id"], r["label"], r["expires_at"], bool(r["valid"]))
