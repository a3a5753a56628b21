"""session_ended signatures count only from a station certificate good at the record's time:
not expired then, not revoked for key compromise, superseded only after the record."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from cloud.ingest.signatures import SignatureVerifier
from cloud.models import IssuedCert
from cloud.pki.ca import CertificateAuthority, new_key
from cloud.pki.registry import record_issued
from cloud.pki.revocation import KEY_COMPROMISE, SUPERSEDED, revoke
from jcproto import sign_record
from tests.cloud.support import migrated_engine

DAY = 86_400_000


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return migrated_engine(f"sqlite:///{tmp_path / 'sig.sqlite'}")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _cert(engine: Engine, ca: CertificateAuthority, sid: str, days: int = 30) -> tuple[Any, str]:
    key = new_key()
    cert = ca.issue_client_cert(sid, key.public_key(), days=days)
    with Session(engine) as s, s.begin():
        record_issued(s, cert, "station")
    return key, format(cert.serial_number, "x")


def _ended(key: Any, ts: int) -> dict[str, Any]:
    rec = {"seq": 4, "type": "session_ended", "ts": ts, "session_id": "s-1", "energy_start_wh": 0,
           "energy_stop_wh": 1000, "started_at": ts - 3_600_000, "ended_at": ts, "stop_reason": "local",
           "cost_fen": 100}
    return {**rec, "signature": sign_record(rec, key)}


def _check(engine: Engine, sid: str, record: dict[str, Any]) -> str | None:
    clock = Clock()
    with Session(engine) as s:
        return SignatureVerifier(clock).check(s, sid, record)


def test_validity_and_revocation_at_the_records_time(engine: Engine) -> None:
    ca = CertificateAuthority.create("test CA")
    now = int(time.time() * 1000)
    key, serial = _cert(engine, ca, "S1", days=10)
    assert _check(engine, "S1", _ended(key, now)) is None
    assert _check(engine, "S1", _ended(key, now + 11 * DAY)) == "certificate_not_valid"  # expired then
    # a key the station never had: bad signature; a station without certificates: no certificate
    assert _check(engine, "S1", _ended(new_key(), now)) == "bad_signature"
    assert _check(engine, "S2", _ended(key, now)) == "no_certificate"

    # superseded (re-provisioned) at `cut`: records before it still count, newer ones do not
    with Session(engine) as s, s.begin():
        revoke(s, sid="S1", reason=SUPERSEDED)
        cut = s.get(IssuedCert, serial).revoked_at
    assert _check(engine, "S1", _ended(key, cut - 1)) is None
    assert _check(engine, "S1", _ended(key, cut)) == "certificate_not_valid"

    # key compromise: nothing it signed counts, whatever time the record claims
    with Session(engine) as s, s.begin():
        s.execute(update(IssuedCert).where(IssuedCert.serial == serial).values(revoke_reason=KEY_COMPROMISE))
    assert _check(engine, "S1", _ended(key, cut - DAY)) == "certificate_not_valid"

    # the station's new certificate verifies what it signs
    new, _ = _cert(engine, ca, "S1")
    assert _check(engine, "S1", _ended(new, now)) is None


def test_a_revocation_reaches_a_running_verifier(engine: Engine) -> None:
    ca = CertificateAuthority.create("test CA")
    key, _ = _cert(engine, ca, "S1")
    clock = Clock()
    verifier = SignatureVerifier(clock)
    rec = _ended(key, int(time.time() * 1000))
    with Session(engine) as s:
        assert verifier.check(s, "S1", rec) is None
    with Session(engine) as s, s.begin():
        revoke(s, sid="S1")
    clock.t += 61  # past the cache
    with Session(engine) as s:
        assert verifier.check(s, "S1", rec) == "certificate_not_valid"
