"""Verifying `session_ended` signatures against the certificates issued to the station."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from cryptography import x509
from sqlalchemy.orm import Session

from cloud.pki.registry import station_certificates
from edge.protocol import verify_record

CACHE_S = 60.0


class SignatureVerifier:
    """Caches each station's certificates for a minute; a miss refreshes once before it flags."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._certs: dict[str, tuple[float, list[x509.Certificate]]] = {}

    def _load(self, session: Session, sid: str, fresh: bool) -> list[x509.Certificate]:
        hit = self._certs.get(sid)
        if hit is not None and not fresh and self.clock() - hit[0] < CACHE_S:
            return hit[1]
        certs = station_certificates(session, sid)
        self._certs[sid] = (self.clock(), certs)
        return certs

    def check(self, session: Session, sid: str, record: dict[str, Any]) -> str | None:
        """None when a certificate of `sid` verifies the record, else the flag reason."""
        for fresh in (False, True):
            certs = self._load(session, sid, fresh)
            if any(verify_record(record, c) for c in certs):
                return None
        return "bad_signature" if self._certs[sid][1] else "no_certificate"
