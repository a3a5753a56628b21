"""Small state: the station's tariffs (in force and scheduled), the load policy, key-value
pairs, command replies.

Values are JSON. Tariffs and command replies are committed durably: a tariff prices
sessions, and a reply remembered must survive power loss or a repeated command (same id)
would be carried out twice. Write a reply in the same transaction as the command's effect.

Tariffs are kept by the instant they take effect (`effective_from`, epoch ms by the store's
clock): the one in force at an instant is the latest that starts at or before it, so a change
scheduled ahead applies exactly at its time without anyone waking up for it — with the cloud
unreachable and across restarts alike. Every tariff given stays on record, except one
withdrawn by `cancel_tariff` (the cloud keeps that one, marked cancelled); a replacement for
the same instant overwrites the one it corrects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .codec import check_ms, check_text, dumps, loads

if TYPE_CHECKING:
    from .store import Store

_TARIFF, _POLICY = "tariff", "load_policy"  # _TARIFF: the single tariff of stores before v4


@dataclass(frozen=True)
class TariffEntry:
    """A tariff of the station from `effective_from` on (until the next one's start)."""

    effective_from: int
    tariff_id: str
    body: dict[str, Any]
    received_at: int

    def summary(self) -> dict[str, Any]:
        return {"tariff_id": self.tariff_id, "effective_from": self.effective_from}


def _entry(row: dict[str, Any]) -> TariffEntry:
    return TariffEntry(int(row["effective_from"]), row["tariff_id"], loads(row["body"]), int(row["received_at"]))


class Settings:
    def __init__(self, store: Store) -> None:
        self._s = store

    # -- key-value ----------------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        raw = self._s.scalar("SELECT value FROM kv WHERE key = ?", (key,))
        return default if raw is None else loads(raw)

    def set(self, key: str, value: Any, *, durable: bool = False) -> None:
        check_text(key, "key")
        with self._s.transaction(durable=durable):
            self._s.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) "
                "DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                (key, dumps(value), self._s.now_ms()),
            )

    def delete(self, key: str) -> bool:
        with self._s.transaction():
            return self._s.execute("DELETE FROM kv WHERE key = ?", (key,)).rowcount == 1

    # -- tariff and load policy ------------------------------------------------------------

    def tariff(self, at_ms: int | None = None) -> dict[str, Any] | None:
        """The tariff object in force at `at_ms` (default now), None when there was none."""
        entry = self.tariff_entry(at_ms)
        if entry is not None:
            return entry.body
        # A store salvaged from one older than v4 may still hold its single tariff in kv.
        return self.get(_TARIFF)

    def tariff_entry(self, at_ms: int | None = None) -> TariffEntry | None:
        at = self._s.now_ms() if at_ms is None else check_ms(at_ms, "at_ms")
        rows = self._s.query("SELECT * FROM tariffs WHERE effective_from <= ? "
                             "ORDER BY effective_from DESC LIMIT 1", (at,))
        return _entry(rows[0]) if rows else None

    def set_tariff(self, tariff: dict[str, Any], effective_from: int | None = None) -> TariffEntry:
        """Keep `tariff` in force from `effective_from` (default: now) on. Another tariff for
        the same instant is replaced; tariffs at other instants stay (a newer one still takes
        over at its own time)."""
        if not isinstance(tariff, dict):
            raise ValueError("tariff must be a dict (the tariff object of spec/mqtt-v1.md)")
        tariff_id = check_text(tariff.get("id"), "tariff id")
        now = self._s.now_ms()
        at = now if effective_from is None else check_ms(effective_from, "effective_from")
        with self._s.transaction(durable=True):
            self._s.execute(
                "INSERT INTO tariffs (effective_from, tariff_id, body, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (effective_from) DO UPDATE SET tariff_id = excluded.tariff_id, "
                "body = excluded.body, received_at = excluded.received_at",
                (at, tariff_id, dumps(tariff), now),
            )
        return TariffEntry(at, str(tariff_id), tariff, now)

    def cancel_tariff(self, effective_from: int, tariff_id: str | None = None) -> TariffEntry | None:
        """Withdraw the tariff scheduled at `effective_from` (only if it is `tariff_id`, when
        given); returns what was withdrawn, None when nothing matched."""
        at = check_ms(effective_from, "effective_from")
        with self._s.transaction(durable=True):
            rows = self._s.query("SELECT * FROM tariffs WHERE effective_from = ?", (at,))
            if not rows or (tariff_id is not None and rows[0]["tariff_id"] != tariff_id):
                return None
            self._s.execute("DELETE FROM tariffs WHERE effective_from = ?", (at,))
        return _entry(rows[0])

    def pending_tariffs(self, now_ms: int | None = None) -> list[TariffEntry]:
        """The tariffs scheduled after `now_ms` (default now), soonest first."""
        at = self._s.now_ms() if now_ms is None else check_ms(now_ms, "now_ms")
        return [_entry(r) for r in self._s.query(
            "SELECT * FROM tariffs WHERE effective_from > ? ORDER BY effective_from", (at,))]

    def tariff_history(self) -> list[TariffEntry]:
        """Every tariff the station was given, by the instant it took (or takes) effect."""
        return [_entry(r) for r in self._s.query("SELECT * FROM tariffs ORDER BY effective_from")]

    def load_policy(self) -> dict[str, Any] | None:
        return self.get(_POLICY)

    def set_load_policy(self, policy: dict[str, Any]) -> None:
        if not isinstance(policy, dict):
            raise ValueError("load policy must be a dict")
        self.set(_POLICY, policy, durable=True)

    # -- command replies ------------------------------------------------------------------

    def remember_reply(self, command_id: str, reply: dict[str, Any], until_ms: int) -> None:
        """Keep the reply to a command until `until_ms` (at least its expires_at)."""
        check_text(command_id, "command_id")
        check_ms(until_ms, "until_ms")
        with self._s.transaction(durable=True):
            self._s.execute(
                "INSERT OR REPLACE INTO replies (command_id, reply, until_ms) VALUES (?, ?, ?)",
                (command_id, dumps(reply), until_ms),
            )

    def reply_for(self, command_id: str, now_ms: int | None = None) -> dict[str, Any] | None:
        """The reply given to this command before; None when unknown (or, with now_ms,
        kept no longer)."""
        rows = self._s.query(
            "SELECT reply, until_ms FROM replies WHERE command_id = ?", (command_id,)
        )
        if not rows or (now_ms is not None and rows[0]["until_ms"] < now_ms):
            return None
        return loads(rows[0]["reply"])

    def expire_replies(self, now_ms: int) -> int:
        with self._s.transaction():
            return self._s.execute("DELETE FROM replies WHERE until_ms < ?", (now_ms,)).rowcount
