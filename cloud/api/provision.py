"""`POST /api/v1/provision`: trade a one-time token and a CSR for the station's certificate.

Request  {"v":1, "token":"…", "csr_pem":"-----BEGIN CERTIFICATE REQUEST-----…", "sid":"S1" (optional)}
Response {"v":1, "sid":"S1", "cert_pem":"…", "ca_chain_pem":"…", "ca_sha256":"…",
          "broker":{"host":"…","port":8883}, "serial":"…", "not_after":ms,
          "high_seq":N}  (the highest record seq the cloud holds for the sid; a new, empty
          store numbers its first record N + 1: spec Revision 1.1)
Errors   400 invalid_request | invalid_csr, 401 token_invalid | token_used | token_expired,
         403 csr_cn_mismatch, 503 ca_unavailable | broker_unavailable — as {"error":{"code","message"}}.

The station is made known to the broker's access control before the token is spent; the
station's earlier certificates are revoked (reason superseded) and the broker reloads its CRL.
No authentication header: the one-time token is the credential.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from cloud.api import bp
from cloud.api.errors import ApiError
from cloud.broker.control import app_admin, apply_revocation_later
from cloud.broker.dynsec import BrokerAdminError
from cloud.db import db
from cloud.pki.ca import CaError, cert_pem, common_name
from cloud.pki.hierarchy import Pki
from cloud.pki.revocation import SUPERSEDED, publish_crl, revoke
from cloud.provisioning import ProvisioningRefused, high_seq, redeem


def _field(body: dict[str, Any], name: str, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ApiError(400, "invalid_request", f"`{name}` must be a non-empty string")
    return value


@bp.get("/ca")
def ca_certificate() -> Any:
    """The cloud's CA certificate, for a gateway to check against the fingerprint the operator
    gave it before it trusts this server with a provisioning token."""
    try:
        root = Pki(current_app.config["CA_DIR"]).root_certificate()
    except CaError:
        raise ApiError(503, "ca_unavailable", "the cloud's CA is not set up") from None
    from cloud.pki.ca import fingerprint

    return jsonify({"v": 1, "ca_pem": cert_pem(root).decode("ascii"), "ca_sha256": fingerprint(root)})


@bp.post("/provision")
def provision() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(
            400, "invalid_request", "send a JSON object (Content-Type: application/json)"
        )
    if body.get("v") != 1 or body.get("v") is True:
        raise ApiError(400, "invalid_request", "`v` must be 1")
    token = _field(body, "token")
    csr_pem = _field(body, "csr_pem")
    sid = _field(body, "sid", required=False)
    cfg = current_app.config
    pki = Pki(cfg["CA_DIR"])
    try:
        # The station issuing CA: the only CA key this process ever loads.
        ca = pki.issuer("station")
        root_sha256 = pki.root_fingerprint
    except CaError as e:
        current_app.logger.error("provisioning impossible: %s", e)
        raise ApiError(503, "ca_unavailable", "the cloud's CA is not set up") from None
    session = db.session
    try:
        cert = redeem(session, ca, token or "", csr_pem or "", sid, cfg["STATION_CERT_DAYS"])
        new_sid = common_name(cert.subject) or ""
        serial = format(cert.serial_number, "x")
        superseded = revoke(session, sid=new_sid, reason=SUPERSEDED, keep_serial=serial)
        if cfg["BROKER_ACCESS_CONTROL"] == "mosquitto-dynsec":
            app_admin(current_app._get_current_object()).ensure_station(new_sid)  # type: ignore[attr-defined]
        session.commit()
    except ProvisioningRefused as e:
        session.rollback()
        raise ApiError(e.status, e.code, e.message) from None
    except BrokerAdminError as e:
        session.rollback()
        current_app.logger.error("provisioning of a station: broker: %s", e)
        raise ApiError(
            503, "broker_unavailable", "the broker could not be told about the station; try again"
        ) from None
    if superseded.serials:
        publish_crl(session, cfg)
        admin = (app_admin(current_app._get_current_object())  # type: ignore[attr-defined]
                 if cfg["BROKER_ACCESS_CONTROL"] == "mosquitto-dynsec" else None)
        apply_revocation_later(cfg, admin, kick=superseded.sids)
    return jsonify(
        {
            "v": 1,
            "sid": new_sid,
            "cert_pem": cert_pem(cert).decode("ascii"),
            "ca_chain_pem": ca.chain_pem.decode("ascii"),
            "ca_sha256": root_sha256,
            "broker": {"host": cfg["BROKER_HOST"], "port": cfg["BROKER_PORT"]},
            "serial": format(cert.serial_number, "x"),
            "not_after": int(cert.not_valid_after_utc.timestamp() * 1000),
            "high_seq": high_seq(session, common_name(cert.subject)),
        }
    )
