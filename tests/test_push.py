"""`madash-build repo --push DEST` to a local directory: what arrives, what never does, and bad DESTs.

Real rsync and real apt (tests/apt_view.py). The same over ssh, and killed halfway, is in
tests/test_push_ssh.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from madash.apt import publish as repo
from madash.packages.aptsource import SERVER_SUITE
from madash.site.config import load_site
from tests.apt_view import AptRefused, apt_view
from tests.conftest import NOW, Result, assert_one_line_error, bake_host, set_repo
from tests.test_repo import bake_server

Madash = Callable[..., Result]


def now() -> dt.datetime:
    # Real time: apt checks Release's Date against the clock.
    return dt.datetime.now(dt.UTC)


def expected(site_dir: Path) -> dict[str, tuple[str, str]]:
    """package → (version, SHA-256) of what each pushed suite of repo/ offers: what apt must see in a good copy
    (the server's own suite never travels)."""
    seen: dict[str, tuple[str, str]] = {}
    for deb in (site_dir / "repo" / "pool").glob("*/*.deb"):
        if deb.parent.name == SERVER_SUITE:
            continue
        package, version, _ = deb.name.split("_")
        if package not in seen or version > seen[package][0]:  # madash's versions sort as text (DATE.TIME)
            seen[package] = (version, hashlib.sha256(deb.read_bytes()).hexdigest())
    return seen


def suites(site_dir: Path) -> list[str]:
    return sorted(set(repo.published_suites(site_dir / "repo")) - {SERVER_SUITE})


def view(site_dir: Path, dest: Path, work: Path) -> dict[str, tuple[str, str]]:
    return apt_view(dest, site_dir / "repo" / repo.KEYRING_NAME, suites(site_dir), work)


@pytest.fixture
def baked(site_dir: Path) -> Path:
    bake_host(site_dir, "laptop", "smart")
    bake_host(site_dir, "web", "docker")
    bake_server(site_dir)
    return site_dir


def test_the_copy_verifies_with_apt_and_holds_nothing_private(baked: Path, madash: Madash, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    result = madash("--site", baked, "repo", "--push", dest)
    assert result.code == 0, result
    assert f"pushed to {dest}/: 13 files copied, 2 suites switched (host-laptop, host-web)" in result.out
    assert "push: copying packages" in result.err and "push: suites switched: 2;" in result.err
    assert view(baked, dest, tmp_path / "apt") == expected(baked)
    # madash-server (every password of the site, the server key) stays home: no host's source names it.
    assert not any(dest.glob(f"*/{SERVER_SUITE}")) and not list(dest.rglob("madash-server_*"))
    # One an earlier push left (before it was kept home) goes with the next push.
    for part in ("pool", ".suites"):
        shutil.copytree(baked / "repo" / part / SERVER_SUITE, dest / part / SERVER_SUITE, symlinks=True)
    os.symlink(os.readlink(baked / "repo" / "dists" / SERVER_SUITE), dest / "dists" / SERVER_SUITE)
    assert madash("--site", baked, "repo", "--push", dest).code == 0
    assert not any(dest.glob(f"*/{SERVER_SUITE}")) and not list(dest.rglob("madash-server_*"))

    top = sorted(os.listdir(dest))
    assert top == [".suites", "dists", "madash-archive-keyring.gpg", "pool"], "sources/ and the state stay home"
    everything = list(dest.rglob("*"))
    assert not [p for p in everything if p.name.startswith(".") and p.name != ".suites"]
    for path in everything:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            continue
        # Pool files hold private keys: nothing is for others, whatever the modes in repo/.
        assert mode == (0o750 if path.is_dir() else 0o640), (path, oct(mode))

    again = madash("--site", baked, "repo", "--push", dest)
    assert again.code == 0 and "0 files copied, 0 suites switched, 0 old files removed" in again.out, again


def test_a_new_version_and_a_gone_host(baked: Path, madash: Madash, tmp_path: Path) -> None:
    set_repo(baked, keep_versions=0)
    dest = tmp_path / "dest"
    assert madash("--site", baked, "repo", "--push", dest).code == 0
    old = view(baked, dest, tmp_path / "apt-old")

    bake_host(baked, "laptop", "smart", "sensors", now=NOW + dt.timedelta(minutes=1))
    for deb in (baked / "dist").glob("madash-client-web_*"):
        deb.unlink()
    repo.publish(load_site(baked), now())
    result = madash("--site", baked, "repo", "--push", dest)
    assert result.code == 0, result
    assert "2 suites switched (host-laptop, host-web)" in result.out
    new = view(baked, dest, tmp_path / "apt-new")
    assert new == expected(baked) and new["madash-client-laptop"] != old["madash-client-laptop"]
    assert not (dest / "dists" / "host-web").exists() and not (dest / "pool" / "host-web").exists()
    assert not (dest / ".suites" / "host-web").exists()
    assert sorted(os.listdir(dest / "pool" / "host-laptop")) == sorted(os.listdir(baked / "repo/pool/host-laptop"))


def test_a_set_group_id_destination_gives_its_group(baked: Path, madash: Madash, tmp_path: Path) -> None:
    """How the web server on the far side reads the copy: by the group of DEST, never as 'others'."""
    dest = tmp_path / "dest"
    dest.mkdir()
    group = 1  # daemon: any group other than root's
    os.chown(dest, -1, group)
    dest.chmod(0o2770)
    assert madash("--site", baked, "repo", "--push", dest).code == 0
    for path in dest.rglob("*"):
        if not path.is_symlink():
            assert path.lstat().st_gid == group, path
    assert stat.S_IMODE(dest.stat().st_mode) == 0o2770, "DEST itself keeps its mode"
    assert (dest / "pool" / "host-laptop").stat().st_mode & stat.S_ISGID


@pytest.mark.parametrize(
    ("dest", "needle"),
    [
        ("-e", "starts with '-'"),
        ("--rsh=sh", "starts with '-'"),
        ("host:", "directory after the ':'"),
        ("host:-x", "directory after the ':'"),
        ("u@-oProxyCommand=x:/srv", "the host is"),
        ("-oProxyCommand=x@host:/srv", "starts with '-'"),
        ("a b:/srv", "the host is"),
        ("[zz]:/srv", "not an IPv6 address"),
        ("host:/srv/repo\n", "U+000A"),
        ("host:/srv/\x1b[2J", "U+001B"),
        ("rsync://host/module", "rsync daemons"),
        ("host::module", "rsync daemons"),
        ("", "it is empty"),
    ],
)
def test_bad_destinations(baked: Path, madash: Madash, dest: str, needle: str) -> None:
    result = madash("--site", baked, "repo", f"--push={dest}")
    assert_one_line_error(result, 2, needle)
    assert not (baked / "repo").exists(), "a bad DEST publishes nothing"


def test_the_repository_itself_or_around_it(baked: Path, madash: Madash) -> None:
    for dest in (baked / "repo", baked / "repo" / "copy", baked):
        assert_one_line_error(madash("--site", baked, "repo", "--push", dest), 2, "inside it or above it")


def test_a_destination_holding_other_files_is_refused(baked: Path, madash: Madash, tmp_path: Path) -> None:
    """A DEST of /var/lib/madash instead of /var/lib/madash/repo: the push would delete InfluxDB's data."""
    dest = tmp_path / "madash"
    (dest / "influxdb").mkdir(parents=True)
    (dest / "ensure-influxdb.state").write_text("kept")
    result = madash("--site", baked, "repo", "--push", dest)
    assert_one_line_error(result, 2, "not a madash repository's (ensure-influxdb.state, influxdb)")
    assert sorted(os.listdir(dest)) == ["ensure-influxdb.state", "influxdb"]


def test_rsync_missing(baked: Path, madash: Madash, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = madash("--site", baked, "repo", "--push", tmp_path / "dest")
    assert_one_line_error(result, 1, "rsync is not installed", "apt-get install rsync")


def test_debug_logs_every_rsync_command(baked: Path, madash: Madash, tmp_path: Path) -> None:
    result = madash("--site", baked, "repo", "--push", tmp_path / "dest", "--debug")
    assert result.code == 0, result
    ran = [line for line in result.err.splitlines() if line.startswith("madash-build: debug: ran ")]
    assert len(ran) == 4 and all("/rsync " in line for line in ran), result.err
    assert "--list-only" in ran[0] and "--exclude=/dists/" in ran[1] and "--delete-excluded" in ran[3]


def test_apt_view_refuses_a_release_that_does_not_match_its_packages(
    baked: Path, madash: Madash, tmp_path: Path
) -> None:
    """The check the push tests rely on can fail: what a copy in the wrong order would show a host."""
    dest = tmp_path / "dest"
    assert madash("--site", baked, "repo", "--push", dest).code == 0
    indexes = (dest / "dists" / "host-laptop").resolve() / "main" / "binary-amd64"
    other = baked / "repo" / "dists" / "host-web" / "main" / "binary-amd64"
    for index in [*indexes.glob("Packages*"), *indexes.glob("by-hash/*/*")]:
        data = (other / index.name).read_bytes() if index.name.startswith("Packages") else b""
        index.unlink()  # hard links of one another: each gets bytes of its own
        index.write_bytes(data)
    with pytest.raises(AptRefused, match=r"Hash Sum mismatch|Size mismatch|File has unexpected size"):
        view(baked, dest, tmp_path / "apt")
