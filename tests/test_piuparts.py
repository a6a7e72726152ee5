"""piuparts, the real tool, on a client package and on the server package (issue 13).

piuparts installs a package, purges it and reports every file left behind, changed or removed, then
installs the previous version from the archive, upgrades to the new one and purges again. Here:

- The base is the chroot tests' own Debian 12 tarball (scripts/make-chroot), unpacked by tests/chroot.py
  and given to piuparts as ``--existing-chroot`` (its ``--basetgz`` takes only gzip: ``tar -zxf``).
  No network: piuparts keeps the base's sources (``--keep-sources-list``), which name only the
  repository below.
- The archive is the site's own signed repository (``madash-build repo``), read over file: and checked
  against the site's keyring: no ``--do-not-verify-signatures``. What Debian lacks is in its shared
  suite, as ``[repo] extra_packages``: the telegraf stand-in and the docker.io and docker-compose ones
  (tests/standin), which madash-server Depends on.
- Telegraf is installed in the base, so piuparts judges madash's package and not the stand-in: like
  InfluxData's package, the stand-in leaves /var/log/telegraf on purge (piuparts fails it for that).
  The docker group exists, as docker.io makes it, so the client's docker membership is really added.
- "Previous version": the repository is published before the second bake, so the archive holds the
  first one. The client's second bake adds the internet feature; the server's turns the probe off
  (its configuration must go with it, issue 13).

Each run takes about 10 s (measured: client 10.4 s, server 8.7 s; 40 s and 32 s while other suites loaded both cores).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash.apt import publish
from madash.bootstrap import init_site
from tests.conftest import NOW, bake_host, run_cli, set_repo
from tests.standin import build_standin_telegraf, build_tree
from tests.standin.docker import build_standin_docker

if TYPE_CHECKING:
    from tests.chroot import Chroot

# (tests.chroot is imported by this plugin line first, so that pytest rewrites its asserts.)
pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot

HOST = "laptop"
REPO = "/srv/repo"
SOURCES = f"""\
Types: deb
URIs: file://{REPO}
Suites: host-{HOST} shared server
Components: main
Signed-By: {REPO}/{publish.KEYRING_NAME}
"""
PIUPARTS_TIMEOUT = 300


@dataclass(frozen=True)
class Archive:
    """The published repository (first bakes) and the second bakes piuparts upgrades to."""

    repo: Path
    client: Path
    client_before: str
    server: Path
    server_before: str


def cli(site_dir: Path, *args: str) -> None:
    result = run_cli("--site", site_dir, *args)
    assert result.returncode == 0, f"madash-build {' '.join(args)}: {result.stderr}"


def version_of(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "--field", str(deb), "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()  # fmt: skip


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    site_dir = tmp_path_factory.mktemp("piuparts") / "site"
    init_site(site_dir, ["127.0.0.1"], "piuparts site", force=False, ca_passphrase=None, now=NOW)
    set_repo(site_dir, extra_packages=["telegraf", "docker.io", "docker-compose"])
    (site_dir / "dist").mkdir()
    standins = tmp_path_factory.mktemp("standins")
    for deb in (build_standin_telegraf(standins), *build_standin_docker(standins)):
        shutil.copy(deb, site_dir / "dist")
    client_before = bake_host(site_dir, HOST, "docker", "smart").path
    cli(site_dir, "server")
    cli(site_dir, "repo")
    server_before = next((site_dir / "dist").glob("madash-server_*.deb"))
    client = bake_host(site_dir, HOST, "docker", "smart", "internet", now=NOW + dt.timedelta(hours=1)).path
    config = site_dir / "madash.toml"
    assert config.read_text().count("\nenabled = true\n") == 1  # [internet]'s: the server's probe goes
    config.write_text(config.read_text().replace("\nenabled = true\n", "\nenabled = false\n"))
    cli(site_dir, "server")
    server = max((site_dir / "dist").glob("madash-server_*.deb"), key=lambda p: p.stat().st_mtime_ns)
    assert server != server_before
    return Archive(site_dir / "repo", client, version_of(client_before), server, version_of(server_before))


@pytest.fixture(scope="module")
def base(chroot_tarball: Path, archive: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chroot]:
    """The chroot piuparts copies for each of its runs: telegraf installed, the site's repository in its sources."""
    from tests.chroot import Chroot

    with Chroot(chroot_tarball) as chroot:
        telegraf = next((archive.repo / "pool" / "shared").rglob("telegraf_*.deb"))
        chroot.run(["dpkg", "-i", chroot.copy_in(telegraf)])
        chroot.run(["rm", "-f", f"/srv/{telegraf.name}"])
        chroot.run(["groupadd", "--system", "docker"])  # as docker.io would
        shutil.copytree(archive.repo, chroot.host_path(REPO), symlinks=True)
        chroot.run(["chmod", "-R", "a+rX", REPO])
        chroot.write_text("/etc/apt/sources.list.d/madash-piuparts.sources", SOURCES)
        yield chroot


