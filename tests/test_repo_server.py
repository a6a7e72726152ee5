"""madash-server's repository server: Debian's nginx with the package's own configuration, on 127.0.0.1.

The configuration is taken out of a built madash-server package with its paths rewritten into a
temporary directory (the TLS files, the key systemd would hand over with LoadCredential=, the runtime
directory, the repository) and its port to a free one; nginx runs as madash-repo.service runs it: not
root, with the unit's credentials applied by setpriv (tests/test_stunnel_unit.py), and `nobody` in the
place of the madash-repo user, which the package's postinst creates. The repository is a real one, made by
`madash-build repo` from real packages, and owned as postinst leaves /var/lib/madash/repo: root's,
readable by the unit's group. The certificates come out of real client packages.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest

from madash.apt import publish as repo
from madash.bootstrap import init_site
from madash.deb.reader import DebContents
from madash.formats import nginx, stunnel, systemd
from madash.packages import reposerver, server
from madash.pki import crypto as pki
from madash.pki import store as certstore
from madash.site.config import Site, load_site
from tests.conftest import NOW, bake_host
from tests.servers import ServerError, TLSRefused, _Process, free_port, https_request, wait_for_port
from tests.test_door import Client, bake_server, client_from_package, member
from tests.test_stunnel_unit import free_low_ports, setpriv

pytestmark = pytest.mark.network
TLS = "/etc/madash-server/tls"
NGINX = "/usr/sbin/nginx"
UNIT = f"{server.UNIT_DIR}/{reposerver.UNIT}"
RUN_AS = "nobody"  # in the place of madash-repo, with its own group (nogroup)


class Nginx(_Process):
    """Debian's nginx 1.22 in the foreground (the configuration says `daemon off`), its errors to a log file."""

    name = "nginx"

    def __init__(self, conf: Path, prefix: Path, port: int, wrapper: list[str]) -> None:
        super().__init__(conf.parent / "nginx.log")
        self.conf, self.prefix, self.port, self.wrapper = conf, prefix, port, wrapper

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        process = self._spawn([*self.wrapper, NGINX, "-c", str(self.conf), "-p", f"{self.prefix}/", "-e", "stderr"])
        try:
            wait_for_port(self.port, 10, process=process)
        except ServerError:
            early = self._stop()
            raise self._failure(
                f"exited early with status {early}" if early is not None else "did not listen"
            ) from None
        return self

    def reload(self) -> None:
        """SIGHUP, as `systemctl reload` does: the master re-reads the configuration and starts new workers."""
        before = len(self.log)
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "start worker process" not in self.log[before:].partition("reconfiguring")[2]:
            self.check_alive()
            if time.monotonic() > deadline:
                raise self._failure("did not start new workers after SIGHUP")
            time.sleep(0.02)


@dataclass(frozen=True)
class Repository:
    site: Site
    work: Path
    nginx: Nginx
    laptop: Client
    desk: Client

    def get(self, path: str, client: Client | None = None, *, cert: Path | None = None) -> int:
        """The status of a GET; 0 when nginx refused the TLS session itself."""
        who = client.cert if client is not None else cert
        key = client.key if client is not None else (cert.with_suffix(".key") if cert is not None else None)
        try:
            status, _ = https_request(
                f"https://127.0.0.1:{self.nginx.port}{path}", ca=self.work / "tls" / "ca.crt", cert=who, key=key
            )
        except TLSRefused:
            return 0
        return status


def rewrite(text: str, work: Path, repository: Path, ports: dict[int, int]) -> str:
    text = text.replace(reposerver.KEY, str(work / "credentials" / "server.key"))
    text = text.replace(TLS, str(work / "tls")).replace(reposerver.RUN_DIR, str(work / "run"))
    text = text.replace(f'"{server.DATA_DIR}/repo"', f'"{repository}"')
    for packaged, local in ports.items():
        text = text.replace(f':{packaged}"', f':{local}"')
    return text


