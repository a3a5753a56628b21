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
CA_CHAIN = "chain.pem"  # an issuing CA's issuers, up to the root
_BACKDATE = dt.timedelta(minutes=5)  # tolerate small clock differences between machines


class CaError(RuntimeError):
    pass


def check_private_file(path: Path | str) -> None:
    """Refuse a private key that its group or others may read (or write): CaError names the fix."""
    p = Path(path)
    mode = p.stat().st_mode & 0o777
    if mode & 0o077:
        raise CaError(
            f"{p} is readable by group or others (mode {mode:03o}); a private key must be "
            f"0600 or 0400: chmod 600 {p}"
        )


def load_private_key(path: Path | str, password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """An EC private key from a PEM file whose permissions are checked first."""
    check_private_file(path)
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=password)
    except TypeError as e:  # encrypted without a passphrase, or a passphrase for a plain key
        raise CaError(f"{path}: {e}") from None
    except ValueError as e:
        raise CaError(f"{path}: not a usable PEM private key ({e})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise CaError(f"{path} is not an EC key")
    return key


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


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> bytes:
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)


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
    """A CA's key and certificate; `chain` holds the certificates above it (empty for a root)."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        cert: x509.Certificate,
        chain: list[x509.Certificate] | None = None,
    ) -> None:
        self.key = key
        self.cert = cert
        self.chain = list(chain or [])

    # --- creation and storage -------------------------------------------------------------
    @classmethod
    def create(
        cls, name: str = "Juchong station CA", days: int = 3650, path_length: int = 0
    ) -> CertificateAuthority:
        """A self-signed CA; path_length 1 for a root above issuing CAs."""
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
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
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
    def load(cls, directory: Path | str, password: bytes | None = None) -> CertificateAuthority:
        """The CA in `directory` (ca.key, ca.crt, and chain.pem for an issuing CA)."""
        d = Path(directory)
        if not (d / CA_KEY).exists() or not (d / CA_CERT).exists():
            raise CaError(f"no CA in {d}: run `jc-cloud ca init` (or set CA_DIR to where it is)")
        key = load_private_key(d / CA_KEY, password)
        chain_file = d / CA_CHAIN
        chain = x509.load_pem_x509_certificates(chain_file.read_bytes()) if chain_file.exists() else []
        return cls(key, x509.load_pem_x509_certificate((d / CA_CERT).read_bytes()), chain)

    def save(self, directory: Path | str, password: bytes | None = None) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o700)
        write_private(d / CA_KEY, key_pem(self.key, password))
        (d / CA_CERT).write_bytes(cert_pem(self.cert))
        if self.chain:
            (d / CA_CHAIN).write_bytes(b"".join(cert_pem(c) for c in self.chain))

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
        ca = cls.create(name, path_length=1)
        write_private(d / CA_KEY, key_pem(ca.key))
        (d / CA_CERT).write_bytes(cert_pem(ca.cert))
        return ca

    @property
    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert)

    @property
    def chain_pem(self) -> bytes:
        """This CA's certificate followed by those above it: issuer first, root last."""
        return b"".join(cert_pem(c) for c in [self.cert, *self.chain])

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "x")

    # --- issuing CAs and revocation ----------------------------------------------------------
    def issue_ca(self, name: str, days: int = 1825) -> CertificateAuthority:
        """A new issuing CA under this one (path length 0: it signs end certificates only)."""
        key = new_key()
        now = dt.datetime.now(dt.UTC)
        not_after = min(now + dt.timedelta(days=days), self.cert.not_valid_after_utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _BACKDATE)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        return CertificateAuthority(key, cert, [self.cert, *self.chain])

    def make_crl(self, revoked: Iterable[tuple[int, int]]) -> x509.CertificateRevocationList:
        """A CRL of (serial, revoked at epoch ms) for certificates this CA issued.

        Its nextUpdate is the CA's own expiry: OpenSSL refuses every certificate of an issuer
        whose CRL has expired, and the CRL is re-signed at each revocation anyway.
        """
        now = dt.datetime.now(dt.UTC)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - _BACKDATE)
            .next_update(self.cert.not_valid_after_utc)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
            .add_extension(x509.CRLNumber(int(now.timestamp() * 1000)), critical=False)
        )
        for serial, at_ms in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(dt.datetime.fromtimestamp(at_ms / 1000, dt.UTC))
                .build()
            )
        return builder.sign(self.key, hashes.SHA256())

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
        # The file holds the chain up to (not including) the root, which clients already trust.
        above = b"".join(cert_pem(c) for c in [self.cert, *self.chain][:-1])
        return Identity(key_pem(key), cert_pem(cert) + above)
