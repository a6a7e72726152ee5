"""The TLS door end to end, on 127.0.0.1, with the real programs the server package configures.

Debian's influxd (authentication on, set up by the package's own ensure-influxdb)
behind Debian's stunnel4 running the package's stunnel.conf, with paths and
ports rewritten to a temporary directory. The client side uses the key,
certificate and writer password taken out of a built madash-client package,
and writes Telegraf-style line protocol over HTTPS, as Telegraf's influxdb
output does. Grafana's place is taken by a plain HTTP listener.
"""

from __future__ import annotations

import base64
import datetime as dt
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from madash import cli
from madash.apt.identity import identity as apt_identity
from madash.bootstrap import init_site
from madash.deb.reader import DebContents, read_deb
from madash.packages import bake, fleet, server
from madash.packages.hostpaths import host_paths
from madash.pki import crypto as pki
from madash.pki import store as certstore
from madash.site.config import Site, load_site
from tests.conftest import NOW
from tests.servers import Influxd, PlainHttpServer, Stunnel, TLSRefused, free_port, https_request
from tests.test_grafana_cert import PublicCA

pytestmark = pytest.mark.network
TLS = "/etc/madash-server/tls"


@dataclass(frozen=True)
class Door:
    site: Site
    work: Path
    influx: Influxd
    stunnel: Stunnel
    grafana: PlainHttpServer
    door_port: int
    grafana_port: int
    env: dict[str, str]
    ports: dict[int, int]  # the package's ports to the test's own

    def install_server_package(self) -> None:
        """What dpkg does with a new server package's TLS files, then what its postinst does: reload."""
        contents = bake_server(self.site)
        for name in ("server.crt", "server.key", "ca.crt", "crl.pem", "grafana.crt", "grafana.key"):
            found = contents.members.get(f"{TLS}/{name}")
            if found is not None:
                (self.work / "tls" / name).write_bytes(found.data or b"")
                (self.work / "tls" / name).chmod(found.mode)
        conf = member(contents, "/etc/madash-server/stunnel.conf").decode()
        (self.work / "stunnel.conf").write_text(rewrite_stunnel_conf(conf, self.work, self.ports))
        self.stunnel.reload()


@dataclass(frozen=True)
class Client:
    cert: Path
    key: Path
    ca: Path
    writer: tuple[str, str]


def bake_server(site: Site) -> DebContents:
    return read_deb(bake.bake_package(site, server.server_spec(server.gather(site, NOW)), NOW).path)


def member(contents: DebContents, path: str) -> bytes:
    return contents.members[path].data or b""


def client_from_package(site: Site, host: str, where: Path) -> Client:
    """A host's TLS material and writer credentials, as its installed package provides them."""
    result = fleet.bake_host(
        site,
        host,
        apt=apt_identity(site),
        features=["smart"],
        interval=None,
        tags=None,
        passphrase=lambda: None,
        now=NOW,
    )
    contents = read_deb(result.path)
    where.mkdir(parents=True)
    installed = host_paths(host)
    paths = {}
    for name, path in (("client.crt", installed.cert), ("client.key", installed.key), ("ca.crt", installed.ca)):
        paths[name] = where / name
        paths[name].write_bytes(member(contents, path))
    paths["client.key"].chmod(0o600)
    password = member(contents, installed.password).decode()
    config = member(contents, installed.config).decode()
    user = next(line.split('"')[1] for line in config.splitlines() if line.strip().startswith("username ="))
    return Client(paths["client.crt"], paths["client.key"], paths["ca.crt"], (user, password))