def install_tls(contents: DebContents, work: Path) -> None:
    """What dpkg unpacks under /etc/madash-server/tls, and the key as LoadCredential= hands it to the user."""
    (work / "tls").mkdir(mode=0o755, exist_ok=True)
    for name in ("server.crt", "ca.crt", "crl.pem"):
        (work / "tls" / name).write_bytes(member(contents, f"{TLS}/{name}"))
        (work / "tls" / name).chmod(0o644)
    (work / "credentials").mkdir(mode=0o700, exist_ok=True)
    key = work / "credentials" / "server.key"
    key.write_bytes(member(contents, f"{TLS}/server.key"))
    key.chmod(0o400)
    for path in (work / "credentials", key):
        shutil.chown(path, RUN_AS)


def serve_copy(source: Path, target: Path) -> None:
    """The published repository as the server holds it: root's, its group the unit's, no one else's."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True)
    for path in [target, *target.rglob("*")]:
        if not path.is_symlink():
            os.chown(path, 0, 65534)
            path.chmod(0o2750 if path.is_dir() else 0o640)


def make_run_dir(work: Path) -> None:
    """RuntimeDirectory=, RuntimeDirectoryMode=0700: the unit's user's own."""
    (work / "run").mkdir(mode=0o700)
    shutil.chown(work / "run", RUN_AS)


def unit_credentials(contents: DebContents) -> list[str]:
    """setpriv with the unit's user, group and capabilities, `nobody` standing in for madash-repo."""
    unit = member(contents, UNIT).decode().replace("User=madash-repo\n", f"User={RUN_AS}\n")
    return setpriv(unit.replace("Group=madash-repo\n", "Group=nogroup\n"))


