"""The webhook's serving certificate: from a Secret through the API, or from files; reloaded.

The API server calls webhooks over TLS only. In a cluster every replica serves the pair of one
Secret (`SecretCertificate`): the leader writes it (keeper.py) or cert-manager does, and each
replica reads it through the API every few seconds and loads a changed pair into the same SSL
context, without a restart (new TLS handshakes use the new chain; connections in flight keep
theirs). Outside the cluster (`make run`) the pair comes from files or is generated
(`certificate`). Fail closed: until a pair is loaded the server does not listen at all, and a
pair that does not load (damaged, half-written, key not matching) keeps the previous one.
Kopf's own self-signed certificates need `certbuilder`/`oscrypto`, which cannot parse this
machine's OpenSSL 3 version, so everything here is made with `cryptography`.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from modelship.operator.kube.client import Kube, KubeError
from modelship.operator.kube.resources import SECRETS

log = logging.getLogger("modelship.admission")
VALIDITY = datetime.timedelta(days=365)


def self_signed(names: list[str], common_name: str = "modelship-operator") -> tuple[bytes, bytes]:
    """A P-256 key and a self-signed certificate valid for `names` (IP addresses become IP
    SANs, everything else DNS SANs); returns (certificate PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):  # keep order, drop repeats
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_pair(cert_file: Path, key_file: Path, cert_pem: bytes, key_pem: bytes) -> None:
    """Write a pair so that the key is never readable by others, not even for a moment."""
    cert_file.parent.mkdir(parents=True, exist_ok=True)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    cert_file.write_bytes(cert_pem)


class ServingCertificate(Protocol):
    """What the server needs: one SSL context, whether it holds a pair, and a reload."""

    context: ssl.SSLContext

    @property
    def loaded(self) -> bool: ...

    def reload_if_changed(self) -> bool: ...


def server_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def load_pair(context: ssl.SSLContext, cert_file: Path, key_file: Path) -> None:
    """Load a pair into a live context only once it loaded into a scratch one: OpenSSL sets
    the certificate before it checks the key, so a failed load would leave the live context
    with a certificate its key does not match."""
    server_context().load_cert_chain(cert_file, key_file)
    context.load_cert_chain(cert_file, key_file)


def _stamp(path: Path) -> tuple[float, int]:
    # Secret volumes swap a symlink (..data) on update: stat follows it to the new file.
    info = path.stat()
    return info.st_mtime, info.st_ino


@dataclass
class ReloadingCertificate:
    """One server-side SSL context whose certificate chain is reloaded when the files change."""

    cert_file: Path
    key_file: Path

    def __post_init__(self) -> None:
        self.context = server_context()
        self._stamps: tuple[tuple[float, int], tuple[float, int]] | None = None
        self.reload_if_changed()

    @property
    def loaded(self) -> bool:
        return self._stamps is not None

    def reload_if_changed(self) -> bool:
        """Load the pair when it differs from what is loaded; True when it was (re)loaded.
        A half-written pair (cert and key not matching yet) keeps the old one until the next
        check."""
        stamps = (_stamp(self.cert_file), _stamp(self.key_file))
        if stamps == self._stamps:
            return False
        try:
            load_pair(self.context, self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as exc:
            if self._stamps is None:
                raise
            log.warning("keeping the previous webhook certificate: %s", exc)
            return False
        if self._stamps is not None:
            log.info("webhook certificate reloaded from %s", self.cert_file)
        self._stamps = stamps
        return True


class SecretCertificate:
    """The pair of a Secret's `tls.crt` and `tls.key`, read through the API (`get` on that one
    Secret): no volume, so a new pair is served within one check, not a kubelet sync later."""

    def __init__(self, kube: Kube, namespace: str, name: str) -> None:
        self.kube, self.namespace, self.name = kube, namespace, name
        self.context = server_context()
        self._stamp: str | None = None  # digest of the loaded pair
        self._refused: str | None = None  # what was last wrong, said once

    @property
    def loaded(self) -> bool:
        return self._stamp is not None

    def _refuse(self, why: str) -> bool:
        if why != self._refused:
            kept = "keeping the previous pair" if self.loaded else "not serving yet"
            log.warning("webhook certificate %s/%s: %s; %s", self.namespace, self.name, why, kept)
            self._refused = why
        return False

    def reload_if_changed(self) -> bool:
        """Load the Secret's pair when it differs from the loaded one; True when it was."""
        try:
            secret = self.kube.get(SECRETS, self.namespace, self.name)
        except KubeError as exc:
            return self._refuse(f"not readable ({exc})")
        if secret is None:
            return self._refuse("no such Secret")
        data = secret.get("data") or {}
        try:
            cert_pem = base64.b64decode(data["tls.crt"], validate=True)
            key_pem = base64.b64decode(data["tls.key"], validate=True)
        except KeyError as exc:
            return self._refuse(f"data[{exc}] is missing")
        except (binascii.Error, ValueError, TypeError):
            return self._refuse("data['tls.crt'] or data['tls.key'] is not base64")
        stamp = hashlib.sha256(cert_pem + b"\0" + key_pem).hexdigest()
        if stamp == self._stamp:
            return False
        with tempfile.TemporaryDirectory(prefix="modelship-webhook-") as scratch:
            cert_file, key_file = Path(scratch) / "tls.crt", Path(scratch) / "tls.key"
            write_pair(cert_file, key_file, cert_pem, key_pem)
            try:
                load_pair(self.context, cert_file, key_file)
            except (ssl.SSLError, OSError) as exc:
                return self._refuse(f"the pair does not load ({exc})")
        first = self._stamp is None
        self._stamp, self._refused = stamp, None
        log.info("webhook certificate %s from Secret %s/%s",
                 "loaded" if first else "reloaded", self.namespace, self.name)  # fmt: skip
        return True


def certificate(
    cert_file: str, key_file: str, generated_dir: str, names: list[str]
) -> ReloadingCertificate:
    """The configured pair when its files exist; otherwise a self-signed pair generated into
    `generated_dir` (its certificate is then the caBundle of the webhook configuration)."""
    if cert_file and key_file and Path(cert_file).exists() and Path(key_file).exists():
        return ReloadingCertificate(Path(cert_file), Path(key_file))
    directory = Path(generated_dir or tempfile.mkdtemp(prefix="modelship-admission-"))
    generated_cert, generated_key = directory / "tls.crt", directory / "tls.key"
    cert_pem, key_pem = self_signed(names)
    write_pair(generated_cert, generated_key, cert_pem, key_pem)
    log.info("webhook certificate generated for %s in %s", ", ".join(names), directory)
    return ReloadingCertificate(generated_cert, generated_key)