def rewrite_stunnel_conf(text: str, work: Path, ports: dict[int, int]) -> str:
    text = text.replace(TLS, str(work / "tls"))
    for packaged, local in ports.items():
        text = text.replace(f":{packaged}\n", f":{local}\n")
    return text


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    root = tmp_path / "site"
    init_site(root, ["127.0.0.1"], "door test", force=False, ca_passphrase=None, now=NOW)
    site = load_site(root)
    contents = bake_server(site)
    work = tmp_path / "server"
    (work / "tls").mkdir(parents=True)
    for name in ("server.crt", "server.key", "ca.crt", "crl.pem"):
        (work / "tls" / name).write_bytes(member(contents, f"{TLS}/{name}"))
    (work / "tls" / "server.key").chmod(0o600)
    env_text = member(contents, "/etc/madash-server/madash.env").decode()
    env = dict(line.split("=", 1) for line in env_text.splitlines() if "=" in line and not line.startswith("#"))
    (work / "madash.env").write_text(env_text)
    helper = work / "ensure-influxdb"
    helper.write_bytes(member(contents, "/usr/libexec/madash-server/ensure-influxdb"))
    helper.chmod(0o755)
    with Influxd(tmp_path / "influxd", auth=True) as influx, PlainHttpServer() as grafana:
        ensure = subprocess.run(
            [str(helper), "--env-file", str(work / "madash.env"), "--url", influx.url, "--state", str(work / "state")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert ensure.returncode == 0, ensure.stderr
        door_port, grafana_port = free_port(), free_port()
        config = site.config.server
        conf = work / "stunnel.conf"
        ports = {
            config.door_port: door_port,
            config.grafana_port: grafana_port,
            config.influxdb_local_port: influx.port,
            config.grafana_local_port: grafana.port,
        }
        conf.write_text(rewrite_stunnel_conf(member(contents, "/etc/madash-server/stunnel.conf").decode(), work, ports))
        with Stunnel(conf, ports=[door_port, grafana_port]) as stunnel:
            yield Door(site, work, influx, stunnel, grafana, door_port, grafana_port, env, ports)


def write(door: Door, client: Client | None, lines: str, auth: tuple[str, str], *, cert: Path | None = None,
          key: Path | None = None) -> int:  # fmt: skip
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    status, _ = https_request(
        f"https://127.0.0.1:{door.door_port}/write?db={door.env['INFLUXDB_DB']}&precision=ns",
        ca=door.work / "tls" / "ca.crt",
        cert=cert if cert is not None else (client.cert if client else None),
        key=key if key is not None else (client.key if client else None),
        method="POST",
        body=lines.encode(),
        headers={"Authorization": f"Basic {token}", "Content-Type": "text/plain; charset=utf-8"},
    )
    return status


def telegraf_batch(host: str, count: int, start_ns: int) -> str:
    """Line protocol shaped like Telegraf's cpu and mem inputs."""
    lines = []
    for i in range(count):
        stamp = start_ns + i * 10_000_000_000
        lines.append(f"cpu,cpu=cpu-total,host={host} usage_idle={90 + i % 10}.5,usage_user=3.25 {stamp}")
        lines.append(f"mem,host={host} used_percent={40 + i % 7}.0,total=8589934592i {stamp}")
    return "\n".join(lines) + "\n"


def read_back(door: Door, host: str) -> int:
    reader = (door.env["INFLUXDB_READ_USER"], door.env["INFLUXDB_READ_USER_PASSWORD"])
    answer = door.influx.query(
        f"SELECT count(usage_idle) FROM cpu WHERE host = '{host}'", user=reader[0], password=reader[1], db="telegraf"
    )
    series = answer["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def test_every_point_through_the_door_and_every_refusal(door: Door, tmp_path: Path) -> None:
    laptop = client_from_package(door.site, "laptop", tmp_path / "laptop")
    start = (int(time.time()) - 3600) * 1_000_000_000
    assert write(door, laptop, telegraf_batch("laptop", 250, start), laptop.writer) == 204
    assert read_back(door, "laptop") == 250

    reader = (door.env["INFLUXDB_READ_USER"], door.env["INFLUXDB_READ_USER_PASSWORD"])
    assert write(door, laptop, telegraf_batch("laptop", 1, start), (laptop.writer[0], "wrong-password")) == 401
    assert write(door, laptop, telegraf_batch("laptop", 1, start), reader) == 403

    with pytest.raises(TLSRefused):
        write(door, None, telegraf_batch("nocert", 1, start), laptop.writer)

    other_root = tmp_path / "other-site"
    init_site(other_root, ["127.0.0.1"], "other", force=False, ca_passphrase=None, now=NOW)
    stranger = client_from_package(load_site(other_root), "laptop", tmp_path / "stranger")
    with pytest.raises(TLSRefused):
        write(door, stranger, telegraf_batch("stranger", 1, start), laptop.writer)

    # Signed by the site CA, but expired a day ago.
    authority = certstore.load_authority(door.site.paths, lambda: None)
    old = pki.issue_client(authority.key, authority.cert, "ec:p256", "old", 1, NOW - dt.timedelta(days=3))
    (tmp_path / "old.crt").write_bytes(old.cert_pem)
    (tmp_path / "old.key").write_bytes(old.key_pem)
    with pytest.raises(TLSRefused):
        write(
            door,
            None,
            telegraf_batch("old", 1, start),
            laptop.writer,
            cert=tmp_path / "old.crt",
            key=tmp_path / "old.key",
        )

    # Revoked with madash-build, a new server package installed, stunnel reloaded: refused.
    desktop = client_from_package(door.site, "desktop", tmp_path / "desktop")
    assert write(door, desktop, telegraf_batch("desktop", 3, start), desktop.writer) == 204
    certstore.revoke_host(load_site(door.site.paths.root), "desktop", lambda: None, dt.datetime.now(dt.UTC))
    door.install_server_package()
    with pytest.raises(TLSRefused):
        write(door, desktop, telegraf_batch("desktop", 1, start + 1), desktop.writer)
    assert read_back(door, "desktop") == 3
    # ...while everyone else still gets in.
    assert write(door, laptop, telegraf_batch("laptop", 1, start + 5), laptop.writer) == 204
    assert read_back(door, "laptop") == 251
    assert not door.grafana.requests, "nothing reached Grafana's port"


def test_grafana_answers_tls_with_the_server_certificate(door: Door) -> None:
    ca = door.work / "tls" / "ca.crt"
    status, body = https_request(f"https://127.0.0.1:{door.grafana_port}/api/health", ca=ca, cert=None, key=None)
    assert status == 200 and b"grafana stand-in" in body
    context = ssl.create_default_context(cafile=str(ca))
    with (
        socket.create_connection(("127.0.0.1", door.grafana_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        presented = tls.getpeercert(binary_form=True)
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    server_pem = (door.site.paths.pki / "server.crt").read_bytes()
    assert presented == ssl.PEM_cert_to_DER_cert(server_pem.decode())


def test_grafana_presents_the_admins_certificate_and_the_door_keeps_the_sites(door: Door, tmp_path: Path) -> None:
    """The real stunnel with a pair from a stand-in public CA (issue 18): browsers that trust that CA's root
    see no warning on Grafana's port, while hosts still reach the door with the site's own certificate."""
    public = PublicCA.make()
    cert, key = public.files(tmp_path / "le", ("127.0.0.1",))
    pki_root = tmp_path / "public-root.pem"
    pki_root.write_bytes(pki.cert_pem(public.root))
    assert cli.main(["--site", str(door.site.paths.root), "grafana-cert", str(cert), str(key)]) == 0
    door.install_server_package()
    context = ssl.create_default_context(cafile=str(pki_root))
    with (
        socket.create_connection(("127.0.0.1", door.grafana_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        leaf = cert.read_text().split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
        assert tls.getpeercert(binary_form=True) == ssl.PEM_cert_to_DER_cert(leaf)
    status, body = https_request(f"https://127.0.0.1:{door.grafana_port}/api/health", ca=pki_root, cert=None, key=None)
    assert status == 200 and b"grafana stand-in" in body
    # The site CA does not vouch for Grafana's port any more; the door is unchanged.
    with pytest.raises(ssl.SSLCertVerificationError):
        https_request(f"https://127.0.0.1:{door.grafana_port}/", ca=door.work / "tls" / "ca.crt", cert=None, key=None)
    laptop = client_from_package(door.site, "laptop", tmp_path / "laptop")
    assert write(door, laptop, telegraf_batch("laptop", 1, time.time_ns()), laptop.writer) == 204


# --- The door's TLS (issue 11): TLS 1.2 only with ECDHE and an AEAD cipher, TLS 1.3 with stunnel's defaults. ---

ALLOWED_TLS12 = {
    "ec": ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"],
    "rsa": ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"],
}
# What OpenSSL 3.0 and stunnel 5.68 offer over TLS 1.2 without a `ciphers` line, among others: CBC with SHA-1 or
# SHA-2 MACs, CCM and CCM8 (64-bit tags), static RSA key exchange (no forward secrecy), finite-field DHE.
REFUSED_TLS12 = [
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
    "ECDHE-ECDSA-AES128-CCM8", "ECDHE-ECDSA-AES256-CCM8", "ECDHE-ECDSA-AES128-CCM", "AES128-CCM8",
    "AES128-SHA", "AES128-GCM-SHA256", "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-CHACHA20-POLY1305",
]  # fmt: skip
# stunnel's default `ciphersuites` (its manual): TLS 1.3 without CCM.
TLS13_DEFAULTS = ["TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_AES_128_GCM_SHA256"]
TLS13_REFUSED = ["TLS_AES_128_CCM_8_SHA256", "TLS_AES_128_CCM_SHA256"]


@dataclass(frozen=True)
class Handshake:
    protocol: str | None
    cipher: str | None
    output: str

    @property
    def refused_by_server(self) -> bool:
        # The server's handshake_failure alert (40): the client did offer the suites, the server chose none.
        return self.protocol is None and "alert handshake failure" in self.output


def handshake(port: int, ca: Path, client: Client, *options: str) -> Handshake:
    """One handshake by openssl s_client, verifying the server against the site CA, with a client certificate."""
    result = subprocess.run(
        ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}", "-CAfile", str(ca),
         "-verify_return_error", "-verify_ip", "127.0.0.1", "-cert", str(client.cert), "-key", str(client.key),
         *options],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    established = "CONNECTION ESTABLISHED" in output
    protocol = next(
        (line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("Protocol version: ")), None
    )
    cipher = next((line.split(": ", 1)[1] for line in output.splitlines() if line.startswith("Ciphersuite: ")), None)
    return Handshake(protocol if established else None, cipher if established else None, output)


@pytest.mark.parametrize("key_type", ["ec:p256", "rsa:3072"])
def test_tls_offers_only_ecdhe_with_aead_on_both_ports(door: Door, tmp_path: Path, key_type: str) -> None:
    if key_type != door.site.config.pki.key_type:
        # The site may use RSA server keys: the same template must serve the RSA suites too.
        authority = certstore.load_authority(door.site.paths, lambda: None)
        issued = pki.issue_server(authority.key, authority.cert, key_type, door.site.config.server.addresses, 30, NOW)
        (door.work / "tls" / "server.crt").write_bytes(issued.cert_pem)
        (door.work / "tls" / "server.key").write_bytes(issued.key_pem)
        door.stunnel.reload()
    kind = key_type.partition(":")[0]
    laptop = client_from_package(door.site, "laptop", tmp_path / "laptop")
    ca = door.work / "tls" / "ca.crt"
    every_allowed = [suite for suites in ALLOWED_TLS12.values() for suite in suites]
    for port in (door.door_port, door.grafana_port):
        for suite in ALLOWED_TLS12[kind]:
            accepted = handshake(port, ca, laptop, "-tls1_2", "-cipher", suite)
            assert (accepted.protocol, accepted.cipher) == ("TLSv1.2", suite), accepted.output
        for suite in REFUSED_TLS12:
            refused = handshake(port, ca, laptop, "-tls1_2", "-cipher", f"{suite}:@SECLEVEL=0")
            assert refused.refused_by_server, (suite, refused.output)
        # Every other TLS 1.2 suite this OpenSSL knows, offered at once: the server picks none of them.
        others = ":".join(["ALL", "COMPLEMENTOFALL", *(f"!{suite}" for suite in every_allowed), "@SECLEVEL=0"])
        assert handshake(port, ca, laptop, "-tls1_2", "-cipher", others).refused_by_server

        tls13 = handshake(port, ca, laptop, "-tls1_3")
        assert tls13.protocol == "TLSv1.3" and tls13.cipher in TLS13_DEFAULTS, tls13.output
        for suite in TLS13_REFUSED:
            refused = handshake(port, ca, laptop, "-tls1_3", "-ciphersuites", suite)
            assert refused.refused_by_server, (suite, refused.output)
    assert "no shared cipher" in door.stunnel.log
    # The door still does its job with the allowed suites: a write gets through.
    assert write(door, laptop, telegraf_batch("laptop", 1, time.time_ns()), laptop.writer) == 204
