"""From the site's signed repository to `apt install` and `apt upgrade` on Debian 12, in a chroot.

apt runs with Acquire::Check-Valid-Until and Acquire::Check-Date turned on (these
machines turn them off in apt.conf.d). The stand-in telegraf is published in the
shared suite as madash.toml's [repo] extra_packages, since InfluxData's
repository cannot be reached here.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash.apt import publish as repo
from madash.site.config import load_site
from tests.conftest import bake_host
from tests.servers import free_port, https_request
from tests.standin import build_standin_telegraf
from tests.test_door import bake_server
from tests.test_repo_server import package_nginx, passable, serve_copy

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot

CHECKS = ["-o", "Acquire::Check-Valid-Until=true", "-o", "Acquire::Check-Date=true"]
SERVED = "/srv/madash"


def now() -> dt.datetime:
    # Real time: apt checks Release's Date and Valid-Until against the clock.
    return dt.datetime.now(dt.UTC)


def bake(site_dir: Path, host: str, *features: str) -> None:
    bake_host(site_dir, host, *features, now=now())


def serve(chroot: Chroot, site_dir: Path) -> None:
    """Publish repo/ where the chroot's file:// source points."""
    target = chroot.host_path(SERVED)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(site_dir / "repo", target, symlinks=True)


def trust(chroot: Chroot, site_dir: Path, host: str, keyring_of: Path | None = None) -> None:
    """What the admin does once per host: its source entry and a site's key. Later versions bring their own."""
    chroot.write_text("/etc/apt/sources.list.d/madash.sources", (site_dir / f"repo/sources/{host}.sources").read_text())
    keyring = chroot.host_path("/etc/apt/keyrings/madash.gpg")
    keyring.parent.mkdir(parents=True, exist_ok=True)
    keyring.write_bytes(((keyring_of or site_dir) / "repo" / repo.KEYRING_NAME).read_bytes())


def apt(chroot: Chroot, *args: str, check: bool = True) -> str:
    result = chroot.run(["apt-get", *CHECKS, "-y", *args], check=check)
    return result.stdout + result.stderr


@pytest.fixture
def site_with_repo(site_dir: Path, tmp_path: Path) -> Path:
    config = site_dir / "madash.toml"
    text = config.read_text().replace('url = ""', f'url = "file://{SERVED}"')
    config.write_text(
        text.replace("extra_packages = []", 'extra_packages = ["telegraf"]').replace("valid_days = 0", "valid_days = 7")
    )
    (site_dir / "dist").mkdir()
    shutil.copy(build_standin_telegraf(tmp_path), site_dir / "dist")
    return site_dir


def test_install_and_upgrade_through_apt(chroot: Chroot, site_with_repo: Path) -> None:
    site_dir = site_with_repo
    bake(site_dir, "laptop", "smart")
    bake(site_dir, "desktop")
    repo.publish(load_site(site_dir), now())
    serve(chroot, site_dir)

    trust(chroot, site_dir, "laptop")

    update = apt(chroot, "update")
    assert "W:" not in update and "E:" not in update, update
    assert "madash-client-desktop" not in chroot.run(["apt-cache", "pkgnames"]).stdout, (
        "another host's package is visible"
    )
    apt(chroot, "install", "madash-client-laptop")
    first = chroot.run(["dpkg-query", "-W", "-f", "${Version}", "madash-client-laptop"]).stdout
    assert chroot.stat("/var/lib/madash-client-laptop/tls/client.key").group == "telegraf"
    # The package now owns the source and the key it was installed through.
    owners = chroot.run(["dpkg", "-S", "/etc/apt/sources.list.d/madash.sources", "/etc/apt/keyrings/madash.gpg"]).stdout
    assert owners.count("madash-client-laptop") == 2

    bake(site_dir, "laptop", "smart", "sensors")
    repo.publish(load_site(site_dir), now())
    serve(chroot, site_dir)
    update = apt(chroot, "update")
    assert "W:" not in update and "E:" not in update, update
    apt(chroot, "upgrade")
    second = chroot.run(["dpkg-query", "-W", "-f", "${Version}", "madash-client-laptop"]).stdout
    assert (
        second != first and chroot.run(["dpkg", "--compare-versions", second, "gt", first], check=False).returncode == 0
    )
    assert "[[inputs.sensors]]" in chroot.read_text("/usr/share/madash-client-laptop/telegraf.conf")


