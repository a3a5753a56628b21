"""Verifying `session_ended` signatures against the certificates issued to the station."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.models import IssuedCert
from jcproto import verify_record

CACHE_S = 60.0  # how long a station's certificates are trusted from memory
RETRY_S = 2.0  # a failed check reloads them (a station just re-provisioned), at most this often


class SignatureVerifier:
    """Caches each station's public keys; loads those of a whole batch in one query."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._keys: dict[str, tuple[float, list[Any]]] = {}

    def _fetch(self, session: Session, sids: Iterable[str]) -> None:
        wanted = sorted(set(sids))
        found: dict[str, list[Any]] = {sid: [] for sid in wanted}
        for i in range(0, len(wanted), 500):
            rows = session.execute(
                select(IssuedCert.subject_cn, IssuedCert.pem)
                .where(
                    IssuedCert.subject_cn.in_(wanted[i : i + 500]),
                    IssuedCert.kind == "station",
                    IssuedCert.revoked_at.is_(None),
                )
                .order_by(IssuedCert.issued_at.desc())
            )
            for sid, pem in rows:
                found[sid].append(x509.load_pem_x509_certificate(pem.encode("ascii")).public_key())
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
        """None when a certificate of `sid` verifies the record, else the flag reason."""
        self.prefetch(session, [sid])
        if any(verify_record(record, k) for k in self._keys[sid][1]):
            return None
        if self.clock() - self._keys[sid][0] > RETRY_S:
            self._fetch(session, [sid])
            if any(verify_record(record, k) for k in self._keys[sid][1]):
                return None
        return "bad_signature" if self._keys[sid][1] else "no_certificate"