@contextlib.contextmanager
def passable() -> Iterator[Path]:
    """A directory `nobody` may pass through (pytest's own are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="madash-repo-server-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def work() -> Iterator[Path]:
    with passable() as path:
        yield path


@contextlib.contextmanager
def package_nginx(site: Site, contents: DebContents, work: Path, port: int) -> Iterator[Nginx]:
    """The server package's nginx, its repository a copy of the site's repo/ in ``work`` (serve_copy() renews it)."""
    serve_copy(site.paths.repo, work / "repo")
    install_tls(contents, work)
    make_run_dir(work)
    conf = work / "repo-nginx.conf"
    text = member(contents, server.REPO_CONF).decode()
    conf.write_text(rewrite(text, work, work / "repo", {site.config.server.repo_port: port}))
    with Nginx(conf, work / "run", port, unit_credentials(contents)) as process:
        yield process


@pytest.fixture
def served(work: Path) -> Iterator[Repository]:
    root = work / "site"
    init_site(root, ["127.0.0.1"], "repo server test", force=False, ca_passphrase=None, now=NOW)
    for host in ("laptop", "desk"):
        bake_host(root, host, "smart")
    site = load_site(root)
    contents = bake_server(site)
    laptop = client_from_package(site, "laptop", work / "laptop")
    desk = client_from_package(site, "desk", work / "desk")
    repo.publish(load_site(root), NOW)
    assert {"server", "host-laptop", "host-desk"} <= repo.published_suites(root / "repo")
    with package_nginx(site, contents, work, free_port()) as process:
        yield Repository(site, work, process, laptop, desk)


def test_each_host_gets_its_own_suite_and_the_shared_one_only(served: Repository) -> None:
    status = "Uid:\t65534\t"
    assert status in Path(f"/proc/{served.nginx.pid}/status").read_text(), "nginx runs as the unit's user"
    laptop, desk = served.laptop, served.desk
    release = "/dists/host-laptop/InRelease"
    assert served.get(release, laptop) == 200
    pool = next((served.work / "repo" / "pool" / "host-laptop").rglob("*.deb")).relative_to(served.work / "repo")
    assert served.get(f"/{pool}", laptop) == 200
    assert served.get(f"/{pool}", desk) == 403
    assert served.get("/dists/host-desk/InRelease", laptop) == 403
    assert served.get("/dists/host-desk/InRelease", desk) == 200
    # The URI as nginx normalises it: no escape through dot segments, %-escapes or doubled slashes.
    for sneaky in ("/dists/host-laptop/../host-desk/InRelease", "/dists/host-%64esk/InRelease",
                   "/dists/shared/../host-desk/InRelease", "//dists//host-desk/InRelease",
                   "/pool/host-laptop/%2e%2e/host-desk/"):  # fmt: skip
        assert served.get(sneaky, laptop) in (400, 403), sneaky
    # What the shared suite holds does not matter here: the location is open to every host, nothing else is.
    assert served.get("/dists/shared/InRelease", laptop) == served.get("/dists/shared/InRelease", desk) == 404


def test_the_server_suite_state_and_dot_files_are_refused_to_every_certificate(served: Repository) -> None:
    repository = served.work / "repo"
    present = ["/dists/server/InRelease", "/sources/laptop.sources", "/madash-archive-keyring.gpg",
               "/pool/server/"]  # fmt: skip
    present += [f"/{p.relative_to(repository)}" for p in repository.rglob(".*")]
    assert any(".suites" in path for path in present)
    for path in [*present, "/", "/dists/", "/pool/", "/.madash-cache.json", "/dists/host-laptop/.hidden"]:
        for client in (served.laptop, served.desk):
            assert served.get(path, client) in (403, 404), path
    # Files that exist, so the refusals above are the configuration's, not a missing file's.
    assert (repository / "dists" / "server" / "InRelease").exists() and (repository / "sources").is_dir()


def test_no_foreign_expired_or_revoked_certificate_gets_in(served: Repository) -> None:
    work = served.work
    assert served.get("/dists/host-laptop/InRelease") == 400  # no certificate: nginx answers 400, serves nothing
    other = work / "other-site"
    init_site(other, ["127.0.0.1"], "other", force=False, ca_passphrase=None, now=NOW)
    stranger = client_from_package(load_site(other), "laptop", work / "stranger")
    assert served.get("/dists/host-laptop/InRelease", stranger) in (0, 400)
    authority = certstore.load_authority(served.site.paths, lambda: None)
    old = pki.issue_client(authority.key, authority.cert, "ec:p256", "laptop", 1, NOW - dt.timedelta(days=3))
    (work / "old.crt").write_bytes(old.cert_pem)
    (work / "old.key").write_bytes(old.key_pem)
    assert served.get("/dists/host-laptop/InRelease", cert=work / "old.crt") in (0, 400)
    # Revoked with madash-build, the new server package's CRL in place, nginx reloaded: refused.
    assert served.get("/dists/host-desk/InRelease", served.desk) == 200
    certstore.revoke_host(load_site(served.site.paths.root), "desk", lambda: None, dt.datetime.now(dt.UTC))
    install_tls(bake_server(load_site(served.site.paths.root)), work)
    served.nginx.reload()
    deadline = time.monotonic() + 10  # the old workers finish their connections, new ones take the next
    while served.get("/dists/host-desk/InRelease", served.desk) != 400:
        assert time.monotonic() < deadline, "the revoked certificate still gets in after the reload"
        time.sleep(0.1)
    assert served.get("/dists/host-laptop/InRelease", served.laptop) == 200


def test_an_expired_crl_locks_every_host_out_but_nginx_runs(served: Repository) -> None:
    """What an expired CRL does to nginx 1.22: it starts and reloads, and refuses every client (400)."""
    authority = certstore.load_authority(served.site.paths, lambda: None)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    crl = pki.make_crl(authority.key, authority.cert, [], 99, 1, past)
    (served.work / "tls" / "crl.pem").write_bytes(crl)
    served.nginx.reload()
    deadline = time.monotonic() + 10
    while served.get("/dists/host-laptop/InRelease", served.laptop) != 400:
        assert time.monotonic() < deadline, "a client got in with an expired CRL"
        time.sleep(0.1)
    served.nginx.check_alive()
    # And a fresh start with it: nginx starts all the same (so the unit does not fail), refusing everyone.
    served.nginx.__exit__(None, None, None)
    with served.nginx:
        assert served.get("/dists/host-laptop/InRelease", served.laptop) == 400


def test_nginx_t_accepts_the_configuration_with_ipv6_listeners(work: Path) -> None:
    """`nginx -t`, as the unit's user, on the packaged file for a server listening on IPv4 and IPv6."""
    root = work / "site"
    init_site(root, ["127.0.0.1", "::1"], "nginx -t", force=False, ca_passphrase=None, now=NOW)
    contents = bake_server(load_site(root))
    install_tls(contents, work)
    (work / "repo").mkdir()
    conf = work / "repo-nginx.conf"
    conf.write_text(rewrite(member(contents, server.REPO_CONF).decode(), work, work / "repo", {}))
    assert 'listen "[::1]:8443" ssl;' in conf.read_text()
    make_run_dir(work)
    argv = [*unit_credentials(contents), NGINX, "-t", "-c", str(conf), "-e", "stderr"]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr


