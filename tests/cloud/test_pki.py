"""The CA hierarchy: what `jc-cloud ca init` makes, that provisioning never needs the root key,
rotation and retirement, and CRLs that OpenSSL itself accepts."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import Flask

from cloud import create_app
from cloud.db import db
from cloud.migrate import upgrade
from cloud.pki.ca import CaError, CertificateAuthority, make_csr, new_key
from cloud.pki.hierarchy import Pki, crl_serials

OPENSSL = shutil.which("openssl")


def _openssl_verify(pki: Pki, leaf: bytes, tmp: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL, "openssl is part of the base system"
    (tmp / "leaf.pem").write_bytes(leaf)
    return subprocess.run(
        [OPENSSL, "verify", "-crl_check", "-purpose", "sslclient", "-CAfile", str(pki.station_trust_file),
         "-CRLfile", str(pki.crl_file), str(tmp / "leaf.pem")], capture_output=True, text=True)


def test_init_makes_root_issuers_and_cloud_ca_with_private_keys(tmp_path: Path) -> None:
    pki = Pki.init(tmp_path / "ca")
    root = pki.root_certificate()
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    station, server, cloud = pki.issuer("station"), pki.issuer("server"), pki.issuer("cloud")
    station.cert.verify_directly_issued_by(root)
    server.cert.verify_directly_issued_by(root)
    cloud.cert.verify_directly_issued_by(cloud.cert)  # its own root: not under ours
    with pytest.raises(ValueError):
        cloud.cert.verify_directly_issued_by(root)
    for kind in ("", "station", "server", "cloud"):
        d = pki.dir / kind if kind else pki.dir
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        assert stat.S_IMODE((d / "ca.key").stat().st_mode) == 0o600
    assert x509.load_pem_x509_certificates(pki.station_trust_file.read_bytes()) == [station.cert, root]
    assert crl_serials(pki.crl_file) == set()
    with pytest.raises(CaError, match="already there"):
        Pki.init(tmp_path / "ca")


def test_a_world_readable_ca_key_is_refused(tmp_path: Path) -> None:
    pki = Pki.init(tmp_path / "ca")
    os.chmod(pki.dir / "station" / "ca.key", 0o644)
    with pytest.raises(CaError, match="chmod 600"):
        pki.issuer("station")


def test_a_single_ca_of_an_earlier_version_is_named_not_extended(tmp_path: Path) -> None:
    legacy = CertificateAuthority.create("old", path_length=0)
    legacy.save(tmp_path / "ca")
    with pytest.raises(CaError, match="earlier version"):
        Pki.init(tmp_path / "ca")


def test_crl_and_chain_pass_openssl(tmp_path: Path) -> None:
    pki = Pki.init(tmp_path / "ca")
    ca = pki.issuer("station")
    good = ca.new_client_identity("S1")
    bad = ca.new_client_identity("S2")
    pki.write_crl([(format(bad.cert.serial_number, "x"), int(time.time() * 1000))])
    assert _openssl_verify(pki, good.cert_pem, tmp_path).returncode == 0
    out = _openssl_verify(pki, bad.cert_pem, tmp_path)
    assert out.returncode != 0 and "revoked" in (out.stdout + out.stderr)
    # a server certificate under the same root is no client certificate
    server = pki.issuer("server").new_server_identity()
    assert _openssl_verify(pki, server.cert_pem, tmp_path).returncode != 0


def test_rotation_keeps_old_stations_until_retired_and_needs_the_root_key(tmp_path: Path) -> None:
    pki = Pki.init(tmp_path / "ca")
    old_ca = pki.issuer("station")
    old_station = old_ca.new_client_identity("S1")
    shutil.move(str(pki.dir / "ca.key"), str(tmp_path / "offline.key"))
    with pytest.raises(CaError, match="offline"):
        pki.rotate("station")
    assert pki.issuer("station").serial == old_ca.serial  # nothing moved
    shutil.move(str(tmp_path / "offline.key"), str(pki.dir / "ca.key"))
    new_ca = pki.rotate("station")
    new_station = new_ca.new_client_identity("S2")
    pki.write_crl([])
    for leaf in (old_station, new_station):
        assert _openssl_verify(pki, leaf.cert_pem, tmp_path).returncode == 0
    # revoking in each CA's CRL works for both generations
    pki.write_crl([(format(old_station.cert.serial_number, "x"), int(time.time() * 1000))])
    assert _openssl_verify(pki, old_station.cert_pem, tmp_path).returncode != 0
    assert _openssl_verify(pki, new_station.cert_pem, tmp_path).returncode == 0
    pki.retire("station", old_ca.serial)
    pki.write_crl([])
    assert _openssl_verify(pki, old_station.cert_pem, tmp_path).returncode != 0  # no longer trusted
    assert _openssl_verify(pki, new_station.cert_pem, tmp_path).returncode == 0


def test_provisioning_needs_only_the_station_issuing_key(tmp_path: Path) -> None:
    pki = Pki.init(tmp_path / "ca")
    # the root key offline, and the other issuing keys not on this machine either
    for key in ("ca.key", "server/ca.key", "cloud/ca.key"):
        (pki.dir / key).unlink()
    app: Flask = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}",
                             "CA_DIR": str(pki.dir), "BROKER_ACCESS_CONTROL": "external"})
    with app.app_context():
        upgrade(db.engine)
    tok = json.loads(app.test_cli_runner().invoke(args=["token", "S1", "--json"]).output)
    assert tok["ca_sha256"] == pki.root_fingerprint
    csr = make_csr("S1", new_key()).public_bytes(serialization.Encoding.PEM).decode()
    r = app.test_client().post("/api/v1/provision", json={"v": 1, "token": tok["token"], "csr_pem": csr})
    assert r.status_code == 200, r.json
    cert = x509.load_pem_x509_certificate(r.json["cert_pem"].encode())
    cert.verify_directly_issued_by(pki.issuer("station").cert)


def test_provisioning_keeps_the_token_when_the_broker_cannot_be_told(tmp_path: Path) -> None:
    from tests.support.broker import free_port

    pki = Pki.init(tmp_path / "ca")
    ident = pki.issuer("cloud").new_client_identity("jc.cloud")
    ident.write(tmp_path / "cloud.crt", tmp_path / "cloud.key")
    cfg = {"TESTING": True, "DATABASE_URL": f"sqlite:///{tmp_path / 'a.sqlite'}", "CA_DIR": str(pki.dir),
           "BROKER_HOST": "127.0.0.1", "BROKER_CLOUD_PORT": free_port(),  # nobody listens there
           "CLOUD_CERT_FILE": str(tmp_path / "cloud.crt"), "CLOUD_KEY_FILE": str(tmp_path / "cloud.key")}
    app = create_app(cfg)
    with app.app_context():
        upgrade(db.engine)
    tok = json.loads(app.test_cli_runner().invoke(args=["token", "S1", "--json"]).output)["token"]
    csr = make_csr("S1", new_key()).public_bytes(serialization.Encoding.PEM).decode()
    r = app.test_client().post("/api/v1/provision", json={"v": 1, "token": tok, "csr_pem": csr})
    assert r.status_code == 503 and r.json["error"]["code"] == "broker_unavailable"
    app.extensions["jc_publisher"].close()
    # the token was not spent, and no certificate was recorded
    other = create_app({**cfg, "BROKER_ACCESS_CONTROL": "external"})
    r = other.test_client().post("/api/v1/provision", json={"v": 1, "token": tok, "csr_pem": csr})
    assert r.status_code == 200, r.json
