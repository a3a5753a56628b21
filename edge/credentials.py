"""The station's own credentials on disk: its private key (never leaves the machine, 0600),
its certificate and the cloud's CA chain, as `jc-gateway provision` leaves them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edge.config import StationConfig
from edge.records import KeySigner

log = logging.getLogger(__name__)

KEY_FILE = "station.key"
CERT_FILE = "station.crt"
CA_FILE = "ca.crt"
CLOUD_FILE = "cloud.json"  # broker address and what provisioning returned


def credentials_dir(cfg: StationConfig) -> Path:
    return Path(cfg.cloud.credentials_dir)


def load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    if not path.exists():
        return None
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def ensure_key(directory: Path) -> ec.EllipticCurvePrivateKey:
    """The station's P-256 key, made on first use. `provision` certifies this same key, so
    session records signed before provisioning verify against the certificate issued later."""
    path = directory / KEY_FILE
    key = load_key(path)
    if key is not None:
        if path.stat().st_mode & 0o077:
            log.warning("%s is readable by others; it should be mode 0600", path)
        return key
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    log.info("made the station key %s", path)
    return key


def load_signer(cfg: StationConfig) -> KeySigner:
    """The signer for session_ended records (the station key, made if missing)."""
    return KeySigner(ensure_key(credentials_dir(cfg)))
