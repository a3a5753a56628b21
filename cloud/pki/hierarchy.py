"""The cloud's CA hierarchy in CA_DIR: a root and issuing CAs with one job each.

    CA_DIR/ca.crt, ca.key        root: signs the station and server issuing CAs, nothing else.
                                 Stations pin its fingerprint. Its key may live offline: only
                                 `jc-cloud ca init` and `jc-cloud ca rotate` use it.
    CA_DIR/station/              issuing CA for station certificates: the only key provisioning
                                 (the web process) loads. trust.pem (every station issuing CA
                                 still trusted, then the root) is the broker's station `cafile`;
                                 crl.pem its `crlfile`.
    CA_DIR/server/               issuing CA for server certificates (broker listener, HTTPS).
    CA_DIR/cloud/                a separate self-signed CA for the cloud's own MQTT identities:
                                 the broker's cloud listener trusts it alone, so no station
                                 certificate (whatever chain it presents) is accepted there.

A rotated issuing CA is kept in `<kind>/retired/<serial>/`: certificates it issued stay
trusted (and revocable: its CRL is still signed) until `jc-cloud ca retire`.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from cloud.pki.ca import CA_CERT, CA_KEY, CaError, CertificateAuthority, cert_pem, fingerprint

Kind = Literal["station", "server", "cloud"]
KINDS: tuple[Kind, ...] = ("station", "server", "cloud")
TRUST = "trust.pem"
CRL = "crl.pem"
RETIRED = "retired"


class Pki:
    def __init__(self, ca_dir: Path | str, password: bytes | None = None) -> None:
        self.dir = Path(ca_dir)
        self.password = password

    # --- files --------------------------------------------------------------------------------
    def issuer_dir(self, kind: Kind) -> Path:
        return self.dir / kind

    @property
    def root_cert_file(self) -> Path:
        return self.dir / CA_CERT

    @property
    def station_trust_file(self) -> Path:
        return self.issuer_dir("station") / TRUST

    @property
    def crl_file(self) -> Path:
        return self.issuer_dir("station") / CRL

    @property
    def cloud_trust_file(self) -> Path:
        return self.issuer_dir("cloud") / CA_CERT

    def exists(self) -> bool:
        return self.root_cert_file.exists()

    # --- creation -----------------------------------------------------------------------------
    @classmethod
    def init(cls, ca_dir: Path | str, name: str = "Juchong") -> Pki:
        """Root, station and server issuing CAs, the cloud CA, trust file and an empty CRL.

        Refuses to replace an existing root (every station pins it). Over a CA_DIR made by an
        earlier version (a root only), it adds what is missing.
        """
        pki = cls(ca_dir)
        d = pki.dir
        if not (d / CA_KEY).exists() and not (d / CA_CERT).exists():
            CertificateAuthority.init_dir(d, f"{name} root CA")
        elif all((d / k / CA_CERT).exists() for k in KINDS):
            raise CaError(
                f"{d / CA_CERT} exists: a CA is already there; remove it by hand to start over"
            )
        else:
            root = pki.root_certificate()
            limit = root.extensions.get_extension_for_class(x509.BasicConstraints).value
            if limit.path_length == 0:
                raise CaError(
                    f"{d / CA_CERT} is a single CA from an earlier version (path length 0): it "
                    "cannot have issuing CAs under it. Make a new CA_DIR with `jc-cloud ca init` "
                    "and provision the stations again (their tokens print the new fingerprint)"
                )
        for kind in KINDS:
            if not (pki.issuer_dir(kind) / CA_CERT).exists():
                pki._create_issuer(kind, name)
        pki.write_trust()
        pki.write_crl([])
        return pki

    def root(self) -> CertificateAuthority:
        if not (self.dir / CA_KEY).exists():
            raise CaError(
                f"the root key {self.dir / CA_KEY} is not here: bring it back from where it is "
                "kept offline for this step, then move it away again"
            )
        return CertificateAuthority.load(self.dir, self.password)

    def _create_issuer(self, kind: Kind, name: str = "Juchong") -> CertificateAuthority:
        if kind == "cloud":
            ca = CertificateAuthority.create(f"{name} cloud identity CA")
        else:
            ca = self.root().issue_ca(f"{name} {kind} issuing CA")
        ca.save(self.issuer_dir(kind), self.password)
        return ca

    def rotate(self, kind: Kind, name: str = "Juchong") -> CertificateAuthority:
        """A new issuing CA for `kind`; the old one is kept under retired/ (still trusted)."""
        current = self.issuer(kind)
        if kind != "cloud":
            self.root()  # fail before moving anything when the root key is away
        old = self.issuer_dir(kind) / RETIRED / current.serial
        old.mkdir(parents=True, exist_ok=True)
        for f in (CA_KEY, CA_CERT, "chain.pem"):
            src = self.issuer_dir(kind) / f
            if src.exists():
                shutil.move(str(src), str(old / f))
        new = self._create_issuer(kind, name)
        self.write_trust()
        return new

    def retire(self, kind: Kind, serial: str) -> None:
        """Stop trusting a rotated issuing CA (its certificates stop working)."""
        d = self.issuer_dir(kind) / RETIRED / serial
        if not d.is_dir():
            raise CaError(f"no retired {kind} CA with serial {serial} in {d.parent}")
        shutil.rmtree(d)
        self.write_trust()

    # --- loading ------------------------------------------------------------------------------
    def root_certificate(self) -> x509.Certificate:
        if not self.root_cert_file.exists():
            raise CaError(f"no CA in {self.dir}: run `jc-cloud ca init` (or set CA_DIR)")
        return x509.load_pem_x509_certificate(self.root_cert_file.read_bytes())

    @property
    def root_fingerprint(self) -> str:
        return fingerprint(self.root_certificate())

    def issuer(self, kind: Kind) -> CertificateAuthority:
        """The current issuing CA of `kind`, key included (permissions checked)."""
        d = self.issuer_dir(kind)
        if not (d / CA_CERT).exists():
            if self.root_cert_file.exists():
                raise CaError(
                    f"no {kind} issuing CA in {d}: run `jc-cloud ca init` to add the issuing "
                    "CAs under the existing root"
                )
            raise CaError(f"no CA in {self.dir}: run `jc-cloud ca init` (or set CA_DIR)")
        return CertificateAuthority.load(d, self.password)

    def issuers(self, kind: Kind) -> list[CertificateAuthority]:
        """Current and retired issuing CAs of `kind` (retired ones still sign their CRLs)."""
        out = [self.issuer(kind)]
        retired = self.issuer_dir(kind) / RETIRED
        if retired.is_dir():
            out += [CertificateAuthority.load(p, self.password) for p in sorted(retired.iterdir())]
        return out

    def issuer_certs(self, kind: Kind) -> list[x509.Certificate]:
        """Certificates only (no key is read): current first, then retired."""
        d = self.issuer_dir(kind)
        files = [d / CA_CERT]
        if (d / RETIRED).is_dir():
            files += [p / CA_CERT for p in sorted((d / RETIRED).iterdir())]
        return [x509.load_pem_x509_certificate(f.read_bytes()) for f in files if f.exists()]

    # --- what the broker and stations trust -----------------------------------------------------
    def station_chain_pem(self) -> bytes:
        """What a station gets at provisioning: its issuing CA first, the root last."""
        return self.issuer("station").chain_pem

    def write_trust(self) -> Path:
        """station/trust.pem: every station issuing CA still trusted, then the root."""
        certs = [*self.issuer_certs("station"), self.root_certificate()]
        out = self.station_trust_file
        out.write_bytes(b"".join(cert_pem(c) for c in certs))
        return out

    def write_crl(self, revoked: Iterable[tuple[str, int]], out: Path | None = None) -> Path:
        """station/crl.pem: one CRL per station issuing CA, listing its revoked serials.

        `revoked` is (hex serial, revoked at ms) of station certificates; each goes into the
        CRL of the CA that issued it (Mosquitto loads every CRL in the file).
        """
        revoked = [(int(s, 16), at) for s, at in revoked]
        pems = []
        for ca in self.issuers("station"):
            pems.append(
                ca.make_crl(revoked).public_bytes(serialization.Encoding.PEM)
            )
        out = Path(out or self.crl_file)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(b"".join(pems))
        os.chmod(tmp, 0o644)  # public data; the broker may run as another user
        tmp.replace(out)  # the broker never reads a half-written file
        return out


def crl_serials(path: Path) -> set[int]:
    """Serials listed in every CRL of a PEM file (for checks and tests)."""
    data = path.read_bytes()
    out: set[int] = set()
    marker = b"-----END X509 CRL-----"
    for part in data.split(marker):
        if b"-----BEGIN X509 CRL-----" in part:
            crl = x509.load_pem_x509_crl(part.strip() + b"\n" + marker + b"\n")
            out |= {r.serial_number for r in crl}
    return out


def days_left(cert: x509.Certificate) -> int:
    return (cert.not_valid_after_utc - dt.datetime.now(dt.UTC)).days