def piuparts(base: Chroot, deb: Path, log: Path, *options: str) -> str:
    """Run piuparts on ``deb`` over a copy of ``base``; its log."""
    from tests.chroot import default_parent

    # Hard links instead of a copy of the 240 MB tree need piuparts' scratch on the base's file system.
    scratch = tempfile.mkdtemp(prefix=f"madash-piuparts-{os.getpid()}-", dir=default_parent())
    try:
        result = subprocess.run(
            ["piuparts", f"--existing-chroot={base.root}", "--hard-link", f"--tmpdir={scratch}",
             "--keep-sources-list", "--distribution=bookworm", f"--log-file={log}", *options, str(deb)],
            capture_output=True, text=True, timeout=PIUPARTS_TIMEOUT, check=False,
        )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = log.read_text(errors="replace") if log.exists() else result.stdout + result.stderr
    if result.returncode != 0:
        failures = "\n".join(line for line in text.splitlines() if "FAIL" in line or "ERROR" in line)
        pytest.fail(f"piuparts {deb.name} exited {result.returncode}:\n{failures}\n--- tail ---\n{text[-4000:]}")
    return text


def assert_upgraded(log: str, package: str, before: str, after: str) -> None:
    assert "INFO: PASS: Installation and purging test." in log
    assert "INFO: PASS: Installation, upgrade and purging tests." in log
    assert f"Unpacking {package} ({after}) over ({before})" in log


def test_client_package_installs_upgrades_and_purges_clean(base: Chroot, archive: Archive, tmp_path: Path) -> None:
    log = piuparts(base, archive.client, tmp_path / "piuparts.log")
    assert_upgraded(log, f"madash-client-{HOST}", archive.client_before, version_of(archive.client))


def test_server_package_installs_upgrades_and_purges_clean(base: Chroot, archive: Archive, tmp_path: Path) -> None:
    log = piuparts(base, archive.server, tmp_path / "piuparts.log")
    assert_upgraded(log, "madash-server", archive.server_before, version_of(archive.server))
    # The stand-ins came from the signed shared suite, as the server's Depends ask.
    assert "Unpacking docker.io (" in log and "Unpacking docker-compose (" in log


def test_piuparts_here_fails_a_package_that_leaves_a_file(base: Chroot, tmp_path: Path) -> None:
    """The set-up above (keep-sources-list, existing chroot) still lets piuparts see a leftover."""
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: madash-leftover\nVersion: 1\nArchitecture: all\nMaintainer: madash tests <madash@localhost>\n"
        "Description: leaves a file behind on purge\n"
    )
    postinst = tree / "DEBIAN" / "postinst"
    postinst.write_text("#!/bin/sh\nset -e\nmkdir -p /var/lib/madash-leftover\ntouch /var/lib/madash-leftover/x\n")
    postinst.chmod(0o755)
    deb = tmp_path / "madash-leftover_1_all.deb"
    build_tree(tree, deb)
    with pytest.raises(pytest.fail.Exception, match="/var/lib/madash-leftover/"):
        piuparts(base, deb, tmp_path / "piuparts.log", "--no-upgrade-test")
