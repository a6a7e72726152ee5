"""The site PKI, checked with openssl (a test may use openssl; the product never does)."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from madash.bootstrap import init_site
from madash.errors import PKIError, UsageError
from madash.pki import crypto as pki
from madash.pki import store as certstore
from madash.pki.index import load_index
from madash.site.config import Site, load_site
from tests.conftest import NOW


def no_passphrase() -> bytes | None:
    return None


def openssl_verify(
    site: Site, cert: Path, *, crl: bool = True, at: dt.datetime = NOW
) -> subprocess.CompletedProcess[str]:
    argv = ["openssl", "verify", "-CAfile", str(site.paths.pki / "ca.crt"), "-attime", str(int(at.timestamp()))]
    if crl:
        argv += ["-crl_check", "-CRLfile", str(site.paths.pki / "crl.pem")]
    return subprocess.run([*argv, str(cert)], capture_output=True, text=True, check=False)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_ca_is_a_constrained_signing_ca(site: Site) -> None:
    ca = load(site.paths.pki / "ca.crt")
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    ca.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert (pki.not_after(ca) - NOW).days in (3649, 3650)


def test_server_certificate_names_every_address(site: Site) -> None:
    server = load(site.paths.pki / "server.crt")
    alt = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert alt.get_values_for_type(x509.DNSName) == ["monitor.example.org"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (pki.not_after(server) - NOW).days in (824, 825)
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(site.paths.pki / "ca.crt"),
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            str(site.paths.pki / "server.crt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_host_certificate_verifies_until_revoked(site: Site) -> None:
    entry = certstore.issue_host(site, "laptop", no_passphrase, NOW)
    cert_path = site.paths.clients / "laptop.crt"
    cert = load(cert_path)
    assert cert.subject.rfc4514_string().startswith("CN=laptop")
    assert cert.serial_number == entry.serial and entry.serial.bit_length() >= 128
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert (site.paths.clients / "laptop.key").stat().st_mode & 0o777 == 0o600
    ok = openssl_verify(site, cert_path, at=NOW + dt.timedelta(minutes=1))
    assert ok.returncode == 0, ok.stderr

    certstore.revoke_host(site, "laptop", no_passphrase, NOW + dt.timedelta(minutes=1))
    refused = openssl_verify(site, cert_path, at=NOW + dt.timedelta(minutes=2))
    assert refused.returncode != 0 and "revoked" in refused.stdout + refused.stderr


def test_crl_is_present_and_fresh_from_the_start(site: Site) -> None:
    crl = x509.load_pem_x509_crl((site.paths.pki / "crl.pem").read_bytes())
    assert len(list(crl)) == 0
    assert (pki.next_update(crl) - NOW).days in (179, 180)  # type: ignore[operator]
    ca = load(site.paths.pki / "ca.crt")
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]


def test_renew_revokes_the_old_certificate(site: Site) -> None:
    certstore.issue_host(site, "laptop", no_passphrase, NOW)
    old = (site.paths.clients / "laptop.crt").read_bytes()
    old_key = (site.paths.clients / "laptop.key").read_bytes()
    later = NOW + dt.timedelta(hours=1)
    certstore.renew_host(site, "laptop", no_passphrase, later)
    assert (site.paths.clients / "laptop.key").read_bytes() != old_key
    (site.paths.root / "old.crt").write_bytes(old)
    assert openssl_verify(site, site.paths.root / "old.crt", at=later).returncode != 0
    assert openssl_verify(site, site.paths.clients / "laptop.crt", at=later).returncode == 0
    index = load_index(site.paths)
    laptop = [e for e in index.entries if e.name == "laptop"]
    assert len(laptop) == 2 and laptop[0].revoked_at is not None and laptop[1].revoked_at is None


def test_renew_server_keeps_addresses(site: Site) -> None:
    before = load(site.paths.pki / "server.crt")
    certstore.renew_server(site, no_passphrase, NOW + dt.timedelta(hours=1))
    after = load(site.paths.pki / "server.crt")
    assert after.serial_number != before.serial_number
    assert after.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ) == before.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    crl = x509.load_pem_x509_crl((site.paths.pki / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(before.serial_number) is not None


def test_issuing_twice_is_refused(site: Site) -> None:
    certstore.issue_host(site, "laptop", no_passphrase, NOW)
    with pytest.raises(UsageError, match="already has a certificate"):
        certstore.issue_host(site, "laptop", no_passphrase, NOW)


@pytest.mark.parametrize(
    ("key_type", "kind", "size"), [("rsa:3072", rsa.RSAPublicKey, 3072), ("ec:p384", ec.EllipticCurvePublicKey, 384)]
)
def test_other_key_types(tmp_path: Path, key_type: str, kind: type, size: int) -> None:
    root = tmp_path / "site"
    init_site(root, ["127.0.0.1"], None, force=False, ca_passphrase=None, now=NOW)
    config = (root / "madash.toml").read_text().replace('key_type = "ec:p256"', f'key_type = "{key_type}"')
    (root / "madash.toml").write_text(config)
    site = load_site(root)
    certstore.issue_host(site, "h1", no_passphrase, NOW)
    key = load(site.paths.clients / "h1.crt").public_key()
    assert isinstance(key, kind) and isinstance(key, (rsa.RSAPublicKey, ec.EllipticCurvePublicKey))
    assert key.key_size == size
    assert openssl_verify(site, site.paths.clients / "h1.crt", at=NOW + dt.timedelta(minutes=1)).returncode == 0


def test_ca_passphrase(tmp_path: Path) -> None:
    root = tmp_path / "site"
    init_site(root, ["127.0.0.1"], None, force=False, ca_passphrase=b"sesame", now=NOW)
    site = load_site(root)
    assert b"ENCRYPTED PRIVATE KEY" in (root / "pki" / "ca.key").read_bytes()
    with pytest.raises(PKIError, match="protected by a passphrase"):
        certstore.issue_host(site, "h1", no_passphrase, NOW)
    with pytest.raises(PKIError, match="wrong passphrase"):
        certstore.issue_host(site, "h1", lambda: b"wrong", NOW)
    certstore.issue_host(site, "h1", lambda: b"sesame", NOW)
    # The CA key was only read, never rewritten without its passphrase.
    assert b"ENCRYPTED PRIVATE KEY" in (root / "pki" / "ca.key").read_bytes()


def test_leaf_never_outlives_the_ca(tmp_path: Path) -> None:
    root = tmp_path / "site"
    init_site(root, ["127.0.0.1"], None, force=False, ca_passphrase=None, now=NOW)
    # The longest lifetime the model allows, as long as the CA's, issued a month after the CA.
    text = (root / "madash.toml").read_text().replace("client_days = 825", "client_days = 3650")
    (root / "madash.toml").write_text(text)
    site = load_site(root)
    certstore.issue_host(site, "h1", no_passphrase, NOW + dt.timedelta(days=30))
    assert pki.not_after(load(site.paths.clients / "h1.crt")) == pki.not_after(load(site.paths.pki / "ca.crt"))
