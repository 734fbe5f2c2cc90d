"""The webhook's serving certificate: mounted from a Secret, or generated; reloaded when it changes.

The API server calls webhooks over TLS only. Kopf's own self-signed certificates need
`certbuilder`/`oscrypto`, and `oscrypto` cannot parse the version of this machine's OpenSSL 3,
so the key and certificate are made here with `cryptography`. In a real cluster cert-manager
writes them into a Secret mounted into the pod; the Secret's files are replaced in place when
cert-manager renews them, and the server picks the new pair up on its next check, without a
restart (new TLS handshakes use the reloaded chain; connections in flight keep theirs).
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

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
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._stamps: tuple[tuple[float, int], tuple[float, int]] | None = None
        self.reload_if_changed()

    def reload_if_changed(self) -> bool:
        """Load the pair when it differs from what is loaded; True when it was (re)loaded.
        A half-written pair (cert and key not matching yet) keeps the old one until the next
        check."""
        stamps = (_stamp(self.cert_file), _stamp(self.key_file))
        if stamps == self._stamps:
            return False
        try:
            self.context.load_cert_chain(self.cert_file, self.key_file)
        except (ssl.SSLError, OSError) as exc:
            if self._stamps is None:
                raise
            log.warning("keeping the previous webhook certificate: %s", exc)
            return False
        if self._stamps is not None:
            log.info("webhook certificate reloaded from %s", self.cert_file)
        self._stamps = stamps
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
