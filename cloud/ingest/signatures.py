"""Verifying `session_ended` signatures against the certificates issued to the station.

A signature counts when a station certificate verifies it and that certificate was good at the
record's time (`ts`): not yet expired, and not revoked — a certificate superseded by
re-provisioning still vouches for records made before it was replaced; one revoked with
`jc-cloud revoke` (key compromise) vouches for nothing any more, whatever time a record claims.
The start of validity is not checked: a gateway makes its key at first start and signs with it
before it is provisioned, and the certificate later issued for that key vouches for those
records too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import IssuedCert
from jcproto import verify_record

CACHE_S = 60.0  # how long a station's certificates are trusted from memory
RETRY_S = 2.0  # a failed check reloads them (a station just re-provisioned), at most this often
SUPERSEDED = "superseded"
# Flags of a well-formed record whose signature does not count: stored and materialised, its
# session marked signature_ok=false and never billed.
SIGNATURE_FLAGS = ("bad_signature", "no_certificate", "certificate_not_valid")


@dataclass(frozen=True)
class StationKey:
    key: Any
    not_before: int
    not_after: int
    revoked_at: int | None
    reason: str | None

    def good_at(self, ts: int) -> bool:
        if ts > self.not_after:
            return False
        if self.revoked_at is None:
            return True
        return self.reason == SUPERSEDED and ts < self.revoked_at


def _why_not(keys: list[StationKey], record: dict[str, Any]) -> str | None:
    ts = record.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        return "bad_signature"
    matching = [k for k in keys if verify_record(record, k.key)]
    if any(k.good_at(ts) for k in matching):
        return None
    if matching:
        return "certificate_not_valid"  # signed by a key of the station, not good at that time
    return "bad_signature" if keys else "no_certificate"


class SignatureVerifier:
    """Caches each station's keys; loads those of a whole batch in one query."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._keys: dict[str, tuple[float, list[StationKey]]] = {}

    def _fetch(self, session: Session, sids: Iterable[str]) -> None:
        wanted = sorted(set(sids))
        found: dict[str, list[StationKey]] = {sid: [] for sid in wanted}
        for i in range(0, len(wanted), 500):
            rows = session.execute(
                select(
                    IssuedCert.subject_cn, IssuedCert.pem, IssuedCert.not_before,
                    IssuedCert.not_after, IssuedCert.revoked_at, IssuedCert.revoke_reason,
                )
                .where(IssuedCert.subject_cn.in_(wanted[i : i + 500]), IssuedCert.kind == "station")
                .order_by(IssuedCert.issued_at.desc())
            )
            for sid, pem, nb, na, rev, reason in rows:
                key = x509.load_pem_x509_certificate(pem.encode("ascii")).public_key()
                found[sid].append(StationKey(key, int(nb), int(na), rev, reason))
        now = self.clock()
        for sid, keys in found.items():
            self._keys[sid] = (now, keys)

    def prefetch(self, session: Session, sids: Iterable[str]) -> None:
        """Load, in one query, the keys of every station in `sids` not cached (or stale)."""
        now = self.clock()
        stale = [s for s in set(sids) if s not in self._keys or now - self._keys[s][0] > CACHE_S]
        if stale:
            self._fetch(session, stale)

    def check(self, session: Session, sid: str, record: dict[str, Any]) -> str | None:
        """None when a certificate of `sid` good at the record's time verifies it, else the
        flag: bad_signature, no_certificate or certificate_not_valid."""
        self.prefetch(session, [sid])
        why = _why_not(self._keys[sid][1], record)
        if why is not None and self.clock() - self._keys[sid][0] > RETRY_S:
            self._fetch(session, [sid])
            why = _why_not(self._keys[sid][1], record)
        return why
