"""Keys, certificates and CRLs, made with the cryptography library.

Pure functions: they take keys, names and times and return objects or PEM
bytes; certstore.py decides what is stored where. Written against
cryptography 38 (Debian 12) as well as current releases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from madash.errors import PKIError
from madash.site.values import is_ip_address

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
UTC = dt.UTC
# Clocks of freshly installed hosts are often a little behind.
BACKDATE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Issued:
    """A new certificate with its key, both PEM-encoded."""

    key_pem: bytes
    cert_pem: bytes
    serial: int
    not_after: dt.datetime


def generate_key(key_type: str) -> PrivateKey:
    kind, _, size = key_type.partition(":")
    if kind == "ec" and size == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec" and size == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "rsa" and size in ("3072", "4096"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(size))
    raise PKIError(f"unsupported key type {key_type!r}")


def key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    # PKCS#8: read by stunnel (OpenSSL), Telegraf's Go TLS and browsers alike.
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_key(pem: bytes, passphrase: bytes | None, what: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase)
    except TypeError:
        # Raised both for "encrypted but no passphrase" and "passphrase given but not encrypted".
        if passphrase is None:
            raise PKIError(
                f"{what} is protected by a passphrase",
                hint="set MADASH_CA_PASSPHRASE or run on a terminal to be asked",
            ) from None
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        if passphrase is not None and b"ENCRYPTED" in pem:
            raise PKIError(f"wrong passphrase for {what}") from None
        raise PKIError(f"{what} is not a readable private key (truncated or damaged?)") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PKIError(f"{what} is neither an EC nor an RSA key")
    return key


def is_encrypted_pem(pem: bytes) -> bool:
    return b"ENCRYPTED PRIVATE KEY" in pem


def load_cert(pem: bytes, what: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise PKIError(f"{what} is not a readable certificate (truncated or damaged?)") from None


def load_crl(pem: bytes, what: str) -> x509.CertificateRevocationList:
    try:
        return x509.load_pem_x509_crl(pem)
    except ValueError:
        raise PKIError(f"{what} is not a readable CRL (truncated or damaged?)") from None


def key_matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    """Whether key is the private half of cert's public key (a renew interrupted between files is not)."""
    public = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(*public) == cert.public_key().public_bytes(*public)


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def not_after(cert: x509.Certificate) -> dt.datetime:
    # cryptography >= 42 has *_utc; Debian 12's 38 only has the naive UTC value.
    value = getattr(cert, "not_valid_after_utc", None)
    if isinstance(value, dt.datetime):
        return value
    return cert.not_valid_after.replace(tzinfo=UTC)


def not_before(cert: x509.Certificate) -> dt.datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    if isinstance(value, dt.datetime):
        return value
    return cert.not_valid_before.replace(tzinfo=UTC)


def issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    """Whether parent's key signed child (the issuer's name alone proves nothing)."""
    if child.issuer != parent.subject:
        return False
    # cryptography >= 40 does this itself (RSA-PSS included); Debian 12's 38 needs it spelled out.
    verify = getattr(child, "verify_directly_issued_by", None)
    try:
        if verify is not None:
            verify(parent)
            return True
        public, algorithm = parent.public_key(), child.signature_hash_algorithm
        if isinstance(public, rsa.RSAPublicKey) and algorithm is not None:
            public.verify(child.signature, child.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey) and algorithm is not None:
            public.verify(child.signature, child.tbs_certificate_bytes, ec.ECDSA(algorithm))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):  # a bad signature, or a key that cannot have made it
        return False
    return True


def next_update(crl: x509.CertificateRevocationList) -> dt.datetime | None:
    value = getattr(crl, "next_update_utc", None)
    if isinstance(value, dt.datetime):
        return value
    naive = crl.next_update
    return naive.replace(tzinfo=UTC) if naive else None


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: object, now: dt.datetime, end: dt.datetime
) -> tuple[x509.CertificateBuilder, int]:
    serial = x509.random_serial_number()  # 159 random bits, RFC 5280's maximum
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(end)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)  # type: ignore[arg-type]
    )
    return builder, serial


def make_ca(site_name: str, key_type: str, days: int, now: dt.datetime) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_key(key_type)
    name = _name(f"{site_name} madash CA", site_name)
    builder, _ = _builder(name, name, key.public_key(), now, now + dt.timedelta(days=days))
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False)
    )
    return key, builder.sign(key, _hash_for(key))


def _key_usage(*, cert_sign: bool = False, key_agreement: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=key_agreement,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    key_type: str,
    common_name: str,
    usage: x509.ObjectIdentifier,
    alt_names: Sequence[x509.GeneralName],
    days: int,
    now: dt.datetime,
) -> Issued:
    key = generate_key(key_type)
    organization = ca_cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    # A leaf never outlives its CA: the chain would fail on that day anyway.
    end = min(now + dt.timedelta(days=days), not_after(ca_cert))
    builder, serial = _builder(_name(common_name, str(organization)), ca_cert.subject, key.public_key(), now, end)
    builder = (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(key_agreement=isinstance(key, ec.EllipticCurvePrivateKey)), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(alt_names)), critical=False)
    cert = builder.sign(ca_key, _hash_for(ca_key))
    return Issued(key_to_pem(key), cert_pem(cert), serial, end)


def issue_server(
    ca_key: PrivateKey, ca_cert: x509.Certificate, key_type: str, addresses: Sequence[str], days: int, now: dt.datetime
) -> Issued:
    alt: list[x509.GeneralName] = [
        x509.IPAddress(ip_address(a)) if is_ip_address(a) else x509.DNSName(a) for a in addresses
    ]
    return _leaf(ca_key, ca_cert, key_type, addresses[0], ExtendedKeyUsageOID.SERVER_AUTH, alt, days, now)


def issue_client(
    ca_key: PrivateKey, ca_cert: x509.Certificate, key_type: str, host: str, days: int, now: dt.datetime
) -> Issued:
    return _leaf(ca_key, ca_cert, key_type, host, ExtendedKeyUsageOID.CLIENT_AUTH, [], days, now)


@dataclass(frozen=True)
class Revocation:
    serial: int
    revoked_at: dt.datetime


def make_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[Revocation],
    number: int,
    days: int,
    now: dt.datetime,
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - BACKDATE)
        .next_update(now + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for item in sorted(revoked, key=lambda r: r.serial):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(item.serial).revocation_date(item.revoked_at).build()
        )
    crl = builder.sign(ca_key, _hash_for(ca_key))
    return crl.public_bytes(serialization.Encoding.PEM)
