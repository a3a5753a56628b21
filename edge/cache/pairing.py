"""Pairing codes this gateway made (docs/sharing.md), by the seq of their `pairing_code`
record, and what the cloud answered: it acknowledged the record (the outbox says so) and may
have refused it (`refused` in its ack, docs/protocol.md). The code itself is never here; its
hash and expiry are, as in the record.

    store.pairing.add(seq, "P1-1", sha, expires_at, now)       # with the record, one transaction
    store.pairing.refuse(seq, "unknown_gun", now)              # the ack said so
    store.pairing.find("P1-1", expires_at).refused_reason
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import check_ms, check_text

if TYPE_CHECKING:
    from .store import Store

KEEP_AFTER_EXPIRY_MS = 7 * 24 * 3_600_000  # a code's row outlives its expiry by a week
MAX_REASON = 64


@dataclass(frozen=True)
class PairingCodeRow:
    seq: int
    gun: str
    code_sha256: str
    expires_at: int
    made_at: int
    refused_reason: str | None
    refused_at: int | None


class PairingCodes:
    def __init__(self, store: Store) -> None:
        self._s = store

    def add(self, seq: int, gun: str, code_sha256: str, expires_at: int, made_at: int) -> None:
        """A code made (inside the transaction that appends its record); rows of codes expired
        more than a week go."""
        check_text(gun, "gun")
        check_ms(made_at, "made_at")
        with self._s.transaction():
            self._s.execute(
                "INSERT INTO pairing_codes (seq, gun, code_sha256, expires_at, made_at) VALUES (?, ?, ?, ?, ?)",
                (seq, gun, code_sha256, expires_at, made_at),
            )
            self._s.execute("DELETE FROM pairing_codes WHERE expires_at < ?", (made_at - KEEP_AFTER_EXPIRY_MS,))

    def refuse(self, seq: int, reason: str, at: int) -> str | None:
        """The cloud refused the code whose record has `seq` now: "refused" when this marks it,
        "known" when it was refused already (the first answer stays), None when this store made
        no code at that seq (not its business)."""
        if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(reason, str) or not reason:
            return None
        with self._s.transaction():
            found = self._s.execute("SELECT count(*) FROM pairing_codes WHERE seq = ?", (seq,)).fetchone()[0]
            changed = self._s.execute(
                "UPDATE pairing_codes SET refused_reason = ?, refused_at = ? WHERE seq = ? AND refused_reason IS NULL",
                (reason[:MAX_REASON], at, seq),
            ).rowcount
        return "refused" if changed else "known" if found else None

    def find(self, gun: str, expires_at: int) -> PairingCodeRow | None:
        """The gun's code with this expiry (the newest, should two share one)."""
        rows = self._s.query(
            "SELECT * FROM pairing_codes WHERE gun = ? AND expires_at = ? ORDER BY id DESC LIMIT 1",
            (gun, expires_at),
        )
        return _row(rows[0]) if rows else None

    def recent(self, now_ms: int, limit: int = 10) -> list[PairingCodeRow]:
        """Codes still valid, and refused ones whose expiry has not passed, newest first."""
        rows = self._s.query(
            "SELECT * FROM pairing_codes WHERE expires_at > ? ORDER BY id DESC LIMIT ?", (now_ms, limit)
        )
        return [_row(r) for r in rows]


def _row(r: dict[str, Any]) -> PairingCodeRow:
    return PairingCodeRow(r["seq"], r["gun"], r["code_sha256"], r["expires_at"], r["made_at"],
                          r["refused_reason"], r["refused_at"])