def test_the_ciphers_are_the_doors() -> None:
    text = (Path(__file__).parent.parent / "conf" / "stunnel.conf.j2").read_text()
    door = [line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("ciphers =")]
    assert door == [reposerver.CIPHERS] * 2
    assert stunnel.parse(f"ciphers = {reposerver.CIPHERS}\n").globals == (("ciphers", reposerver.CIPHERS),)
    assert nginx.parse(f"ssl_ciphers {nginx.value(reposerver.CIPHERS)};")[0].args == (reposerver.CIPHERS,)


def test_nginx_reads_every_quoted_value_as_the_filter_meant(work: Path) -> None:
    """Real nginx as the oracle of the filter: each value comes back as the body of a `return 200`."""
    values = ['a"b', "a\\b", "\\t\\n", "'x'", "{}; # }", "ünï", 'x\\";', "\\", "  padded  ", ""]
    port = free_port()
    locations = "".join(f"location = /{n} {{ return 200 {nginx.value(v)}; }}\n" for n, v in enumerate(values))
    conf = work / "oracle.conf"
    make_run_dir(work)
    run = work / "run"
    temp = "".join(f"{name}_temp_path {run}/{name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf.write_text(
        f"daemon off;\npid {run}/nginx.pid;\nevents {{}}\nhttp {{\n{temp}access_log off;\n"
        f"server {{\nlisten 127.0.0.1:{port};\n{locations}}}\n}}\n"
    )
    with Nginx(conf, run, port, []):
        for number, value in enumerate(values):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/{number}", timeout=10) as answer:
                assert answer.read().decode() == value


def test_a_port_below_1024_is_bound_with_the_units_one_capability(work: Path) -> None:
    (port,) = free_low_ports(1)
    root = work / "site"
    init_site(root, ["127.0.0.1"], "low port", force=False, ca_passphrase=None, now=NOW)
    config = root / "madash.toml"
    config.write_text(config.read_text().replace("repo_port = 8443", f"repo_port = {port}"))
    site = load_site(root)
    contents = bake_server(site)
    service = dict(systemd.parse(member(contents, UNIT).decode())["Service"])
    assert service["AmbientCapabilities"] == service["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert "PrivateUsers" not in service, "a capability from a user namespace of its own binds nothing"
    repo.publish(site, NOW)
    with package_nginx(site, contents, work, port) as process:
        assert "CapEff:\t0000000000000400" in Path(f"/proc/{process.pid}/status").read_text()
    # Without the capability the same nginx, user and port fail: it is the capability that binds it.
    unit = member(contents, UNIT).decode().replace("AmbientCapabilities=CAP_NET_BIND_SERVICE\n", "")
    conf = work / "repo-nginx.conf"
    argv = [*setpriv(unit.replace("madash-repo\n", f"{RUN_AS}\n").replace(f"Group={RUN_AS}", "Group=nogroup")), NGINX]
    failed = subprocess.run([*argv, "-c", str(conf), "-e", "stderr"], capture_output=True, text=True, check=False)
    assert failed.returncode != 0 and "Permission denied" in failed.stderr, failed.stderr
