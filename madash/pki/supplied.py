"""A certificate the admin supplies for Grafana's port, in the place of the site's server certificate.

Browsers do not know the site CA; a certificate from a CA they already trust
(a public ACME CA, an enterprise CA on every desktop), obtained elsewhere, lets
people open Grafana without a warning. It arrives as files from the admin's
downloads, so it is read as hostile: bounded regular files, PEM, a chain whose
every certificate issued the one before it, a leaf for TLS servers that covers
the name in Grafana's public URL, valid now, and an unencrypted key (stunnel
starts unattended) that belongs to the leaf. It is checked when imported and
again at every bake: the URL may have changed and time passes.

The site keeps the chain and the key in one file, pki/grafana.pem (0600), so
that an import replaces both in one rename: a killed import leaves the old pair
or the new one, never a key beside a certificate it does not belong to.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from madash import modes, times
from madash.errors import PKIError, UsageError
from madash.fsutil import atomic_write, site_lock
from madash.pki import crypto
from madash.site.access import secure_root
from madash.site.config import Site, SiteConfig, grafana_url, load_site
from madash.site.values import shown

MAX_BYTES = 64 * 1024  # a chain of a few certificates is a few kilobytes
MAX_CHAIN = 8
MIN_RSA_BITS = 2048
_BEGIN_CERT = b"-----BEGIN CERTIFICATE-----"
_END_CERT = b"-----END CERTIFICATE-----"
# Where stunnel and the hint point the admin: certbot's names.
HINT = "give the full chain (certbot's fullchain.pem) and its unencrypted key (privkey.pem)"


@dataclass(frozen=True)
class Supplied:
    chain_pem: bytes  # the leaf first, then the intermediates, as stunnel sends them
    key_pem: bytes = field(repr=False)
    subject: str
    issuer: str
    names: tuple[str, ...]
    not_after: dt.datetime
    warnings: tuple[str, ...] = ()


def _read(path: Path, what: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UsageError(f"cannot read the {what} {shown(str(path))}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"the {what} {shown(str(path))} is not a regular file")
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UsageError(f"the {what} {shown(str(path))} is larger than {MAX_BYTES >> 10} KiB", hint=HINT)
    return data


def _split_chain(pem: bytes, what: str) -> list[bytes]:
    """Each certificate of a PEM bundle; nothing else may be in it (a key in the chain file would be shipped
    world-readable)."""
    blocks, rest = [], pem
    while _BEGIN_CERT in rest:
        before, _, after = rest.partition(_BEGIN_CERT)
        body, end, rest = after.partition(_END_CERT)
        if not end or before.strip():
            raise UsageError(f"{what} holds something besides PEM certificates", hint=HINT)
        blocks.append(_BEGIN_CERT + body + _END_CERT + b"\n")
    if not blocks:
        raise UsageError(f"{what} is not a PEM certificate chain", hint=HINT)
    if rest.strip():
        raise UsageError(f"{what} holds something besides PEM certificates", hint=HINT)
    if len(blocks) > MAX_CHAIN:
        raise UsageError(f"{what} holds {len(blocks)} certificates; a server chain has at most {MAX_CHAIN}")
    return blocks


def _dns_names(cert: x509.Certificate) -> list[str]:
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [n.lower() for n in extension.get_values_for_type(x509.DNSName)] + [
        str(a) for a in extension.get_values_for_type(x509.IPAddress)
    ]


def covers(pattern: str, host: str) -> bool:
    """Whether a subjectAltName entry names host, as browsers match them (RFC 6125 6.4): a wildcard stands for
    exactly the whole leftmost label, and never for an IP address."""
    host = host.lower().rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        try:
            return address == ipaddress.ip_address(pattern)
        except ValueError:
            return False  # a DNS name, wildcard or not, never names an address
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label) and bool(dot) and rest == pattern[2:] and "." in rest
    return pattern == host


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def url_host(config: SiteConfig) -> str:
    """The name people type to reach Grafana: the host of its public URL."""
    host = urlsplit(grafana_url(config)).hostname
    assert host is not None  # grafana_url always has one
    return host


def _check_leaf(leaf: x509.Certificate, host: str, now: dt.datetime, what: str) -> list[str]:
    names = _dns_names(leaf)
    if not any(covers(name, host) for name in names):
        listed = ", ".join(names) or "no subjectAltName"
        raise UsageError(
            f"{what} is for {listed}, not for {host}, the host of Grafana's public URL",
            hint="take a certificate for that name, or set [grafana] public_url in madash.toml to the name the "
            "certificate is for",
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None and ExtendedKeyUsageOID.SERVER_AUTH not in usage:
        raise UsageError(f"{what} is not for TLS servers (its extended key usage lacks serverAuth)")
    not_before, not_after = crypto.not_before(leaf), crypto.not_after(leaf)
    if not_after <= now:
        raise UsageError(f"{what} expired on {not_after:%Y-%m-%d}", hint="obtain a new one, then import it again")
    if not_before > now:
        raise UsageError(f"{what} is valid only from {not_before:%Y-%m-%d %H:%M} UTC", hint="check this clock")
    if not_after - now <= times.EXPIRY_WARNING:
        return [f"{what} expires on {not_after:%Y-%m-%d}: obtain a new one and import it"]
    return []


def validate(chain_pem: bytes, key_pem: bytes, config: SiteConfig, now: dt.datetime, what: str) -> Supplied:
    """The supplied pair, checked for Grafana's port of this site; one UsageError saying what is wrong."""
    try:
        return _validate(chain_pem, key_pem, config, now, what)
    except PKIError as exc:  # an unreadable certificate or key: the admin's input, not the site's PKI
        raise UsageError(exc.message, hint=exc.hint or HINT) from None


