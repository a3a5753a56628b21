"""Taking certificates back: mark them revoked, re-sign the CRL the broker loads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cloud.models import IssuedCert, now_ms
from cloud.pki.hierarchy import Pki

SUPERSEDED = "superseded"  # re-provisioned: the station's earlier signatures still count
KEY_COMPROMISE = "keyCompromise"  # `jc-cloud revoke`: none of the certificate's signatures count


@dataclass(frozen=True)
class Revoked:
    serials: list[str]
    sids: list[str]  # stations that lost a certificate
    bare: list[str]  # of those, stations with no valid certificate left


def revoke(
    session: Session,
    *,
    sid: str | None = None,
    serial: str | None = None,
    reason: str = KEY_COMPROMISE,
    keep_serial: str | None = None,
) -> Revoked:
    """Revoke the station certificates of `sid` (all but `keep_serial`) or the one `serial`."""
    if (sid is None) == (serial is None):
        raise ValueError("name a station or a serial")
    q = select(IssuedCert).where(IssuedCert.kind == "station", IssuedCert.revoked_at.is_(None))
    if sid is not None:
        q = q.where(IssuedCert.subject_cn == sid)
    else:
        q = q.where(IssuedCert.serial == str(serial).lower().removeprefix("0x"))
    if keep_serial is not None:
        q = q.where(IssuedCert.serial != keep_serial)
    rows = list(session.scalars(q.with_for_update()))
    now = now_ms()
    for row in rows:
        row.revoked_at, row.revoke_reason = now, reason
    session.flush()
    sids = sorted({r.subject_cn for r in rows})
    still = set(
        session.scalars(
            select(IssuedCert.subject_cn).where(
                IssuedCert.kind == "station",
                IssuedCert.subject_cn.in_(sids),
                IssuedCert.revoked_at.is_(None),
                or_(IssuedCert.not_after > now),
            )
        )
    )
    return Revoked([r.serial for r in rows], sids, [s for s in sids if s not in still])


def revoked_station_serials(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(
        select(IssuedCert.serial, IssuedCert.revoked_at).where(
            IssuedCert.kind == "station", IssuedCert.revoked_at.is_not(None)
        )
    )
    return [(s, int(at)) for s, at in rows]


def publish_crl(session: Session, config: Mapping[str, Any]) -> Path:
    """Re-sign the station CRL from the database into CRL_FILE (atomically replaced)."""
    pki = Pki(config["CA_DIR"])
    return pki.write_crl(revoked_station_serials(session), Path(config["CRL_FILE"]))


def revoke_station(session: Session, config: Mapping[str, Any], *, sid: str | None = None,
                   serial: str | None = None) -> tuple[Revoked, list[str]]:
    """What `jc-cloud revoke` does, as one call for the console: revoke (keyCompromise),
    re-sign the CRL, and have the broker drop the station (dynsec) or say what to do.
    Returns what was revoked and the broker's warnings; nothing revoked: nothing else done."""
    from cloud.broker.control import admin_connection, apply_revocation
    from cloud.broker.dynsec import BrokerAdminError

    done = revoke(session, sid=sid, serial=serial, reason=KEY_COMPROMISE)
    if not done.serials:
        return done, []
    publish_crl(session, config)
    if config["BROKER_ACCESS_CONTROL"] != "mosquitto-dynsec":
        return done, apply_revocation(config, None)
    try:
        with admin_connection(config) as admin:
            return done, apply_revocation(config, admin, kick=done.sids, remove=done.bare)
    except BrokerAdminError as e:
        warnings = apply_revocation(config, None, kick=done.sids, remove=done.bare)
        return done, [*warnings, f"the broker could not be reached ({e}): revoke again or restart it "
                                 "to drop the station's connection"]
