"""Small state: the tariff in force, the load policy, key-value pairs, command replies.

Values are JSON. The tariff and command replies are committed durably: the tariff prices
sessions, and a reply remembered must survive power loss or a repeated command (same id)
would be carried out twice. Write a reply in the same transaction as the command's effect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codec import check_ms, check_text, dumps, loads

if TYPE_CHECKING:
    from .store import Store

_TARIFF, _POLICY = "tariff", "load_policy"


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

    def tariff(self) -> dict[str, Any] | None:
        return self.get(_TARIFF)

    def set_tariff(self, tariff: dict[str, Any]) -> None:
        if not isinstance(tariff, dict):
            raise ValueError("tariff must be a dict (the tariff object of spec/mqtt-v1.md)")
        self.set(_TARIFF, tariff, durable=True)

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
