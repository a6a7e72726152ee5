"""apt's cached copy of a client package is gone once the package is configured, in a chroot with real apt.

apt keeps every package it downloads in /var/cache/apt/archives/, mode 0644, and a
client package holds its host's private key and the writer password. A file://
source would not reproduce this (apt's file method uses the file where it lies and
copies nothing into the cache), so the site's repository is served over plain
http from the test, as a web server in front of repo/ would serve it: apt's http
method downloads into the cache as _apt, exactly as on a host.
"""

from __future__ import annotations

import datetime as dt
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from madash.apt import publish as repo
from madash.apt.identity import identity as apt_identity
from madash.packages import fleet
from madash.site.config import load_site
from tests.servers import free_port
from tests.standin import build_standin_telegraf

if TYPE_CHECKING:
    from tests.chroot import Chroot

pytest_plugins = ["tests.chroot"]
pytestmark = pytest.mark.chroot

CHECKS = ["-o", "Acquire::Check-Valid-Until=true", "-o", "Acquire::Check-Date=true"]
ARCHIVES = "/var/cache/apt/archives"
REMOVED = "madash-client-laptop: removed the cached package from /var/cache/apt/archives"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture
def http_repo(site_dir: Path, tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The site, with [repo] url naming an http server that serves its repo/."""
    port = free_port()
    config = site_dir / "madash.toml"
    config.write_text(
        config.read_text()
        .replace('url = ""', f'url = "http://127.0.0.1:{port}"')
        .replace("extra_packages = []", 'extra_packages = ["telegraf"]')
    )
    (site_dir / "dist").mkdir()
    shutil.copy(build_standin_telegraf(tmp_path), site_dir / "dist")
    (site_dir / "repo").mkdir(mode=0o700)
    handler = functools.partial(_Quiet, directory=str(site_dir / "repo"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site_dir, port
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def publish(site_dir: Path, *features: str) -> None:
    site = load_site(site_dir)
    now = dt.datetime.now(dt.UTC)  # apt checks Release's Date against the clock
    fleet.bake_host(
        site, "laptop", apt=apt_identity(site), features=list(features), interval=None, tags=None,
        passphrase=lambda: None, now=now,
    )  # fmt: skip
    repo.publish(load_site(site_dir), now)


def apt(chroot: Chroot, *args: str) -> str:
    result = chroot.run(["apt-get", *CHECKS, "-y", *args])
    return result.stdout + result.stderr


def cached(chroot: Chroot) -> list[str]:
    return sorted(p.name for p in chroot.host_path(ARCHIVES).glob("*.deb"))


def test_the_cached_client_package_is_removed(chroot: Chroot, http_repo: tuple[Path, int]) -> None:
    site_dir, _ = http_repo
    publish(site_dir, "smart")
    chroot.write_text("/etc/apt/sources.list.d/madash.sources", (site_dir / "repo/sources/laptop.sources").read_text())
    keyring = chroot.host_path("/etc/apt/keyrings/madash.gpg")
    keyring.parent.mkdir(parents=True, exist_ok=True)
    keyring.write_bytes((site_dir / "repo" / repo.KEYRING_NAME).read_bytes())

    update = apt(chroot, "update")
    assert "W:" not in update and "E:" not in update, update
    # Download only first: the cache really gets the package, 0644, as apt leaves it.
    apt(chroot, "install", "--download-only", "madash-client-laptop")
    downloaded = [name for name in cached(chroot) if name.startswith("madash-client-laptop_")]
    assert len(downloaded) == 1, cached(chroot)
    assert chroot.stat(f"{ARCHIVES}/{downloaded[0]}").mode & 0o004, "apt's cached copy is no longer world-readable?"

    install = apt(chroot, "install", "madash-client-laptop")
    assert REMOVED in install, install
    assert not [name for name in cached(chroot) if name.startswith("madash-client-")], cached(chroot)
    # Its own name only: telegraf's cached package is apt's business.
    assert any(name.startswith("telegraf_") for name in cached(chroot)), cached(chroot)

    # An upgrade downloads the new version into the cache: gone again, and said so.
    publish(site_dir, "smart", "sensors")
    apt(chroot, "update")
    upgrade = apt(chroot, "upgrade")
    assert REMOVED in upgrade, upgrade
    assert not [name for name in cached(chroot) if name.startswith("madash-client-")], cached(chroot)

    # Nothing cached: configure says nothing about the cache.
    reconfigure = chroot.run(["dpkg-reconfigure", "madash-client-laptop"])
    assert "cached package" not in reconfigure.stdout + reconfigure.stderr
