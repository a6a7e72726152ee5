"""`madash-build grafana-cert`: the admin's own certificate for Grafana's port, checked as hostile input.

The pairs are made here by a stand-in "public" CA (a root and an intermediate,
as an ACME CA issues them); the real stunnel serving one is in test_door.py.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from madash.check import check
from madash.deb.reader import read_deb
from madash.packages import bake, server
from madash.pki.supplied import covers
from madash.site.config import load_site
from tests.conftest import NOW, Result, assert_one_line_error, snapshot

Madash = Callable[..., Result]
Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
DAY = dt.timedelta(days=1)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key: Key, issuer: str, signer: Key, *, ca: bool, names: tuple[str, ...] = (),
          start: dt.datetime = NOW - DAY, end: dt.datetime = NOW + 90 * DAY,
          usage: x509.ObjectIdentifier | None = ExtendedKeyUsageOID.SERVER_AUTH) -> x509.Certificate:  # fmt: skip
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        entries: list[x509.GeneralName] = []
        for name in names:
            try:
                entries.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                entries.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(entries), critical=False)
    if not ca and usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: Key, passphrase: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, encryption)


@dataclass(frozen=True)
class PublicCA:
    """A root and an intermediate, as a public CA has them."""

    root_key: Key
    root: x509.Certificate
    intermediate_key: Key
    intermediate: x509.Certificate

    @classmethod
    def make(cls) -> PublicCA:
        root_key = ec.generate_private_key(ec.SECP256R1())
        root = _cert("Stand-in Root X1", root_key, "Stand-in Root X1", root_key, ca=True)
        intermediate_key = ec.generate_private_key(ec.SECP256R1())
        intermediate = _cert("Stand-in R3", intermediate_key, "Stand-in Root X1", root_key, ca=True)
        return cls(root_key, root, intermediate_key, intermediate)

    def issue(self, names: tuple[str, ...], **options: object) -> tuple[Key, x509.Certificate]:
        key: Key = options.pop("key", None) or ec.generate_private_key(ec.SECP256R1())  # type: ignore[assignment]
        cert = _cert(names[0], key, "Stand-in R3", self.intermediate_key, ca=False, names=names, **options)  # type: ignore[arg-type]
        return key, cert

    def files(self, where: Path, names: tuple[str, ...], **options: object) -> tuple[Path, Path]:
        key, cert = self.issue(names, **options)
        where.mkdir(parents=True, exist_ok=True)
        (where / "fullchain.pem").write_bytes(_pem(cert) + _pem(self.intermediate))
        (where / "privkey.pem").write_bytes(_key_pem(key))
        return where / "fullchain.pem", where / "privkey.pem"


@pytest.fixture(scope="module")
def public_ca() -> PublicCA:
    return PublicCA.make()


HOST = "monitor.example.org"  # the site_dir fixture's first DNS name: Grafana's public URL


def test_a_matching_pair_is_kept_and_baked_for_grafana_only(
    site_dir: Path, tmp_path: Path, madash: Madash, public_ca: PublicCA
) -> None:
    cert, key = public_ca.files(tmp_path / "le", (HOST, "www.example.org"))
    result = madash("--site", site_dir, "grafana-cert", cert, key)
    assert result.code == 0, result.err
    assert f"CN={HOST}, from CN=Stand-in R3, for {HOST}, www.example.org" in result.out
    kept = site_dir / "pki" / "grafana.pem"
    assert kept.stat().st_mode & 0o777 == 0o600
    site = load_site(site_dir)
    assert [f.what for f in check(site, NOW)] == ["server-not-baked"]

    assert madash("--site", site_dir, "server").code == 0
    contents = read_deb(next((site_dir / "dist").glob("madash-server_*.deb")))
    members = contents.members
    assert members[server.GRAFANA_CERT].data == cert.read_bytes()
    assert members[server.GRAFANA_KEY].mode == 0o600
    assert b"BEGIN PRIVATE KEY" in (members[server.GRAFANA_KEY].data or b"")
    stunnel = (members[server.STUNNEL_CONF].data or b"").decode()
    door, grafana = stunnel.split("[door-1]")[1].split("[grafana-1]")
    assert "cert = /etc/madash-server/tls/server.crt\nkey = /etc/madash-server/tls/server.key" in door
    assert "cert = /etc/madash-server/tls/grafana.crt\nkey = /etc/madash-server/tls/grafana.key" in grafana
    postinst = contents.scripts["postinst"]
    assert "chown stunnel4:stunnel4 /etc/madash-server/tls/grafana.key" in postinst
    assert check(load_site(site_dir), NOW) == []

    # Gone again: the next server package ships none and removes the old conffiles.
    assert madash("--site", site_dir, "grafana-cert", "--remove").code == 0
    assert [f.what for f in check(load_site(site_dir), NOW)] == ["grafana-certificate-not-baked"]
    assert madash("--site", site_dir, "server").code == 0
    [newest] = sorted((site_dir / "dist").glob("madash-server_*.deb"), key=lambda p: p.stat().st_mtime)[-1:]
    again = read_deb(newest)
    assert server.GRAFANA_CERT not in again.members
    assert f"rm_conffile {server.GRAFANA_KEY}" in again.scripts["postinst"]
    assert "tls/grafana" not in (again.members[server.STUNNEL_CONF].data or b"").decode()


def test_a_wildcard_and_an_rsa_key_are_taken(
    site_dir: Path, tmp_path: Path, madash: Madash, public_ca: PublicCA
) -> None:
    cert, key = public_ca.files(tmp_path / "le", ("*.example.org",), key=rsa.generate_private_key(65537, 2048))
    assert madash("--site", site_dir, "grafana-cert", cert, key).code == 0


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("monitor.example.org", "MONITOR.example.org.", True),
        ("*.example.org", "monitor.example.org", True),
        ("*.example.org", "a.monitor.example.org", False),
        ("*.example.org", "example.org", False),
        ("*.org", "example.org", False),
        ("m*.example.org", "monitor.example.org", False),
        ("192.0.2.10", "192.0.2.10", True),
        ("*.0.2.10", "192.0.2.10", False),
        ("2001:db8::1", "2001:DB8:0::1", True),
    ],
)
def test_names_are_matched_as_browsers_match_them(pattern: str, host: str, expected: bool) -> None:
    assert covers(pattern, host) is expected


def _pair(tmp: Path, ca: PublicCA, chain: bytes, key: bytes) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "chain.pem").write_bytes(chain)
    (tmp / "key.pem").write_bytes(key)
    return tmp / "chain.pem", tmp / "key.pem"


def _issued(ca: PublicCA, names: tuple[str, ...] = (HOST,), passphrase: bytes | None = None,
            **options: object) -> tuple[bytes, bytes]:  # fmt: skip
    key, cert = ca.issue(names, **options)
    return _pem(cert) + _pem(ca.intermediate), _key_pem(key, passphrase)


BAD: dict[str, tuple[Callable[[PublicCA], tuple[bytes, bytes]], str]] = {
    "other-name": (lambda ca: _issued(ca, ("other.example.org",)), f"not for {HOST}"),
    "expired": (lambda ca: _issued(ca, start=NOW - 100 * DAY, end=NOW - DAY), "expired on"),
    "not-yet-valid": (lambda ca: _issued(ca, start=NOW + DAY), "is valid only from"),
    "key-mismatch": (lambda ca: (_issued(ca)[0], _issued(ca)[1]), "does not belong to"),
    "client-cert": (lambda ca: _issued(ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH), "lacks serverAuth"),
    "intermediate-first": (
        lambda ca: (_pem(ca.intermediate) + _issued(ca)[0], _key_pem(ca.intermediate_key)),
        "starts with a CA certificate",
    ),
    "broken-chain": (
        lambda ca: (
            _issued(ca)[0].split(b"-----END CERTIFICATE-----")[0]
            + b"-----END CERTIFICATE-----\n"
            + _pem(PublicCA.make().intermediate),
            _issued(ca)[1],
        ),
        "was not issued by the certificate after it",
    ),
    "key-in-chain": (lambda ca: (_issued(ca)[0] + _key_pem(ca.root_key), _issued(ca)[1]), "besides PEM certificates"),
    "not-pem": (lambda ca: (b"hello\n", _issued(ca)[1]), "not a PEM certificate chain"),
    "damaged": (lambda ca: (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", b""), "not a readable"),
    "encrypted-key": (lambda ca: _issued(ca, passphrase=b"secret"), "protected by a passphrase"),
    "weak-rsa": (lambda ca: _issued(ca, key=rsa.generate_private_key(65537, 1024)), "at least 2048"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_pairs_are_refused_and_the_site_is_unchanged(
    site_dir: Path, tmp_path: Path, madash: Madash, public_ca: PublicCA, case: str
) -> None:
    make, needle = BAD[case]
    cert, key = _pair(tmp_path / "in", public_ca, *make(public_ca))
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", cert, key), 2, needle)
    assert snapshot(site_dir) == before


def test_symlinks_other_files_and_wrong_arguments_are_refused(
    site_dir: Path, tmp_path: Path, madash: Madash, public_ca: PublicCA
) -> None:
    cert, key = public_ca.files(tmp_path / "le", (HOST,))
    link = tmp_path / "link.pem"
    link.symlink_to(cert)
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", link, key), 2, "cannot read the certificate")
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", tmp_path, key), 2, "not a regular file")
    (tmp_path / "huge.pem").write_bytes(b"x" * (65 * 1024))
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", cert, tmp_path / "huge.pem"), 2, "larger than")
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", cert), 2, "takes CERT and KEY, or --remove")
    assert_one_line_error(madash("--site", site_dir, "grafana-cert", "--remove", cert), 2, "takes no CERT")
    assert snapshot(site_dir) == before


def test_every_bake_and_check_look_again(site_dir: Path, tmp_path: Path, madash: Madash, public_ca: PublicCA) -> None:
    cert, key = public_ca.files(tmp_path / "le", (HOST,), end=NOW + 20 * DAY)
    imported = madash("--site", site_dir, "grafana-cert", cert, key)
    assert imported.code == 0 and "expires on" in imported.err
    baked = madash("--site", site_dir, "server")
    assert baked.code == 0 and "pki/grafana.pem expires on" in baked.err
    assert [f.what for f in check(load_site(site_dir), NOW)] == ["grafana-certificate-expiring"]

    # The public URL moves to a name the certificate does not cover: the bake stops, check says why.
    config = site_dir / "madash.toml"
    original = config.read_text()
    document = tomlkit.parse(original)
    document["grafana"]["public_url"] = "https://grafana.example.net/"
    config.write_text(tomlkit.dumps(document))
    before = snapshot(site_dir)
    assert_one_line_error(madash("--site", site_dir, "server"), 2, "not for grafana.example.net")
    assert snapshot(site_dir) == before
    [finding] = check(load_site(site_dir), NOW)
    assert finding.what == "grafana-certificate-invalid" and "grafana-cert" in finding.fix

    # Time passes: expired.
    config.write_text(original)
    later = NOW + 30 * DAY
    [finding] = check(load_site(site_dir), later)[:1]
    assert finding.what == "grafana-certificate-invalid" and "expired" in finding.message


def test_a_damaged_site_file_is_one_error(site_dir: Path, madash: Madash) -> None:
    (site_dir / "pki" / "grafana.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    (site_dir / "pki" / "grafana.pem").chmod(0o600)
    assert_one_line_error(madash("--site", site_dir, "server"), 2, "pki/grafana.pem holds no key")
    assert bake.load_builds(load_site(site_dir)) == {}


def test_control_characters_in_the_certificate_s_names_never_reach_the_terminal(
    site_dir: Path, tmp_path: Path, madash: Madash
) -> None:
    """A subject (and an extra subjectAltName) holding a newline and an escape sequence: the pair is valid
    for the host, so it is kept, and what is printed of its names is one line with the controls escaped."""
    evil = f'{HOST}\n\x1b[31mEVIL "${{X}}"'
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(evil, key, evil, key, ca=False, names=(HOST, evil))
    chain, key_file = _pair(tmp_path / "in", PublicCA.make(), _pem(cert), _key_pem(key))
    result = madash("--site", site_dir, "grafana-cert", chain, key_file)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and result.out.count("\n") == 2, result.out
    assert "\\u000a\\u001b[31mEVIL" in result.out
