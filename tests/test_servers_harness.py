"""The network-test harness (tests/servers.py) against the real programs: Debian's influxd and stunnel4.

These tests pin down the behaviour the product's own network tests rely on, so that a harness bug is
not mistaken for a product bug: influxd's first-admin rule, stunnel's client-certificate checks, how a
refusal shows up with TLS 1.3, and what a SIGHUP reload does.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.servers import (
    HttpError,
    Influxd,
    PlainHttpServer,
    ServerError,
    Stunnel,
    TLSRefused,
    free_port,
    https_request,
)

pytestmark = pytest.mark.network

# Real time, not a fixed date: stunnel checks validity against the clock.
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
CLIENT_SERIAL = 1001


def assert_gone(pid: int) -> None:
    # The harness waits for its children, so a stopped server's pid no longer exists at all.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# --- influxd -----------------------------------------------------------------------------------------


def test_influxd_first_admin_auth_and_round_trip(tmp_path: Path) -> None:
    with Influxd(tmp_path / "influx") as influx:
        pid = influx.pid
        assert influx.url == f"http://127.0.0.1:{influx.port}"

        with pytest.raises(HttpError) as refused:
            influx.query("SHOW USERS")
        assert refused.value.status == 403
        assert "create admin user first" in refused.value.body
        # Only an admin may be the first user.
        with pytest.raises(HttpError, match="create admin user first"):
            influx.query("CREATE USER reader WITH PASSWORD 'r'")

        influx.query("CREATE USER admin WITH PASSWORD 's3cret' WITH ALL PRIVILEGES")

        with pytest.raises(HttpError) as anonymous:
            influx.query("SHOW USERS")
        assert anonymous.value.status == 401
        assert "unable to parse authentication credentials" in anonymous.value.body
        with pytest.raises(HttpError, match="authorization failed"):
            influx.query("SHOW USERS", user="admin", password="wrong")
        assert influx.write("cpu v=1", db="metrics", user=None, password=None) == 401

        users = influx.query("SHOW USERS", user="admin", password="s3cret")
        assert users["results"][0]["series"][0]["values"] == [["admin", True]]

        influx.query("CREATE DATABASE metrics", user="admin", password="s3cret")
        assert influx.write("cpu v=1", db="nowhere", user="admin", password="s3cret") == 404
        status = influx.write(
            "cpu,host=a usage=42.5 1700000000000000000\n", db="metrics", user="admin", password="s3cret", rp="autogen"
        )
        assert status == 204
        answer = influx.query("SELECT usage, host FROM cpu", user="admin", password="s3cret", db="metrics")
        assert answer["results"][0]["series"][0]["values"] == [["2023-11-14T22:13:20Z", 42.5, "a"]]
    assert_gone(pid)
    assert (tmp_path / "influx" / "influxdb.conf").is_file()


def test_influxd_without_auth_takes_anonymous_queries(tmp_path: Path) -> None:
    with Influxd(tmp_path, auth=False) as influx:
        influx.query("CREATE DATABASE open")
        assert influx.write("m v=1 1700000000000000000", db="open", user=None, password=None) == 204
        assert influx.query("SELECT v FROM m", db="open")["results"][0]["series"][0]["values"][0][1] == 1


def test_influxd_dying_early_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="influxd exited early") as died, Influxd(tmp_path) as influx:
        influx.process.kill()
        influx.process.wait()
    assert "influxd.log" in str(died.value)


# --- stunnel -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    crl: Path
    ca_key: ec.EllipticCurvePrivateKey
    ca_cert: x509.Certificate

    def write_crl(self, revoked: list[int]) -> None:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_cert.subject)
            .last_update(NOW - dt.timedelta(hours=1))
            .next_update(NOW + dt.timedelta(days=1))
        )
        for serial in revoked:
            entry = (
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW - dt.timedelta(minutes=1))
            )
            builder = builder.add_revoked_certificate(entry.build())
        self.crl.write_bytes(builder.sign(self.ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    path.chmod(0o600)  # stunnel refuses a key file others can read


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """A CA, a server certificate for 127.0.0.1, a client certificate and an empty CRL (ECDSA P-256)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("harness CA"))
        .issuer_name(_name("harness CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, serial: int, usage: x509.ObjectIdentifier, cert: Path, key: Path) -> None:
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(serial)
            .not_valid_before(NOW - dt.timedelta(hours=1))
            .not_valid_after(NOW + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert.write_bytes(builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        _write_key(key, leaf_key)

    directory = tmp_path / "pki"
    directory.mkdir()
    result = Pki(
        dir=directory,
        ca=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
        crl=directory / "crl.pem",
        ca_key=ca_key,
        ca_cert=ca_cert,
    )
    result.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    leaf("127.0.0.1", 2, ExtendedKeyUsageOID.SERVER_AUTH, result.server_cert, result.server_key)
    leaf("client", CLIENT_SERIAL, ExtendedKeyUsageOID.CLIENT_AUTH, result.client_cert, result.client_key)
    result.write_crl([])
    return result


def stunnel_conf(pki: Pki, accept: int, connect: int, *, tls_max: str = "TLSv1.3") -> str:
    # syslog = no: the harness reads stunnel's stderr; the host's syslog has no business with tests.
    return f"""\
foreground = yes
pid =
syslog = no

[grafana]
accept = 127.0.0.1:{accept}
connect = 127.0.0.1:{connect}
cert = {pki.server_cert}
key = {pki.server_key}
CAfile = {pki.ca}
CRLfile = {pki.crl}
verifyChain = yes
requireCert = yes
sslVersionMin = TLSv1.2
sslVersionMax = {tls_max}
"""


@pytest.fixture
def grafana() -> Iterator[PlainHttpServer]:
    with PlainHttpServer() as server:
        yield server


@pytest.mark.parametrize("tls_max", ["TLSv1.3", "TLSv1.2"])
def test_stunnel_client_certificates_crl_and_reload(
    tmp_path: Path, pki: Pki, grafana: PlainHttpServer, tls_max: str
) -> None:
    port = free_port()
    conf = tmp_path / "grafana.conf"
    conf.write_text(stunnel_conf(pki, port, grafana.port, tls_max=tls_max))
    url = f"https://127.0.0.1:{port}/api/health"

    def with_cert() -> tuple[int, bytes]:
        return https_request(url, ca=pki.ca, cert=pki.client_cert, key=pki.client_key)

    with Stunnel(conf, ports=[port]) as stunnel:
        pid = stunnel.pid
        assert with_cert() == (200, b"grafana stand-in")
        assert grafana.requests == [("GET", "/api/health")]

        if tls_max == "TLSv1.3":
            # The handshake alone succeeds without a client certificate: the refusal comes after it,
            # which is why https_request treats errors at write and read time as refusals too.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile=str(pki.ca))
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                assert tls.version() == "TLSv1.3"
        mark = len(stunnel.log)
        with pytest.raises(TLSRefused):
            https_request(url, ca=pki.ca, cert=None, key=None)
        stunnel.wait_for_log("peer did not return a certificate", since=mark)
        assert len(grafana.requests) == 1

        # A reload that fails (the CRL is missing) keeps the old configuration, CRL included.
        crl = pki.crl.read_bytes()
        pki.crl.unlink()
        assert stunnel.reload(check=False) is False
        assert "Failed to reload the configuration file" in stunnel.log
        with pytest.raises(ServerError, match="rejected the new configuration"):
            stunnel.reload()
        assert with_cert()[0] == 200
        pki.crl.write_bytes(crl)

        pki.write_crl([CLIENT_SERIAL])
        # Not yet re-read: stunnel reads the CRL only at start and on SIGHUP.
        assert with_cert()[0] == 200
        assert stunnel.reload() is True
        with pytest.raises(TLSRefused):
            with_cert()
        stunnel.wait_for_log("certificate revoked")
        assert len(grafana.requests) == 3
    assert_gone(pid)


def test_stunnel_bad_config_fails_loudly_with_its_log(tmp_path: Path, pki: Pki) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(stunnel_conf(pki, free_port(), free_port()) + "noSuchOption = 1\n")
    with pytest.raises(ServerError, match="Specified option name is not valid"), Stunnel(conf, ports=[1]):
        pass


def test_stunnel_must_run_in_the_foreground(tmp_path: Path, pki: Pki) -> None:
    conf = tmp_path / "daemon.conf"
    conf.write_text(stunnel_conf(pki, free_port(), free_port()).replace("foreground = yes\n", ""))
    with pytest.raises(ServerError, match="foreground = yes"), Stunnel(conf, ports=[1]):
        pass
    assert not (tmp_path / "daemon.conf.log").exists()


def test_https_request_does_not_mistake_a_closed_port_for_a_refusal(pki: Pki) -> None:
    with pytest.raises(ConnectionRefusedError):
        https_request(f"https://127.0.0.1:{free_port()}/", ca=pki.ca, cert=None, key=None)