def test_a_foreign_signature_and_a_tampered_index_are_refused(
    chroot: Chroot, site_with_repo: Path, tmp_path: Path
) -> None:
    site_dir = site_with_repo
    bake(site_dir, "laptop")
    repo.publish(load_site(site_dir), now())
    serve(chroot, site_dir)

    # Signed by another site's key: refused.
    other = tmp_path / "other-site"
    shutil.copytree(site_dir, other, ignore=shutil.ignore_patterns("repo", "repo-key"))
    repo.publish(load_site(other), now())
    trust(chroot, site_dir, "laptop", keyring_of=other)
    refused = apt(chroot, "update", check=False)
    assert "NO_PUBKEY" in refused or "not signed" in refused or "invalid" in refused, refused
    assert "madash-client-laptop" not in chroot.run(["apt-cache", "pkgnames"]).stdout

    # The right key, but a Packages file changed after signing: refused.
    trust(chroot, site_dir, "laptop")
    served = chroot.host_path(SERVED)
    for index in served.glob("dists/host-laptop/main/binary-*/Packages*"):
        index.unlink()
    packages = (served / "dists" / "host-laptop").resolve() / "main" / "binary-amd64"
    for leftover in packages.glob("by-hash/*/*"):
        leftover.write_bytes(b"Package: evil\nVersion: 9\n")
    (packages / "Packages").write_text("Package: evil\nVersion: 9\nFilename: pool/evil.deb\n")
    tampered = apt(chroot, "update", check=False)
    assert "Hash Sum mismatch" in tampered or "File has unexpected size" in tampered, tampered
    assert "evil" not in chroot.run(["apt-cache", "pkgnames"]).stdout


def test_https_repository_with_the_host_certificate(chroot: Chroot, site_dir: Path, tmp_path: Path) -> None:
    port = free_port()
    config = site_dir / "madash.toml"
    config.write_text(
        config.read_text()
        .replace('url = ""', f'url = "https://127.0.0.1:{port}"')
        .replace("extra_packages = []", 'extra_packages = ["telegraf"]')
    )
    (site_dir / "dist").mkdir()
    telegraf = build_standin_telegraf(tmp_path)
    shutil.copy(telegraf, site_dir / "dist")
    bake(site_dir, "laptop", "smart")
    bake(site_dir, "desktop")
    repo.publish(load_site(site_dir), now())

    pki = site_dir / "pki"
    site = load_site(site_dir)
    # madash-server's own nginx and configuration (tests/test_repo_server.py), its repository a copy of repo/.
    with passable() as work, package_nginx(site, bake_server(site), work, port):
        # The first version arrives by hand (it brings the certificate apt needs); later ones through apt.
        chroot.run(["dpkg", "-i", chroot.copy_in(telegraf)])
        first = next((site_dir / "dist").glob("madash-client-laptop_*.deb"))
        chroot.run(["dpkg", "-i", chroot.copy_in(first)])
        apt_key = chroot.stat("/var/lib/madash-client-laptop/tls/apt-client.key")
        assert (oct(apt_key.mode), apt_key.owner) == ("0o400", "_apt")
        update = apt(chroot, "update")
        assert "W:" not in update and "E:" not in update, update

        bake(site_dir, "laptop", "smart", "sensors")
        repo.publish(load_site(site_dir), now())
        serve_copy(site_dir / "repo", work / "repo")
        update = apt(chroot, "update")
        assert "W:" not in update and "E:" not in update, update
        upgrade = apt(chroot, "upgrade")
        assert "[[inputs.sensors]]" in chroot.read_text("/usr/share/madash-client-laptop/telegraf.conf"), (
            update + upgrade
        )

        # The laptop's certificate opens the laptop's suite and the shared one, and no other host's.
        def fetch(path: str) -> int:
            status, _ = https_request(
                f"https://127.0.0.1:{port}{path}", ca=pki / "ca.crt",
                cert=pki / "clients" / "laptop.crt", key=pki / "clients" / "laptop.key",
            )  # fmt: skip
            return status

        assert fetch("/dists/host-laptop/InRelease") == 200
        assert fetch("/dists/shared/InRelease") == 200
        assert fetch("/dists/host-desktop/InRelease") == 403