def _validate(chain_pem: bytes, key_pem: bytes, config: SiteConfig, now: dt.datetime, what: str) -> Supplied:
    blocks = _split_chain(chain_pem, what)
    chain = [crypto.load_cert(block, what) for block in blocks]
    if _is_ca(chain[0]):
        raise UsageError(f"{what} starts with a CA certificate: the server's own certificate must come first")
    for child, parent in itertools.pairwise(chain):
        if not crypto.issued_by(child, parent):
            raise UsageError(
                f"{what}: {child.subject.rfc4514_string()} was not issued by the certificate after it",
                hint="the chain goes from the server's certificate up to, but not including, the root",
            )
    warnings = _check_leaf(chain[0], url_host(config), now, what)
    if crypto.is_encrypted_pem(key_pem):
        raise UsageError("the key is protected by a passphrase", hint="stunnel starts unattended: " + HINT)
    key = crypto.load_key(key_pem, None, "the key")
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < MIN_RSA_BITS:
        raise UsageError(f"the key is RSA with {key.key_size} bits; at least {MIN_RSA_BITS} are needed")
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size < 256:
        raise UsageError(f"the key is on {key.curve.name}, weaker than P-256")
    if not crypto.key_matches(key, chain[0]):
        raise UsageError(f"the key does not belong to {what}", hint="give the key the certificate was issued for")
    return Supplied(
        chain_pem=b"".join(blocks),
        key_pem=crypto.key_to_pem(key),
        subject=chain[0].subject.rfc4514_string(),
        issuer=chain[0].issuer.rfc4514_string(),
        names=tuple(_dns_names(chain[0])),
        not_after=crypto.not_after(chain[0]),
        warnings=tuple(warnings),
    )


def load(site: Site, now: dt.datetime) -> Supplied | None:
    """The site's Grafana certificate, checked again for the site as it is now; None when it has none."""
    path = site.paths.grafana_pem
    if not os.path.lexists(path):
        return None
    data = _read(path, "file")
    chain, _, key = data.partition(b"-----BEGIN PRIVATE KEY-----")
    if not key:
        raise UsageError(f"{site.paths.relative(path)} holds no key", hint="import the pair again: " + IMPORT)
    return validate(chain, b"-----BEGIN PRIVATE KEY-----" + key, site.config, now, site.paths.relative(path))


IMPORT = "madash-build grafana-cert CERT KEY"


def import_pair(site: Site, cert: Path, key: Path, now: dt.datetime) -> Supplied:
    """Check the pair and keep it in the site, replacing any earlier one in a single rename."""
    supplied = validate(_read(cert, "certificate"), _read(key, "key"), site.config, now, "the certificate")
    with site_lock(site.paths.root):
        site = load_site(site.paths.root)
        supplied = validate(supplied.chain_pem, supplied.key_pem, site.config, now, "the certificate")
        secure_root(site)
        atomic_write(site.paths.grafana_pem, supplied.chain_pem + supplied.key_pem, modes.SECRET)
    return supplied


def remove(site: Site) -> bool:
    """Go back to the site's server certificate on Grafana's port; whether there was one to remove."""
    with site_lock(site.paths.root):
        try:
            site.paths.grafana_pem.unlink()
        except FileNotFoundError:
            return False
    return True
