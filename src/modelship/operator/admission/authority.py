"""A CA and the serving certificate it signs, for the webhook's Service (pure: no I/O).

The API server verifies a webhook's certificate against the configuration's `caBundle` and
the DNS name of the Service it calls (`<service>.<namespace>.svc`). Every rotation makes a new
CA, signs exactly one serving certificate with it and forgets the CA's key: nothing can be
signed with a CA once its certificate is issued, so the Secret never holds a signing key and a
copied Secret is worth one serving certificate until it expires. Both certificates expire
together; the rotation (rotation.py) replaces them well before.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Clocks of the API server and the operator may differ a little: a certificate is valid from
# a few minutes before it was made.
BACKDATE = datetime.timedelta(minutes=5)


def service_names(service: str, namespace: str) -> tuple[str, ...]:
    """The names the API server (and anything in the cluster) uses for a Service."""
    return (f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local")


@dataclass(frozen=True)
class Pair:
    """A serving certificate and key with the CA certificate that signed it (all PEM)."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def not_after(self) -> datetime.datetime:
        return self.cert.not_valid_after_utc

    @property
    def names(self) -> tuple[str, ...]:
        return dns_names(self.cert)


def dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.value.get_values_for_type(x509.DNSName))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _usage(signs_certificates: bool) -> x509.KeyUsage:
    """Signatures only (ECDSA keys encipher nothing); a CA signs certificates and CRLs too."""
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )


def issue(names: tuple[str, ...], now: datetime.datetime, lifetime: datetime.timedelta) -> Pair:
    """A new P-256 CA and a serving certificate for `names` signed by it, both valid until
    `now + lifetime`. The CA's key is not returned: it signs this one certificate only."""
    if not names:
        raise ValueError("a serving certificate needs at least one DNS name")
    start, end = now - BACKDATE, now + lifetime
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, f"modelship-webhook-ca@{int(now.timestamp())}")]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(signs_certificates=True), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dict.fromkeys(names)]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return Pair(_pem(ca), _pem(cert), key_pem)


def split_bundle(pem: bytes) -> tuple[bytes, ...]:
    """The certificates of a PEM bundle, one PEM each (ValueError when one does not parse)."""
    return tuple(_pem(cert) for cert in x509.load_pem_x509_certificates(pem)) if pem.strip() else ()


def join_bundle(certs: tuple[bytes, ...]) -> bytes:
    return b"".join(c if c.endswith(b"\n") else c + b"\n" for c in certs)


def fingerprint(pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding: the same certificate however it is wrapped."""
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def expired(pem: bytes, now: datetime.datetime) -> bool:
    return x509.load_pem_x509_certificate(pem).not_valid_after_utc <= now


def signed_by(pair: Pair) -> bool:
    """Whether the serving certificate was signed by the pair's CA (and names it as issuer)."""
    ca = x509.load_pem_x509_certificate(pair.ca_pem)
    try:
        pair.cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def key_matches(pair: Pair) -> bool:
    """Whether the private key is the serving certificate's."""
    key = serialization.load_pem_private_key(pair.key_pem, password=None)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    ours = key.public_key().public_bytes(serialization.Encoding.DER, spki)
    theirs = pair.cert.public_key().public_bytes(serialization.Encoding.DER, spki)
    return ours == theirs
