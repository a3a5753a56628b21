"""The cloud's certificate authority (P-256, `cryptography`).

It issues station client certificates (CN = sid) from CSRs made on the station, a cloud
identity for ingest/command processes, and server certificates for the broker listener.
Keys stay where they are made: the station's never leaves the station.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_KEY = "ca.key"
CA_CERT = "ca.crt"
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences between machines


class CaError(RuntimeError):
    pass


@dataclass(frozen=True)
class Identity:
    """A private key and its certificate, as PEM."""

    key_pem: bytes
    cert_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    def write(self, cert_file: Path, key_file: Path) -> None:
        cert_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.parent.mkdir(parents=True, exist_ok=True)
        write_private(key_file, self.key_pem)
        cert_file.write_bytes(self.cert_pem)


def write_private(path: Path, data: bytes) -> None:
    """Write a key readable by its owner only (created 0600, never world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lowercase hex."""
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def common_name(name: x509.Name) -> str | None:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if len(attrs) == 1 else None


def make_csr(cn: str, key: ec.EllipticCurvePrivateKey) -> x509.CertificateSigningRequest:
    """A CSR as the gateway makes it (here for tests and tools)."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .sign(key, hashes.SHA256())
    )


class CertificateAuthority:
    def __init__(self, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate) -> None:
        self.key = key
        self.cert = cert

    # --- creation and storage -------------------------------------------------------------
    @classmethod
    def create(cls, name: str = "Juchong station CA", days: int = 3650) -> CertificateAuthority:
        key = new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert)

    @classmethod
    def load(cls, directory: Path | str) -> CertificateAuthority:
        d = Path(directory)
        if not (d / CA_KEY).exists() or not (d / CA_CERT).exists():
            raise CaError(f"no CA in {d}: run `jc-cloud ca init` (or set CA_DIR to where it is)")
        key = serialization.load_pem_private_key((d / CA_KEY).read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CaError(f"{d / CA_KEY} is not an EC key")
        return cls(key, x509.load_pem_x509_certificate((d / CA_CERT).read_bytes()))

    @classmethod
    def init_dir(
        cls, directory: Path | str, name: str = "Juchong station CA"
    ) -> CertificateAuthority:
        """Create a CA in `directory`; refuses to overwrite one (every station trusts it)."""
        d = Path(directory)
        if (d / CA_KEY).exists():
            raise CaError(
                f"{d / CA_KEY} exists: a CA is already there; remove it by hand to start over"
            )
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        ca = cls.create(name)
        write_private(d / CA_KEY, key_pem(ca.key))
        (d / CA_CERT).write_bytes(cert_pem(ca.cert))
        return ca

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    # --- issuing ----------------------------------------------------------------------------
    def _issue(
        self,
        cn: str,
        public_key: ec.EllipticCurvePublicKey,
        days: int,
        usage: x509.ObjectIdentifier,
        sans: Iterable[x509.GeneralName] = (),
    ) -> x509.Certificate:
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, True, False, False, False, False),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        sans = list(sans)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())

    def issue_client_cert(
        self, cn: str, public_key: ec.EllipticCurvePublicKey, days: int = 825
    ) -> x509.Certificate:
        """A TLS client certificate with subject CN `cn` (the broker's user name)."""
        return self._issue(cn, public_key, days, ExtendedKeyUsageOID.CLIENT_AUTH)

    def new_client_identity(self, cn: str, days: int = 825) -> Identity:
        """Key and client certificate made here: cloud identities, and station certs in tests."""
        key = new_key()
        return Identity(key_pem(key), cert_pem(self.issue_client_cert(cn, key.public_key(), days)))

    def new_server_identity(self, hosts: Iterable[str] = (), days: int = 825) -> Identity:
        """A server certificate for the broker listener: SAN 127.0.0.1, localhost and `hosts`."""
        names: list[x509.GeneralName] = []
        seen: set[str] = set()
        for host in ["localhost", "127.0.0.1", *hosts]:
            if not host or host in seen:
                continue
            seen.add(host)
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        key = new_key()
        cn = next((h for h in hosts if h), "localhost")
        cert = self._issue(cn, key.public_key(), days, ExtendedKeyUsageOID.SERVER_AUTH, names)
        return Identity(key_pem(key), cert_pem(cert))
