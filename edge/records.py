"""Durable records (spec/mqtt-v1.md) written to the outbox, built through the protocol's
dataclasses so that a record that would fail the cloud's schema fails here first."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Protocol

from edge.cache import Store
from jcproto import (
    Event,
    MeterMinute,
    Record,
    SessionEnded,
    SessionProgress,
    SessionStarted,
    sign_record,
)


class Signer(Protocol):
    def sign(self, record: dict[str, Any]) -> str: ...


class KeySigner:
    """Signs `session_ended` records with the station's private key (ECDSA P-256, SHA-256)."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def sign(self, record: dict[str, Any]) -> str:
        return sign_record(record, self._key)


def _body(record: Record) -> dict[str, Any]:
    data = record.to_dict()
    for key in ("seq", "type", "ts"):
        data.pop(key, None)
    return data


def append(store: Store, record: Record) -> int:
    """Validate against the schema and append; returns the seq the outbox assigned.
    Build the record with any seq (0): the outbox assigns the real one."""
    replace(record, seq=max(1, record.seq)).to_json()  # validates
    return store.outbox.append(record.TYPE, _body(record), record.ts)


def append_signed_end(store: Store, record: SessionEnded, signer: Signer | None) -> int:
    """Append a session_ended record signed over its canonical form, seq included.

    The seq is part of what is signed, so it is taken inside the caller's transaction (the
    store has one writer) and checked against what the outbox then assigns.
    """
    if not store.in_transaction:
        raise RuntimeError("append_signed_end must run inside a store transaction")
    seq = store.outbox.last_seq() + 1
    data = {**record.to_dict(), "seq": seq}
    data["signature"] = signer.sign({k: v for k, v in data.items() if k != "signature"}) if signer else ""
    signed = SessionEnded(**{k: v for k, v in data.items() if k != "type"})
    got = append(store, signed)
    if got != seq:
        raise RuntimeError(f"outbox assigned seq {got}, signed for {seq}")
    return got


__all__ = ["Event", "KeySigner", "MeterMinute", "SessionEnded", "SessionProgress", "SessionStarted",
           "Signer", "append", "append_signed_end"]
